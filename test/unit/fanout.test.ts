/**
 * The fan-out's gather half, table-style over in-memory ExecutorClients (the model:
 * Thanos pkg/store/proxy_test.go): who is asked, in which rounds, what the report
 * says, and what reaches the answer. No sockets; the reduce itself is property-tested
 * in merge.property.test.ts.
 */
import { status } from "@grpc/grpc-js";
import { ListTaskRequest, type FLTask } from "../../src/gen/task/task";
import type { ListQuery } from "../../src/merge/filter";
import { HEDGE_REASON } from "../../src/fanout/hedge";
import {
  executorError,
  KEY,
  listReply,
  memoryCluster,
  task,
  taskReply,
  type Answer,
} from "../helpers/memory-transport";

const A = "10.0.0.1:8184";
const B = "10.0.0.2:8184";
const C = "10.0.0.3:8184";
const ctx = () => ({ deadline: Date.now() + 5000, requestId: "t" });
const keyed = (over: Partial<ListQuery> = {}): ListQuery => ({
  pubKey: KEY(1),
  status: "",
  timeStart: 0n,
  timeEnd: 1n << 62n,
  limit: 0n,
  ...over,
});

interface ListCase {
  name: string;
  members: { address: string; pubKey?: Buffer }[];
  replies: Record<string, Answer | FLTask[]>;
  q?: ListQuery;
  ids: string[];
  asked: string[];
  answered: string[];
  failed?: [string, RegExp][];
  dropped?: number;
  conflicts?: number;
}

const t1 = task("t1", { publishTime: 30n });
const t2 = task("t2", { publishTime: 20n });
const t3 = task("t3", { publishTime: 10n });

const LIST_CASES: ListCase[] = [
  {
    name: "every Executor answers: the union, newest first",
    members: [{ address: A }, { address: B }],
    replies: { [A]: [t1, t3], [B]: [t2] },
    ids: ["t1", "t2", "t3"],
    asked: [A, B],
    answered: [A, B],
  },
  {
    name: "an unreachable Executor: a partial answer naming it",
    members: [{ address: A }, { address: B }],
    replies: { [A]: [t1], [B]: { code: status.UNAVAILABLE, details: "connection refused" } },
    ids: ["t1"],
    asked: [A, B],
    answered: [A],
    failed: [[B, /connection refused/]],
  },
  {
    name: "a malformed reply counts as a failure of that Executor",
    members: [{ address: A }, { address: B }],
    replies: { [A]: [t1], [B]: Buffer.from([0x0a, 0xff, 0xff]) },
    ids: ["t1"],
    asked: [A, B],
    answered: [A],
    failed: [[B, /malformed reply/]],
  },
  {
    name: "an Executor's error answer (UNKNOWN + 10001) is a failure with its message",
    members: [{ address: A }, { address: B }],
    replies: { [A]: [t2], [B]: executorError("XDAT0001", "ledger unavailable") },
    ids: ["t2"],
    asked: [A, B],
    answered: [A],
    failed: [[B, /ledger unavailable/]],
  },
  {
    name: "implausible tasks are screened out and counted",
    members: [{ address: A }],
    replies: { [A]: [t1, { ...t2, requester: Buffer.alloc(3) }] },
    ids: ["t1"],
    asked: [A],
    answered: [A],
    dropped: 1,
  },
  {
    name: "a capped reply longer than its cap keeps its newest tasks",
    members: [{ address: A }],
    q: keyed({ limit: 2n }),
    replies: { [A]: [t3, t2, t1] },
    ids: ["t1", "t2"],
    asked: [A],
    answered: [A],
    dropped: 0,
  },
  {
    name: "two copies that disagree: one conflict, the most advanced wins",
    members: [{ address: A }, { address: B }],
    replies: { [A]: [{ ...t1, status: "Processing" }], [B]: [{ ...t1, status: "Finished", endTime: 5n }] },
    ids: ["t1"],
    asked: [A, B],
    answered: [A, B],
    conflicts: 1,
  },
  {
    name: "discovery: an Executor named in a task is asked in a further round of the same call",
    members: [{ address: A }],
    replies: { [A]: [task("t1", { publishTime: 30n, executors: [{ key: 7, address: C }] })], [C]: [t3] },
    ids: ["t1", "t3"],
    asked: [A, C],
    answered: [A, C],
  },
  {
    name: "the cluster-wide view asks only Executors whose key is known, each with its own key",
    members: [{ address: A, pubKey: KEY(5) }, { address: B }],
    q: keyed({ pubKey: Buffer.alloc(0) }),
    replies: { [A]: [task("t1", { requester: 5 })], [B]: [task("t2", { requester: 6 })] },
    ids: ["t1"],
    asked: [A],
    answered: [A],
  },
];

