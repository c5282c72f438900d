/** The GetTaskById hedge as a state machine, with timers of our own (no waiting). */
import { Hedge, type Timers } from "../../src/fanout/hedge";
import { decodeTaskView } from "../../src/wire/task-view";
import { task, taskReply } from "../helpers/memory-transport";

function manualTimers(): Timers & { fire(): void; pending: number } {
  const fns = new Map<number, () => void>();
  let id = 0;
  return {
    set(fn) {
      fns.set(++id, fn);
      return id;
    },
    clear(h) {
      fns.delete(h as number);
    },
    fire() {
      for (const [k, fn] of [...fns]) {
        fns.delete(k);
        fn();
      }
    },
    get pending() {
      return fns.size;
    },
  };
}

const view = (status: string) => decodeTaskView(taskReply(task("t", { status })));

describe("Hedge", () => {
  test("off (delay 0): copies never settle it", () => {
    const h = new Hedge(0, manualTimers());
    h.onCopy(view("Finished"));
    expect(h.done).toBe(false);
  });

  test("a terminal copy settles it at once, cancelling the calls still running, none cut", () => {
    const h = new Hedge(100, manualTimers());
    const signal = h.track("b");
    h.onCopy(view("Finished"));
    expect(h.done).toBe(true);
    expect(signal.aborted).toBe(true);
    expect(h.cut).toEqual([]);
  });

  test("a non-terminal copy arms the timer; when it fires, stragglers are cut and named", async () => {
    const t = manualTimers();
    const h = new Hedge(100, t);
    h.track("a");
    h.untrack("a");
    const b = h.track("b");
    h.onCopy(view("Processing"));
    expect(t.pending).toBe(1);
    h.onCopy(view("Processing")); // one timer per call
    expect(t.pending).toBe(1);
    t.fire();
    await h.settled;
    expect(h.cut).toEqual(["b"]);
    expect(b.aborted).toBe(true);
  });

  test("rearm restarts the delay for a new phase; finish stops the timer", () => {
    const t = manualTimers();
    const h = new Hedge(100, t);
    h.rearm();
    expect(t.pending).toBe(0); // no copy yet: nothing to hedge
    h.onCopy(view("Ready"));
    h.rearm();
    expect(t.pending).toBe(1);
    h.finish();
    expect(t.pending).toBe(0);
    expect(h.done).toBe(true);
  });
});
