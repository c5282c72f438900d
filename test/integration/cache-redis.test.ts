/**
 * What only a shared Redis can do, against real redis-server processes: surviving
 * Redis dying mid-run, replicas sharing entries, Executor discovery and fetch leases,
 * and a 3-master Redis Cluster.
 */
import { Metadata } from "nice-grpc";
import type { ListTaskRequest } from "../../src/gen/task/task";
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
import { startRedis, startRedisCluster } from "../helpers/redis";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let sim: SimCluster;
let gateways: GatewayHandle[] = [];

beforeAll(async () => {
  sim = await startSimCluster({ executors: 4, seed: 5, trainingTasks: 30 });
});
afterAll(async () => {
  await sim.stop();
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

async function gateway(input: Parameters<typeof startCachedGateway>[1]): Promise<GatewayHandle> {
  // Redis timeouts are tested on their own (cache-store.test.ts); a loaded CI machine must not
  // turn a slow-but-working Redis into "bypass" here.
  const g = await startCachedGateway(sim, { ...input, cache: { redisTimeoutMs: 1000, ...input?.cache } });
  gateways.push(g);
  const store = g.gw.cache.store as unknown as { waitReady(ms: number): Promise<boolean> };
  expect(await store.waitReady(10_000)).toBe(true);
  return g;
}

const stock = (pubKey: Buffer, extra: Partial<ListTaskRequest> = {}): ListTaskRequest => ({
  pubKey,
  status: "",
  timeStart: 0n,
  timeEnd: nowNs(),
  limit: 100n,
  ...extra,
});
const requester = (i: number) => sim.ledger.requesters[i]!.publicKey;

test("Redis killed mid-run and restarted: no client-visible error, the cache bypasses then resumes", async () => {
  const redis = await startRedis();
  try {
    const { client, gw } = await gateway({
      redis: { url: redis.url },
      cache: { listTtlMs: 200, refreshAheadMs: 0 },
    });
    const seen: string[] = [];
    const errors: unknown[] = [];
    let running = true;
    const loop = (async () => {
      while (running) {
        const q = stock(requester(0));
        try {
          const r = await listWithTrailers(client, q);
          seen.push(r.trailers.get("dai-cache") as string);
          if (!sameTasks(r.tasks, expectedList(sim, q))) errors.push(new Error("inexact answer"));
        } catch (err) {
          errors.push(err);
        }
        await sleep(15);
      }
    })();
    const waitUntil = async (ok: () => boolean) => {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && !ok()) await sleep(20);
    };
    await waitUntil(() => seen.includes("hit") && seen.length >= 5);
    const killedAt = seen.length;
    await redis.kill();
    await waitUntil(() => seen.length >= killedAt + 10);
    const restartedAt = seen.length;
    await redis.start();
    const until = Date.now() + 10_000;
    while (Date.now() < until && !seen.slice(restartedAt).includes("hit")) await sleep(50);
    running = false;
    await loop;

    expect(errors).toEqual([]);
    expect(seen.slice(0, killedAt)).toContain("hit");
    expect(seen.slice(killedAt, restartedAt)).toContain("bypass");
    expect(seen.slice(killedAt + 1, restartedAt).every((s) => s === "bypass")).toBe(true);
    expect(seen.slice(restartedAt)).toContain("hit");
    expect(gw.cache.stats.storeDown).toBe(1);
    expect(gw.cache.stats.bypass).toBeGreaterThan(0);
    // Every command that reached Redis fed the round-trip histogram.
    const { body } = await gw.metrics.render();
    const count = Number(/^dai_gateway_redis_roundtrip_seconds_count(?:\{[^}]*\})? (\d+)/m.exec(body)?.[1] ?? "0");
    expect(count).toBeGreaterThan(0);
  } finally {
    await redis.stop();
  }
});