describe("TaskFanout.list", () => {
  test.each(LIST_CASES)("$name", async (c) => {
    const m = memoryCluster(c.members);
    for (const [address, r] of Object.entries(c.replies)) {
      m.transport.on(address, () => (Array.isArray(r) ? listReply(r) : r));
    }
    const a = await m.fanout.list(c.q ?? keyed(), ctx());
    expect(a.tasks.map((t) => t.id)).toEqual(c.ids);
    expect([...a.report.asked].sort()).toEqual([...c.asked].sort());
    expect([...a.report.answered].sort()).toEqual([...c.answered].sort());
    const failed = c.failed ?? [];
    expect(a.report.failed.map((f) => f.address)).toEqual(failed.map(([addr]) => addr));
    a.report.failed.forEach((f, i) => expect(f.reason).toMatch(failed[i]![1]));
    if (c.dropped !== undefined) expect(a.report.dropped).toBe(c.dropped);
    if (c.conflicts !== undefined) expect(a.report.conflicts).toBe(c.conflicts);
    expect(a.cache).toBe("bypass");
  });

  describe("discovery when only the answer's tasks are decoded", () => {
    // Limit 1: A's t1 is the answer; B's older task (naming C) never reaches it and is not decoded.
    const naming = (id: string, over: Partial<FLTask> = {}): FLTask => ({
      ...task(id, { publishTime: 10n, executors: [{ key: 7, address: C }] }),
      ...over,
    });
    const PASS = { maxQueuedBytes: 1 << 20, tasksPerInterval: 1, intervalMs: 3_600_000, rememberTasks: 100 };

    test("an Executor named only by a task that does not reach the answer is discovered by the bounded pass", async () => {
      const m = memoryCluster([{ address: A }, { address: B }], { discoveryPass: PASS });
      m.transport.on(A, () => listReply([t1]));
      m.transport.on(B, () => listReply([naming("old")]));
      m.transport.on(C, () => listReply([t3]));
      const a = await m.fanout.list(keyed({ limit: 1n }), ctx());
      expect(a.tasks.map((t) => t.id)).toEqual(["t1"]);
      // Not at once (the task was never decoded), so C is not asked in this call ...
      expect(a.report.asked.sort()).toEqual([A, B]);
      expect(m.discovered.map((t) => t.id)).toEqual(["t1"]);
      expect(m.fanout.pass.pending).toBe(1);
      // ... but the background pass reads it, charged to the Executor that sent it.
      m.fanout.pass.step();
      expect(m.discovered.map((t) => t.id)).toEqual(["t1", "old"]);
      expect(m.discoveredFrom).toEqual([A, B]);
      expect(m.members.map((e) => e.address)).toContain(C);
      const next = await m.fanout.list(keyed({ limit: 1n }), ctx());
      expect(next.report.asked.sort()).toEqual([A, B, C]);
      m.fanout.pass.close();
    });

    test("the pass is bounded per interval and in bytes, screens as today, and reads a task once", async () => {
      // Each reply within its cap of 1 (a reply over its cap is decoded whole, as today's cut needs).
      const D = "10.0.0.4:8184";
      const E = "10.0.0.5:8184";
      const m = memoryCluster([{ address: A }, { address: B }, { address: D }, { address: E }], {
        discoveryPass: { ...PASS, tasksPerInterval: 2 },
      });
      m.transport.on(A, () => listReply([t1]));
      m.transport.on(B, () => listReply([naming("o1")]));
      m.transport.on(D, () => listReply([naming("o2", { publishTime: 8n })]));
      m.transport.on(E, () => listReply([naming("bad", { publishTime: 9n, requester: Buffer.alloc(3) })]));
      await m.fanout.list(keyed({ limit: 1n }), ctx());
      expect(m.fanout.pass.pending).toBe(3);
      m.fanout.pass.step();
      expect(m.fanout.pass.pending).toBe(1);
      m.fanout.pass.step();
      expect(m.fanout.pass.pending).toBe(0);
      // The implausible task feeds no discovery, as today.
      expect(m.discovered.map((t) => t.id).sort()).toEqual(["o1", "o2", "t1"]);
      expect(m.fanout.pass.stats.dropped).toBe(1);
      // The same tasks in the next fan-out are not read again.
      await m.fanout.list(keyed({ limit: 1n }), ctx());
      expect(m.fanout.pass.pending).toBe(0);

      const small = memoryCluster([{ address: A }, { address: B }], {
        discoveryPass: { ...PASS, maxQueuedBytes: 1 },
      });
      small.transport.on(A, () => listReply([t1]));
      small.transport.on(B, () => listReply([naming("o1")]));
      await small.fanout.list(keyed({ limit: 1n }), ctx());
      expect(small.fanout.pass.pending).toBe(0);
      expect(small.fanout.pass.stats.overflow).toBe(1);
      m.fanout.pass.close();
      small.fanout.pass.close();
    });

    test("a candidate's addresses are discovered at once and asked in the same call", async () => {
      const m = memoryCluster([{ address: A }, { address: B }], { discoveryPass: PASS });
      m.transport.on(A, () => listReply([naming("new", { publishTime: 40n })]));
      m.transport.on(B, () => listReply([t2]));
      m.transport.on(C, () => listReply([t1]));
      const a = await m.fanout.list(keyed({ limit: 1n }), ctx());
      expect(a.report.asked.sort()).toEqual([A, B, C]);
      expect(a.tasks.map((t) => t.id)).toEqual(["new"]);
      m.fanout.pass.close();
    });
  });

  test("each Executor of the cluster-wide view is sent its own key, and non-terminal filters are applied after merging", async () => {
    const m = memoryCluster([
      { address: A, pubKey: KEY(5) },
      { address: B, pubKey: KEY(6) },
    ]);
    m.transport.on(A, () => listReply([]));
    m.transport.on(B, () => listReply([]));
    await m.fanout.list(keyed({ pubKey: Buffer.alloc(0), status: "Processing", limit: 3n }), ctx());
    const sent = m.transport.calls.map((c) => ({ address: c.address, ...ListTaskRequest.decode(c.request) }));
    expect(sent.map((s) => [s.address, Buffer.from(s.pubKey).equals(s.address === A ? KEY(5) : KEY(6))])).toEqual([
      [A, true],
      [B, true],
    ]);
    // A lagging Executor's "Processing" may be another's "Finished": status and limit stay home.
    for (const s of sent) expect([s.status, s.limit]).toEqual(["", 0n]);
  });

  test("no waves: with the default per-fan-out bound every Executor is called before any answers", async () => {
    const members = Array.from({ length: 100 }, (_, i) => ({ address: `10.0.1.${i}:8184` }));
    const m = memoryCluster(members, { maxUpstreamCalls: 4096 });
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    for (const e of members) m.transport.on(e.address, async () => (await gate, listReply([])));
    const done = m.fanout.list(keyed(), ctx());
    await new Promise((r) => setImmediate(r));
    expect(m.transport.calls).toHaveLength(100);
    release();
    expect((await done).report.answered).toHaveLength(100);
  });

  test("the gateway-wide bound (executors.maxUpstreamCalls) holds across fan-outs", async () => {
    const members = Array.from({ length: 30 }, (_, i) => ({ address: `10.0.2.${i}:8184` }));
    const m = memoryCluster(members, { maxUpstreamCalls: 40 });
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    for (const e of members) m.transport.on(e.address, async () => (await gate, listReply([])));
    const both = Promise.all([m.fanout.list(keyed(), ctx()), m.fanout.list(keyed(), ctx())]);
    await new Promise((r) => setImmediate(r));
    expect(m.transport.calls).toHaveLength(40);
    expect(m.clients.queued).toBe(20);
    release();
    for (const a of await both) expect(a.report.answered).toHaveLength(30);
  });

  test("an open circuit is reported without a call; a cancelled client asks nobody", async () => {
    const m = memoryCluster([{ address: A }, { address: B }], { circuitFailures: 1 });
    m.transport.on(A, () => listReply([t1]));
    m.transport.on(B, () => ({ code: status.UNAVAILABLE, details: "down" }));
    await m.fanout.list(keyed(), ctx());
    const before = m.transport.asked().length;
    const second = await m.fanout.list(keyed(), ctx());
    expect(m.transport.asked().length - before).toBe(1);
    expect(second.report.failed).toEqual([{ address: B, reason: "circuit open" }]);
    const ac = new AbortController();
    ac.abort();
    const cancelled = await m.fanout.list(keyed(), { ...ctx(), signal: ac.signal });
    expect(cancelled.report.asked).toEqual([]);
  });
});

