/**
 * Fair intake (issue 14, item 3): which queued call starts when. The turns are driven
 * by hand (the schedule is injected): these are orders, not speeds.
 */
import { FairIntake } from "../../src/transport/fair-intake";

function harness(sliceCalls: number): {
  intake: FairIntake<object>;
  started: string[];
  turn: () => void;
  pending: () => number;
  push: (key: object, name: string) => void;
} {
  const turns: (() => void)[] = [];
  const started: string[] = [];
  const intake = new FairIntake<object>({ sliceCalls, schedule: (fn) => turns.push(fn) });
  return {
    intake,
    started,
    turn: () => turns.shift()?.(),
    pending: () => turns.length,
    push: (key, name) => intake.push(key, () => started.push(name)),
  };
}

describe("FairIntake", () => {
  test("nothing starts before its turn; a turn starts at most a slice", () => {
    const h = harness(2);
    const a = {};
    for (let i = 0; i < 5; i++) h.push(a, `a${i}`);
    expect(h.started).toEqual([]);
    expect(h.intake.size).toBe(5);
    h.turn();
    expect(h.started).toEqual(["a0", "a1"]);
    h.turn();
    h.turn();
    expect(h.started).toEqual(["a0", "a1", "a2", "a3", "a4"]);
    expect(h.intake.size).toBe(0);
    // Drained: no turn is left scheduled.
    expect(h.pending()).toBe(0);
  });

  test("one turn scheduled however many calls are queued", () => {
    const h = harness(100);
    for (let i = 0; i < 50; i++) h.push({}, `c${i}`);
    expect(h.pending()).toBe(1);
  });

  test("a connection's only open call starts before the queues of busy connections", () => {
    const h = harness(1000);
    const floods = [{}, {}, {}];
    for (const [i, f] of floods.entries()) for (let j = 0; j < 8; j++) h.push(f, `f${i}.${j}`);
    const light = {};
    h.push(light, "light");
    h.turn();
    // Each flood's first call was its connection's only open one too; then the light call, then the queues.
    expect(h.started.slice(0, 4)).toEqual(["f0.0", "f1.0", "f2.0", "light"]);
    // Each flood's own calls stay in their order.
    for (let i = 0; i < 3; i++) {
      const own = h.started.filter((s) => s.startsWith(`f${i}.`));
      expect(own).toEqual([...Array(8).keys()].map((j) => `f${i}.${j}`));
    }
  });

  test("a busy connection's queued calls start together (its replies leave in one write), connections round robin", () => {
    const h = harness(4);
    const [a, b] = [{}, {}];
    for (let i = 0; i < 3; i++) {
      h.push(a, `a${i}`);
      h.push(b, `b${i}`);
    }
    h.turn(); // express a0 b0, then a's queue (a1 a2)
    expect(h.started).toEqual(["a0", "b0", "a1", "a2"]);
    h.turn();
    expect(h.started.slice(4)).toEqual(["b1", "b2"]);
  });

  test("a connection new to the ring is served after those already waiting", () => {
    const h = harness(3);
    const [a, b, c] = [{}, {}, {}];
    for (let i = 0; i < 4; i++) {
      h.push(a, `a${i}`);
      h.push(b, `b${i}`);
    }
    h.push(c, "c0");
    h.push(c, "c1");
    h.turn(); // express a0 b0 c0, then a quarter slice of a's queue: a1
    h.turn(); // b1 b2 b3 (a was served last turn)
    h.turn(); // c1, then a2 a3
    expect(h.started).toEqual(["a0", "b0", "c0", "a1", "b1", "b2", "b3", "c1", "a2", "a3"]);
  });

  test("a connection whose calls are over is light again: its next call is express", () => {
    const h = harness(4);
    const [busy, light] = [{}, {}];
    for (let i = 0; i < 6; i++) h.push(busy, `busy${i}`);
    h.push(light, "light0");
    h.turn();
    expect(h.started).toEqual(["busy0", "light0", "busy1", "busy2"]);
    // light0 still open: light1 waits in light's queue, behind busy's.
    h.push(light, "light1");
    h.turn();
    expect(h.started.slice(4)).toEqual(["busy3", "busy4", "busy5", "light1"]);
    // Both of light's calls over, none of busy's: light2 goes first again, busy6 after it.
    h.intake.finish(light);
    h.intake.finish(light);
    h.push(busy, "busy6");
    h.push(light, "light2");
    h.turn();
    expect(h.started.slice(8)).toEqual(["light2", "busy6"]);
  });

  test("finish with nothing open is ignored: the count never goes below zero", () => {
    const h = harness(10);
    const a = {};
    h.intake.finish(a);
    h.push(a, "a0");
    h.push(a, "a1");
    h.intake.finish(a);
    h.intake.finish(a);
    h.intake.finish(a);
    h.push(a, "a2");
    h.turn();
    expect(h.started).toEqual(["a0", "a2", "a1"]);
  });

  test("busy connections get a quarter of every slice however many light connections wait", () => {
    const h = harness(8);
    const busy = {};
    for (let i = 0; i < 6; i++) h.push(busy, `busy${i}`);
    // 100 light connections, one call each: express, and more than a slice of them.
    for (let i = 0; i < 100; i++) h.push({}, `light${i}`);
    h.turn();
    // busy0 was express too; then 7 light calls, then 2 (a quarter of 8) of busy's queue.
    expect(h.started).toEqual(["busy0", ...[0, 1, 2, 3, 4, 5, 6].map((i) => `light${i}`), "busy1", "busy2"]);
    h.turn();
    expect(h.started.slice(10)).toEqual([...[7, 8, 9, 10, 11, 12, 13, 14].map((i) => `light${i}`), "busy3", "busy4"]);
  });

  test("a call that throws does not stall the others", () => {
    const h = harness(1);
    h.intake.push({}, () => {
      throw new Error("boom");
    });
    h.push({}, "after");
    expect(() => h.turn()).toThrow("boom");
    h.turn();
    expect(h.started).toEqual(["after"]);
  });

  test("sliceCalls must be a positive integer", () => {
    expect(() => new FairIntake({ sliceCalls: 0 })).toThrow(/sliceCalls/);
    expect(() => new FairIntake({ sliceCalls: 1.5 })).toThrow(/sliceCalls/);
  });

  test("with the default schedule, a turn runs after I/O (setImmediate), not in the caller's turn", async () => {
    const intake = new FairIntake<object>({ sliceCalls: 8 });
    const started: number[] = [];
    intake.push({}, () => started.push(1));
    await Promise.resolve();
    expect(started).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([1]);
  });

  test("a connection that may not go first (held: known busy) waits behind the light ones even with one call open", () => {
    const turns: (() => void)[] = [];
    const started: string[] = [];
    const held = new Set<object>();
    const intake = new FairIntake<object>({
      sliceCalls: 100,
      schedule: (fn) => turns.push(fn),
      mayExpress: (k) => !held.has(k),
    });
    const busy = [{}, {}, {}];
    for (const b of busy) held.add(b);
    for (const [i, b] of busy.entries()) intake.push(b, () => started.push(`busy${i}`));
    intake.push({}, () => started.push("light"));
    turns.shift()!();
    expect(started).toEqual(["light", "busy0", "busy1", "busy2"]);
    // Counted busy for the stream limit too.
    expect(intake.takeBusy()).toEqual(new Set(busy));
    expect(intake.takeBusy().size).toBe(0);
  });

  describe("standing delay (CoDel's signal)", () => {
    function clocked(sliceCalls: number): {
      intake: FairIntake<object>;
      turn: () => void;
      at: (ms: number) => void;
      push: (key: object) => void;
    } {
      let now = 0;
      const turns: (() => void)[] = [];
      const intake = new FairIntake<object>({ sliceCalls, schedule: (fn) => turns.push(fn), now: () => now });
      return {
        intake,
        turn: () => turns.shift()?.(),
        at: (ms) => (now = ms),
        push: (key) => intake.push(key, () => {}),
      };
    }

    test("nothing queued and no turn: 0", () => {
      expect(clocked(4).intake.takeStandingDelay()).toBe(0);
    });

    test("the least, over the turns, of how long each turn's oldest call had waited", () => {
      const h = clocked(2);
      const a = {};
      h.at(0);
      for (let i = 0; i < 6; i++) h.push(a);
      h.at(10);
      h.turn(); // the oldest waited 10
      h.at(13);
      h.turn(); // 13
      h.at(30);
      h.turn(); // 30
      expect(h.intake.takeStandingDelay()).toBe(10);
      // Taken: the next interval starts afresh.
      expect(h.intake.takeStandingDelay()).toBe(0);
    });

    test("a light client's express call does not hide a busy connection's queue", () => {
      const h = clocked(4);
      const busy = {};
      h.at(0);
      for (let i = 0; i < 9; i++) h.push(busy);
      for (let t = 1; t <= 3; t++) {
        h.at(t * 10 - 1);
        h.push({}); // an express call, 1 ms old when its turn comes
        h.at(t * 10);
        h.turn();
      }
      // Every turn started a busy call that had waited since 0: 10, 20, 30.
      expect(h.intake.takeStandingDelay()).toBe(10);
    });

    test("when no turn ran, the oldest queued call's wait", () => {
      const h = clocked(4);
      h.at(5);
      h.push({});
      h.at(25);
      expect(h.intake.takeStandingDelay()).toBe(20);
    });
  });
});
