/**
 * The cache as clients see it, through a real gateway in front of real simulated
 * Executors, on both backends: the in-process LRU and a real redis-server.
 * Expected answers come from the simulated Executors' own ledgers, not from the gateway.
 */
import { Metadata } from "nice-grpc";
import { FLTask, FLTasks, ListTaskRequest } from "../../src/gen/task/task";
import type { ConfigInput } from "../../src/config/schema";
import { isTerminal } from "../../src/merge/status";
import { startSimCluster, type SimCluster } from "../../src/sim/cluster";
import {
  expectedList,
  listWithTrailers,
  nowNs,
  sameTasks,
  startCachedGateway,
  upstreamCalls,
  type GatewayHandle,
} from "../helpers/cache-gateway";
import { RawClient } from "../helpers/raw-client";
import { startRedis } from "../helpers/redis";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Backend = "memory" | "redis";

describe.each<[Backend]>([["memory"], ["redis"]])("cache through the gateway (%s backend)", (backend) => {
  let sim: SimCluster;
  let redis: Awaited<ReturnType<typeof startRedis>> | undefined;
  let gateways: GatewayHandle[] = [];
  let prefixes = 0;

  beforeAll(async () => {
    sim = await startSimCluster({ executors: 4, seed: 3, trainingTasks: 40 });
    if (backend === "redis") redis = await startRedis();
  });
  afterAll(async () => {
    await sim.stop();
    await redis?.stop();
  });
  beforeEach(() => {
    for (const e of sim.executors) {
      e.mode = "ok";
      e.latencyMs = 0;
      e.resetCalls();
    }
  });
  afterEach(async () => {
    await Promise.all(gateways.map((g) => g.close()));
    gateways = [];
  });

  async function gateway(cache: ConfigInput["cache"] = {}): Promise<GatewayHandle> {
    const redisCfg = redis ? { url: redis.url, keyPrefix: `t${prefixes++}:` } : {};
    // Redis timeouts are tested on their own (cache-store.test.ts); here a loaded CI machine
    // must not turn a slow-but-working Redis into "bypass".
    const g = await startCachedGateway(sim, { cache: { redisTimeoutMs: 1000, ...cache }, redis: redisCfg });
    gateways.push(g);
    if (redis) {
      const store = g.gw.cache.store as unknown as { waitReady(ms: number): Promise<boolean> };
      expect(await store.waitReady(5000)).toBe(true);
    }
    return g;
  }

  const requester = (i: number) => sim.ledger.requesters[i]!.publicKey;
  const stock = (pubKey: Buffer, extra: Partial<ListTaskRequest> = {}): ListTaskRequest => ({
    pubKey,
    status: "",
    timeStart: 0n,
    timeEnd: nowNs(),
    limit: 100n,
    ...extra,
  });

  /** Replaces a task on every Executor holding it with the next status in its lifecycle. */
  function advance(id: string, status: string): void {
    for (const e of sim.executors) {
      const t = e.taskViews().find((v) => v.id === id);
      if (!t) continue;
      const m = FLTask.decode(t.raw);
      e.putRaw(Buffer.from(FLTask.encode({ ...m, status, endTime: m.publishTime + 999n }).finish()));
    }
  }

  test("miss, hit, expiry; the first call's discovery keys the entry by the grown set", async () => {
    const { client, gw } = await gateway({ listTtlMs: 400, refreshAheadMs: 0 });
    const r1q = stock(requester(0));
    const r1 = await listWithTrailers(client, r1q);
    expect(r1.trailers.get("dai-cache")).toBe("miss");
    expect(gw.registry.size).toBe(4);
    expect(sameTasks(r1.tasks, expectedList(sim, r1q))).toBe(true);
    const afterMiss = upstreamCalls(sim, "ListTask");
    expect(afterMiss).toBe(4);

    const r2q = stock(requester(0));
    const r2 = await listWithTrailers(client, r2q);
    expect(r2.trailers.get("dai-cache")).toBe("hit");
    expect(upstreamCalls(sim, "ListTask")).toBe(afterMiss);
    expect(sameTasks(r2.tasks, expectedList(sim, r2q))).toBe(true);

    await sleep(500);
    const r3 = await listWithTrailers(client, stock(requester(0)));
    expect(r3.trailers.get("dai-cache")).toBe("miss");
    expect(upstreamCalls(sim, "ListTask")).toBe(afterMiss + 4);
  });

  test.each([["a requester's key"], ["the cluster-wide view"]])(
    "thirty stock-client calls within a second (%s), each with its own timeEnd = now: at most two fan-outs, every answer exact",
    async (view) => {
      const { client } = await gateway();
      const key = view === "a requester's key" ? requester(1) : Buffer.alloc(0);
      const started = Date.now();
      const served: { q: ListTaskRequest; tasks: FLTask[]; cache: string }[] = [];
      for (let i = 0; i < 30; i++) {
        // One call every 30 ms: thirty within a second, each stamped with its own "now".
        await sleep(Math.max(0, started + i * 30 - Date.now()));
        const q = stock(key);
        const r = await listWithTrailers(client, q);
        served.push({ q, tasks: r.tasks, cache: r.trailers.get("dai-cache") as string });
      }
      expect(new Set(served.map((s) => s.q.timeEnd)).size).toBe(30);
      for (const s of served) expect(sameTasks(s.tasks, expectedList(sim, s.q))).toBe(true);
      expect(served.filter((s) => s.cache === "hit").length).toBeGreaterThanOrEqual(28);
      const fanouts = upstreamCalls(sim, "ListTask") / sim.executors.length;
      expect(fanouts).toBeLessThanOrEqual(2);
    },
  );

  test("an upstream status change is visible within cache.listTtlMs", async () => {
    const ttl = 1000;
    const { client } = await gateway({ listTtlMs: ttl, refreshAheadMs: 250 });
    // A requester with a task that can still move on.
    let pick: { key: Buffer; id: string } | undefined;
    for (let i = 0; i < sim.ledger.requesters.length && !pick; i++) {
      const tasks = expectedList(sim, stock(requester(i)));
      const t = tasks.find((x) => !isTerminal(x.status));
      if (t) pick = { key: requester(i), id: t.id };
    }
    expect(pick).toBeDefined();
    const statusOf = (tasks: FLTask[]) => tasks.find((t) => t.iD === pick!.id)?.status;
    const before = await listWithTrailers(client, stock(pick!.key));
    const oldStatus = statusOf(before.tasks);
    advance(pick!.id, "Finished");
    const changedAt = Date.now();
    const first = await listWithTrailers(client, stock(pick!.key));
    // Served from the cache: the change is not seen at once...
    expect(first.trailers.get("dai-cache")).toBe("hit");
    expect(statusOf(first.tasks)).toBe(oldStatus);
    // Poll past the TTL. Whatever the machine's load, every request sent once the TTL has run
    // out since the change must see it (the entry predates the change, so it expired by then).
    const polls: { sentAt: number; status?: string }[] = [];
    while (Date.now() - changedAt < ttl + 400) {
      const sentAt = Date.now();
      const r = await listWithTrailers(client, stock(pick!.key));
      polls.push({ sentAt, status: statusOf(r.tasks) });
      await sleep(20);
    }
    const late = polls.filter((p) => p.sentAt >= changedAt + ttl);
    expect(late.length).toBeGreaterThan(0);
    expect(late.every((p) => p.status === "Finished")).toBe(true);
  });

  test("dai-cache-control: no-cache forces a fan-out and refills the entry", async () => {
    const { client } = await gateway();
    const q = stock(requester(2));
    await listWithTrailers(client, q);
    const calls = upstreamCalls(sim, "ListTask");
    const target = expectedList(sim, q).find((t) => !isTerminal(t.status));
    expect(target).toBeDefined();
    advance(target!.id, "Failed");
    const forced = await listWithTrailers(client, stock(requester(2)), { "dai-cache-control": "no-cache" });
    expect(forced.trailers.get("dai-cache")).toBe("miss");
    expect(upstreamCalls(sim, "ListTask")).toBe(calls + 4);
    expect(forced.tasks.find((t) => t.iD === target!.id)?.status).toBe("Failed");
    const after = await listWithTrailers(client, stock(requester(2)));
    expect(after.trailers.get("dai-cache")).toBe("hit");
    expect(after.tasks.find((t) => t.iD === target!.id)?.status).toBe("Failed");
    expect(upstreamCalls(sim, "ListTask")).toBe(calls + 4);
  });

  test("the same request again: each hit byte for byte the first hit, trailers too; a refill's change shows at once", async () => {
    const { gw } = await gateway();
    const raw = new RawClient(`127.0.0.1:${gw.grpcPort}`);
    try {
      const q = stock(requester(1));
      const bytes = ListTaskRequest.encode(q).finish();
      expect((await raw.call("ListTask", bytes)).trailers["dai-cache"]).toBe("miss");
      const first = await raw.call("ListTask", bytes);
      expect(first.trailers["dai-cache"]).toBe("hit");
      for (let i = 0; i < 3; i++) {
        const again = await raw.call("ListTask", bytes);
        expect(again.code).toBe(0);
        expect(again.body!.equals(first.body!)).toBe(true);
        expect(again.trailers).toEqual(first.trailers);
      }
      const target = expectedList(sim, q).find((t) => !isTerminal(t.status));
      expect(target).toBeDefined();
      advance(target!.id, "Failed");
      const forced = await raw.call("ListTask", bytes, { "dai-cache-control": "no-cache" });
      expect(forced.trailers["dai-cache"]).toBe("miss");
      const after = await raw.call("ListTask", bytes);
      expect(after.trailers["dai-cache"]).toBe("hit");
      expect(after.body!.equals(forced.body!)).toBe(true);
      expect(after.body!.equals(first.body!)).toBe(false);
      expect(FLTasks.decode(after.body!).fLTasks.find((t) => t.iD === target!.id)?.status).toBe("Failed");
    } finally {
      raw.close();
    }
  });

  test("stampede: 100 concurrent identical misses cost one upstream ListTask per Executor", async () => {
    const { client } = await gateway();
    await listWithTrailers(client, stock(requester(0))); // discovery first: the set is complete
    for (const e of sim.executors) {
      e.resetCalls();
      e.latencyMs = 100;
    }
    const q = stock(requester(1), { status: "Finished" });
    const answers = await Promise.all(Array.from({ length: 100 }, () => listWithTrailers(client, q)));
    for (const e of sim.executors) expect(e.calls.ListTask).toBe(1);
    const want = expectedList(sim, q);
    for (const a of answers) expect(sameTasks(a.tasks, want)).toBe(true);
  });

  test("partial answers are served, never stored", async () => {
    const { client } = await gateway();
    await listWithTrailers(client, stock(requester(0)));
    sim.executors[2]!.mode = "error";
    const q = stock(requester(0), { limit: 7n, status: "Finished" });
    const p1 = await listWithTrailers(client, q);
    expect(p1.trailers.get("dai-executors-failed")).toBe(sim.executors[2]!.address);
    const calls = sim.executors[0]!.calls.ListTask!;
    const p2 = await listWithTrailers(client, stock(requester(0), { limit: 7n, status: "Finished" }));
    expect(p2.trailers.get("dai-cache")).toBe("miss");
    expect(sim.executors[0]!.calls.ListTask).toBe(calls + 1);
    sim.executors[2]!.mode = "ok";
    await listWithTrailers(client, stock(requester(0), { limit: 7n, status: "Finished" }));
    const full = await listWithTrailers(client, stock(requester(0), { limit: 7n, status: "Finished" }));
    expect(full.trailers.get("dai-cache")).toBe("hit");
    expect(full.trailers.get("dai-executors-failed")).toBeUndefined();
  });

  test("every Executor unreachable: the last complete answer is served as stale instead of failing", async () => {
    const { client } = await gateway({ listTtlMs: 300, taskTtlMs: 300, maxStaleMs: 60_000 });
    const q = stock(requester(1));
    const fresh = await listWithTrailers(client, q);
    const open = expectedList(sim, q).find((t) => !isTerminal(t.status));
    expect(open).toBeDefined();
    await client.getTaskById({ taskID: open!.id });
    for (const e of sim.executors) e.mode = "error";
    await sleep(400);
    const stale = await listWithTrailers(client, stock(requester(1)));
    expect(stale.trailers.get("dai-cache")).toBe("stale");
    expect(stale.trailers.get("dai-executors-answered")).toBe("0");
    expect(stale.tasks.map((t) => t.iD)).toEqual(fresh.tasks.map((t) => t.iD));
    let trailers = new Metadata();
    const task = await client.getTaskById({ taskID: open!.id }, { onTrailer: (t) => (trailers = t) });
    expect(task.iD).toBe(open!.id);
    expect(trailers.get("dai-cache")).toBe("stale");
  });

  test("GetTaskById: terminal tasks stay cached, others expire; a miss asks the known holders first", async () => {
    const { client } = await gateway({ taskTtlMs: 300 });
    await listWithTrailers(client, stock(requester(0))); // complete the set
    const all = sim.executors.flatMap((e) => e.taskViews());
    const terminal = all.find(
      (t) => isTerminal(t.status) && sim.executors.filter((e) => e.taskIds().includes(t.id)).length < 4,
    )!;
    const open = all.find((t) => !isTerminal(t.status))!;
    let trailers = new Metadata();
    const onTrailer = (t: Metadata) => (trailers = t);

    await client.getTaskById({ taskID: terminal.id }, { onTrailer });
    expect(trailers.get("dai-cache")).toBe("miss");
    const gets = upstreamCalls(sim, "GetTaskById");
    await sleep(350);
    const again = await client.getTaskById({ taskID: terminal.id }, { onTrailer });
    expect(trailers.get("dai-cache")).toBe("hit");
    expect(again.status).toBe(terminal.status);
    expect(upstreamCalls(sim, "GetTaskById")).toBe(gets);

    // Forced refetch: only the holders are asked (a terminal copy cannot be superseded).
    const holders = sim.executors.filter((e) => e.taskIds().includes(terminal.id));
    const others = sim.executors.filter((e) => !e.taskIds().includes(terminal.id));
    const before = others.map((e) => e.calls.GetTaskById);
    const md = new Metadata();
    md.set("dai-cache-control", "no-cache");
    await client.getTaskById({ taskID: terminal.id }, { onTrailer, metadata: md });
    expect(trailers.get("dai-executors-asked")).toBe(String(holders.length));
    expect(others.map((e) => e.calls.GetTaskById)).toEqual(before);

    await client.getTaskById({ taskID: open.id }, { onTrailer });
    expect(trailers.get("dai-cache")).toBe("miss");
    await client.getTaskById({ taskID: open.id }, { onTrailer });
    expect(trailers.get("dai-cache")).toBe("hit");
    await sleep(350);
    await client.getTaskById({ taskID: open.id }, { onTrailer });
    expect(trailers.get("dai-cache")).toBe("miss");
    // A non-terminal copy from the holders is not trusted alone: everyone was asked.
    expect(trailers.get("dai-executors-asked")).toBe("4");
  });
});