describe("TaskFanout.get", () => {
  const processing = task("t1", { status: "Processing" });
  const finished = task("t1", { status: "Finished", endTime: 9n });

  test.each([
    {
      name: "not-found from every Executor is an answer: no task, nobody failed",
      replies: { [A]: executorError("XDAT0004", "not found"), [B]: executorError("10004", "task not found") },
      status: undefined,
      holders: [],
      answered: [A, B],
      failed: [],
    },
    {
      name: "the most advanced copy wins; holders are those that returned a copy",
      replies: { [A]: taskReply(processing), [B]: taskReply(finished), [C]: executorError("XDAT0004", "nf") },
      status: "Finished",
      holders: [A, B],
      answered: [A, B, C],
      failed: [],
    },
    {
      name: "a copy of another task is dropped, and the Executor still answered",
      replies: { [A]: taskReply(task("other")), [B]: taskReply(processing) },
      status: "Processing",
      holders: [B],
      answered: [A, B],
      failed: [],
    },
    {
      name: "an unreachable Executor is named as failed",
      replies: { [A]: taskReply(processing), [B]: { code: status.DEADLINE_EXCEEDED, details: "slow" } },
      status: "Processing",
      holders: [A],
      answered: [A],
      failed: [B],
    },
  ])("$name", async (c) => {
    const addresses = Object.keys(c.replies);
    const m = memoryCluster(addresses.map((address) => ({ address })));
    for (const [address, r] of Object.entries(c.replies)) m.transport.on(address, () => r as Answer);
    const a = await m.fanout.get("t1", ctx());
    expect(a.task?.status).toBe(c.status);
    expect([...(a.holders ?? [])].sort()).toEqual(c.holders);
    expect([...a.report.answered].sort()).toEqual(c.answered);
    expect(a.report.failed.map((f) => f.address)).toEqual(c.failed);
  });

  test("preferred holders with a terminal copy: nobody else is asked", async () => {
    const m = memoryCluster([{ address: A }, { address: B }, { address: C }]);
    m.transport.on(A, () => taskReply(finished));
    m.transport.on(B, () => taskReply(finished));
    m.transport.on(C, () => taskReply(finished));
    const a = await m.fanout.get("t1", ctx(), { preferred: [B] });
    expect(m.transport.asked()).toEqual([B]);
    expect(a.task?.status).toBe("Finished");
    expect(a.report.asked).toEqual([B]);
  });

  test("preferred holders with a non-terminal copy: the others are asked too, and a more advanced copy wins", async () => {
    const m = memoryCluster([{ address: A }, { address: B }, { address: C }]);
    m.transport.on(A, () => taskReply(finished));
    m.transport.on(B, () => taskReply(processing));
    m.transport.on(C, () => executorError("XDAT0004", "nf"));
    const a = await m.fanout.get("t1", ctx(), { preferred: [B] });
    expect(m.transport.asked()[0]).toBe(B);
    expect([...m.transport.asked()].sort()).toEqual([A, B, C]);
    expect(a.task?.status).toBe("Finished");
  });

  test("hedge: a terminal copy ends the call; stragglers are cancelled, counted neither answered nor failed", async () => {
    const m = memoryCluster([{ address: A }, { address: B }], { hedgeDelayMs: 60_000 });
    m.transport.on(A, () => taskReply(finished));
    m.transport.on(B, () => "hang");
    const a = await m.fanout.get("t1", ctx());
    expect(a.task?.status).toBe("Finished");
    expect(a.report.answered).toEqual([A]);
    expect(a.report.failed).toEqual([]);
  });

  test("hedge: hedgeDelayMs after a non-terminal copy, stragglers are cut and named", async () => {
    const m = memoryCluster([{ address: A }, { address: B }], { hedgeDelayMs: 5 });
    m.transport.on(A, () => taskReply(processing));
    m.transport.on(B, () => "hang");
    const a = await m.fanout.get("t1", ctx());
    expect(a.task?.status).toBe("Processing");
    expect(a.report.failed).toEqual([{ address: B, reason: HEDGE_REASON }]);
  });
});
