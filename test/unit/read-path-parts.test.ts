/** Small parts of the read path with logic of their own: answer rules, deadlines, single flight, entry codecs. */
import { status } from "@grpc/grpc-js";
import { checkListAnswer, requireGetAnswer } from "../../src/api/answer-rules";
import {
  decodeHolders,
  decodeListEntry,
  decodeTaskEntry,
  encodeHolders,
  encodeListEntry,
  encodeTaskEntry,
} from "../../src/cache/entry-codec";
import { SingleFlight } from "../../src/cache/flight";
import { GatewayError } from "../../src/core/errors";
import { FanoutReport } from "../../src/core/report";
import { replyMargin, upstreamDeadline } from "../../src/upstream/deadline";
import { decodeTaskView } from "../../src/wire/task-view";
import { task, taskReply } from "../helpers/memory-transport";

const q = { pubKey: Buffer.alloc(64, 1), status: "", timeStart: 0n, timeEnd: 9n, limit: 0n };
const report = (asked: string[], answered: string[], failed: string[] = []): FanoutReport => {
  const r = new FanoutReport();
  r.asked.push(...asked);
  r.answered.push(...answered);
  r.failed.push(...failed.map((address) => ({ address, reason: "down" })));
  return r;
};
const codeOf = (fn: () => unknown): status | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as GatewayError).code;
  }
};

describe("answer rules", () => {
  test.each([
    ["nobody to ask", report([], []), "miss", false, status.UNAVAILABLE],
    ["nobody answered", report(["a"], [], ["a"]), "miss", false, status.UNAVAILABLE],
    ["a stale answer when nobody answered is an answer", report(["a"], [], ["a"]), "stale", false, undefined],
    ["partial is an answer", report(["a", "b"], ["a"], ["b"]), "miss", false, undefined],
    ["partial under strict is UNAVAILABLE", report(["a", "b"], ["a"], ["b"]), "miss", true, status.UNAVAILABLE],
    ["a hit rests on its fetch", report([], []), "hit", false, undefined],
  ] as const)("ListTask: %s", (_n, r, cache, strict, want) => {
    expect(codeOf(() => checkListAnswer(q, { tasks: [], report: r, cache }, strict, 1000))).toBe(want);
  });

  test("GetTaskById: the task, else NOT_FOUND when someone answered, else UNAVAILABLE", () => {
    const t = decodeTaskView(taskReply(task("t")));
    expect(requireGetAnswer("t", { task: t, report: report(["a"], ["a"]), cache: "miss" }, false)).toBe(t);
    expect(codeOf(() => requireGetAnswer("t", { report: report(["a"], ["a"]), cache: "miss" }, false))).toBe(
      status.NOT_FOUND,
    );
    expect(codeOf(() => requireGetAnswer("t", { report: report(["a"], [], ["a"]), cache: "miss" }, false))).toBe(
      status.UNAVAILABLE,
    );
  });
});

describe("upstreamDeadline", () => {
  test("the call timeout, or what the client's deadline leaves minus a reply margin", () => {
    const now = 1_000_000;
    expect(upstreamDeadline(now + 60_000, 3000, now).getTime()).toBe(now + 3000);
    expect(upstreamDeadline(now + 1000, 3000, now).getTime()).toBe(now + 1000 - replyMargin(1000));
    expect(replyMargin(10_000)).toBe(500);
    expect(replyMargin(-5)).toBe(0);
  });
});

describe("SingleFlight", () => {
  test("concurrent callers share one run; the key is free again after", async () => {
    const f = new SingleFlight<number>();
    let runs = 0;
    const work = async () => ++runs;
    const a = f.run("k", work);
    const b = f.run("k", work);
    expect([a.leader, b.leader]).toEqual([true, false]);
    expect(await Promise.all([a.promise, b.promise])).toEqual([1, 1]);
    expect(f.size).toBe(0);
    expect(await f.run("k", work).promise).toBe(2);
  });
});

describe("entry codecs", () => {
  test("list and task entries and holders round-trip", () => {
    const t = decodeTaskView(taskReply(task("t1")));
    const list = { fetchedAtMs: 5, fetchEnd: 1n << 62n, fetchLimit: 100n, cut: true, tasks: [t], answered: ["a:1"] };
    const back = decodeListEntry(encodeListEntry(list));
    expect({ ...back, tasks: back.tasks.map((x) => x.id) }).toEqual({ ...list, tasks: ["t1"] });
    const te = decodeTaskEntry(encodeTaskEntry({ fetchedAtMs: 7, setId: "s", task: t, answered: ["a:1", "b:1"] }));
    expect([te.fetchedAtMs, te.setId, te.task.raw.equals(t.raw), te.answered]).toEqual([7, "s", true, ["a:1", "b:1"]]);
    expect(decodeHolders(encodeHolders(["a:1", "[::1]:2"]))).toEqual(["a:1", "[::1]:2"]);
  });
});