describe("two gateway replicas sharing one Redis", () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });

  test("discovery on one is visible to the other (through its own allow-list); one fan-out serves both", async () => {
    // A generous lease wait: on a loaded machine the leader's fan-out may take a while.
    const shared = { redis: { url: redis.url, keyPrefix: "pair:" }, cache: { executorSyncMs: 100, leaseWaitMs: 8000 } };
    const a = await gateway(shared);
    const b = await gateway(shared);
    // A replica that allows no discovery learns nothing from the shared set.
    const closed = await gateway({ ...shared, executors: { discoveryAllow: [] } });

    const q = stock(requester(0));
    const ra = await listWithTrailers(a.client, q);
    expect(ra.trailers.get("dai-cache")).toBe("miss");
    expect(a.gw.registry.size).toBe(4);
    const calls = upstreamCalls(sim, "ListTask");

    await sleep(150);
    const qb = stock(requester(0));
    const rb = await listWithTrailers(b.client, qb);
    expect(b.gw.registry.size).toBe(4);
    expect(rb.trailers.get("dai-cache")).toBe("hit");
    expect(upstreamCalls(sim, "ListTask")).toBe(calls);
    expect(sameTasks(rb.tasks, expectedList(sim, qb))).toBe(true);

    await listWithTrailers(closed.client, stock(requester(0)));
    expect(closed.gw.registry.size).toBe(1);

    // Cold key, both replicas at once, slow Executors: the lease makes it one fan-out.
    for (const e of sim.executors) {
      e.resetCalls();
      e.latencyMs = 400;
    }
    const cold = stock(requester(1), { status: "Finished" });
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => listWithTrailers((i % 2 ? a : b).client, cold)),
    );
    for (const e of sim.executors) expect(e.calls.ListTask).toBe(1);
    const want = expectedList(sim, cold);
    for (const r of answers) expect(sameTasks(r.tasks, want)).toBe(true);
    expect(a.gw.cache.stats.leaseWaitHits + b.gw.cache.stats.leaseWaitHits).toBeGreaterThan(0);

    // Tasks by ID are shared too.
    const id = want[0]!.id;
    let trailers = new Metadata();
    await a.client.getTaskById({ taskID: id });
    await b.client.getTaskById({ taskID: id }, { onTrailer: (t) => (trailers = t) });
    expect(trailers.get("dai-cache")).toBe("hit");
  });
});

test("when the leader's answer is partial (not stored), followers on the other replica stop waiting as soon as it lets go", async () => {
  const redis = await startRedis();
  try {
    const cfg = { redis: { url: redis.url, keyPrefix: "partial:" }, cache: { leaseWaitMs: 8000 } };
    const a = await gateway(cfg);
    const b = await gateway(cfg);
    await listWithTrailers(a.client, stock(requester(0)));
    await listWithTrailers(b.client, stock(requester(0)));
    sim.executors[3]!.mode = "error";
    for (const e of sim.executors) e.latencyMs = 200;
    const q = stock(requester(2));
    const leader = listWithTrailers(a.client, q);
    await sleep(50);
    const started = Date.now();
    const follower = await listWithTrailers(b.client, q);
    await leader;
    // Far below leaseWaitMs: it did not sit out the whole wait.
    expect(Date.now() - started).toBeLessThan(4000);
    expect(follower.trailers.get("dai-executors-failed")).toBe(sim.executors[3]!.address);
  } finally {
    await Promise.all(gateways.map((g) => g.close()));
    gateways = [];
    await redis.stop();
  }
});

test("a 3-master Redis Cluster backs the cache of two replicas", async () => {
  const cluster = await startRedisCluster(3);
  try {
    // No refresh-ahead: the only fan-outs are the misses below.
    const cfg = {
      redis: { cluster: cluster.addresses, keyPrefix: "c:" },
      cache: { refreshAheadMs: 0 },
    };
    const a = await gateway(cfg);
    const b = await gateway(cfg);
    const keys = [requester(0), requester(1), requester(2), Buffer.alloc(0)];
    for (const k of keys) {
      const r = await listWithTrailers(a.client, stock(k));
      expect(r.trailers.get("dai-cache")).toBe("miss");
    }
    const calls = upstreamCalls(sim, "ListTask");
    for (const k of keys) {
      const q = stock(k);
      const r = await listWithTrailers(b.client, q);
      expect(r.trailers.get("dai-cache")).toBe("hit");
      expect(sameTasks(r.tasks, expectedList(sim, q))).toBe(true);
    }
    expect(upstreamCalls(sim, "ListTask")).toBe(calls);
    const used = await Promise.all(cluster.nodes.map(async (n) => Number((await n.cli("dbsize")).trim())));
    expect(used.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
  } finally {
    await Promise.all(gateways.map((g) => g.close()));
    gateways = [];
    await cluster.stop();
  }
});
