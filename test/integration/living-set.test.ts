/**
 * Issue 14, cases 1 and 2: the Executor set lives. An Executor gone for good leaves
 * the live set, so answers are complete again for the live Executors and the cache
 * hits again (it never did on the code before: the set only grew, every answer was
 * partial, partial answers are never stored); and one Executor naming thousands of
 * addresses cannot fill the set with dead candidates that make every answer partial.
 * Loopback only: the dead addresses are closed ports on 127.0.0.0/8.
 */
import { startSimCluster, type SimCluster } from "../../src/sim/cluster";
import { FLTask } from "../../src/gen/task/task";
import { encodeTaskList, decodeTaskView } from "../../src/wire/task-view";
import {
  expectedList,
  listWithTrailers,
  nowNs,
  sameTasks,
  startCachedGateway,
  type GatewayHandle,
} from "../helpers/cache-gateway";
import { startRedis } from "../helpers/redis";
import { startRawExecutor } from "../helpers/resilience";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("an Executor that leaves (case 1)", () => {
  let sim: SimCluster;
  let g: GatewayHandle;
  beforeAll(async () => {
    sim = await startSimCluster({ executors: 5, seed: 14, trainingTasks: 30 });
    g = await startCachedGateway(sim, {
      executors: {
        seeds: sim.executors.map((e, i) => ({ address: e.address, pubKey: sim.keys[i]!.publicKey.toString("hex") })),
        departAfterMs: 1500,
        callTimeoutMs: 1000,
      },
      cache: { listTtlMs: 1000, refreshAheadMs: 0 },
    });
  });
  afterAll(async () => {
    await g.close();
    await sim.stop();
  });

  test("the cache hits again, with answers exact for the live Executors, and the trailer says one departed", async () => {
    const req = { pubKey: Buffer.alloc(0), status: "", timeStart: 0n, timeEnd: nowNs(), limit: 0n };
    const first = await listWithTrailers(g.client, { ...req, timeEnd: nowNs() });
    expect(first.trailers.get("dai-executors-answered")).toBe("5");
    expect((await listWithTrailers(g.client, { ...req, timeEnd: nowNs() })).trailers.get("dai-cache")).toBe("hit");

    const gone = sim.executors[4]!;
    await gone.stop();
    const live = { ...sim, executors: sim.executors.slice(0, 4) };
    // Past the TTL of the entry made while it was up: from now on a hit is a new entry.
    await sleep(1100);
    const partial = await listWithTrailers(g.client, { ...req, timeEnd: nowNs() });
    expect(partial.trailers.get("dai-executors-failed")).toBe(gone.address);
    const started = Date.now();
    let hitAt: number | undefined;
    let last: Awaited<ReturnType<typeof listWithTrailers>> | undefined;
    // 3 stock calls a second, as in the issue; the target is a minute, the test allows 20 s.
    while (Date.now() - started < 20_000) {
      last = await listWithTrailers(g.client, { ...req, timeEnd: nowNs() });
      if (last.trailers.get("dai-cache") === "hit") {
        hitAt = Date.now() - started;
        break;
      }
      await sleep(330);
    }
    expect(hitAt).toBeDefined();
    expect(last!.trailers.get("dai-executors-departed")).toBe("1");
    expect(last!.trailers.get("dai-executors-failed")).toBeUndefined();
    expect(sameTasks(last!.tasks, expectedList(live, { ...req, timeEnd: nowNs() }))).toBe(true);
    expect(g.gw.registry.get(gone.address)).toMatchObject({ source: "seed", membership: "departed" });

    // It comes back: its first answer makes it a member again, and answers count it.
    await gone.start(gone.port);
    const back = Date.now();
    let answered: string | undefined;
    while (Date.now() - back < 20_000) {
      const r = await listWithTrailers(g.client, { ...req, timeEnd: nowNs() }, { "dai-cache-control": "no-cache" });
      answered = r.trailers.get("dai-executors-answered");
      if (answered === "5") break;
      await sleep(300);
    }
    expect(answered).toBe("5");
    expect(g.gw.registry.get(gone.address)?.membership).toBe("member");
  }, 60_000);
});

describe("one Executor naming thousands of dead addresses (case 2)", () => {
  let sim: SimCluster;
  let g: GatewayHandle;
  let hostile: Awaited<ReturnType<typeof startRawExecutor>>;
  beforeAll(async () => {
    sim = await startSimCluster({ executors: 3, seed: 15, trainingTasks: 20 });
    // Tasks naming 2,000 addresses on 127.0.0.0/8, every port closed (port 1): they never answer.
    const template = sim.executors[0]!.taskViews()[0]!;
    const base = FLTask.decode(template.raw);
    const tasks: Buffer[] = [];
    for (let i = 0; i < 100; i++) {
      const dataSets = Array.from({ length: 20 }, (_, j) => ({
        ...base.dataSets[0]!,
        address: `127.0.${1 + Math.floor((i * 20 + j) / 250)}.${1 + ((i * 20 + j) % 250)}:1`,
      }));
      tasks.push(
        Buffer.from(
          FLTask.encode({ ...base, iD: `hostile-${i}`, requester: Buffer.alloc(64, 0xab), dataSets }).finish(),
        ),
      );
    }
    const reply = encodeTaskList(tasks.map((b) => decodeTaskView(b)));
    hostile = await startRawExecutor(() => reply);
    g = await startCachedGateway(sim, {
      executors: {
        seeds: [
          ...sim.executors.map((e, i) => ({ address: e.address, pubKey: sim.keys[i]!.publicKey.toString("hex") })),
          { address: hostile.address, pubKey: "ab".repeat(64) },
        ],
        discoveryAllow: ["127.0.0.0/8"],
        callTimeoutMs: 1000,
        discoveryBudget: 8,
      },
      cache: { listTtlMs: 5000 },
    });
  });
  afterAll(async () => {
    await g.close();
    await hostile.stop();
    await sim.stop();
  });

  test("the set takes at most the budget of candidates, and other clients' answers stay complete and cached", async () => {
    // The hostile Executor's tasks are screened out of answers for honest keys; a view by
    // one honest key asks every Executor (the hostile one too) and must stay exact.
    const pubKey = sim.keys[0]!.publicKey;
    const req = { pubKey, status: "", timeStart: 0n, timeEnd: nowNs(), limit: 0n };
    await listWithTrailers(g.client, {
      pubKey: Buffer.alloc(0),
      status: "",
      timeStart: 0n,
      timeEnd: nowNs(),
      limit: 0n,
    });
    const counts = g.gw.registry.counts();
    expect(counts.candidates).toBeLessThanOrEqual(8);
    expect(g.gw.registry.size).toBeLessThanOrEqual(4 + 8);

    const a = await listWithTrailers(g.client, { ...req, timeEnd: nowNs() });
    expect(a.trailers.get("dai-executors-failed")).toBeUndefined();
    const b = await listWithTrailers(g.client, { ...req, timeEnd: nowNs() });
    expect(b.trailers.get("dai-cache")).toBe("hit");
    expect(sameTasks(b.tasks, expectedList(sim, { ...req, timeEnd: nowNs() }))).toBe(true);
  }, 30_000);
});

describe("the shared set in Redis (case 1 with Redis)", () => {
  let sim: SimCluster;
  let redis: Awaited<ReturnType<typeof startRedis>>;
  const open: GatewayHandle[] = [];
  beforeAll(async () => {
    sim = await startSimCluster({ executors: 3, seed: 16, trainingTasks: 30 });
    redis = await startRedis();
  });
  afterAll(async () => {
    await Promise.all(open.map((g) => g.close()));
    await redis.stop();
    await sim.stop();
  });

  test("a dead Executor ages out of the shared set: a replica started later never counts it", async () => {
    const cfg = {
      redis: { url: redis.url, keyPrefix: "living:" },
      executors: { departAfterMs: 1000, callTimeoutMs: 1000 },
      cache: { executorSyncMs: 50, listTtlMs: 5000, redisTimeoutMs: 1000 },
    };
    const a = await startCachedGateway(sim, cfg);
    open.push(a);
    const req = { pubKey: Buffer.alloc(0), status: "", timeStart: 0n, timeEnd: nowNs(), limit: 0n };
    const noCache = { "dai-cache-control": "no-cache" };
    // Replica A discovers E1 and E2 (candidates that answer: members), and shares them.
    for (let i = 0; i < 3; i++) await listWithTrailers(a.client, { ...req, timeEnd: nowNs() }, noCache);
    expect(a.gw.registry.counts().members).toBe(3);
    const dead = sim.executors[2]!;
    await dead.stop();
    // A keeps working (and sharing its live members) while E2 stays dead past departAfterMs.
    const until = Date.now() + 1600;
    while (Date.now() < until) {
      await listWithTrailers(a.client, { ...req, timeEnd: nowNs() }, noCache);
      await sleep(100);
    }
    const b = await startCachedGateway(sim, cfg);
    open.push(b);
    const first = await listWithTrailers(b.client, { ...req, timeEnd: nowNs() });
    expect(b.gw.registry.get(sim.executors[1]!.address)?.membership).toBe("member");
    expect(b.gw.registry.get(dead.address)?.membership).not.toBe("member");
    expect(first.trailers.get("dai-executors-failed")).toBeUndefined();
    const second = await listWithTrailers(b.client, { ...req, timeEnd: nowNs() });
    expect(second.trailers.get("dai-cache")).toBe("hit");
    const live = { ...sim, executors: sim.executors.slice(0, 2) };
    expect(sameTasks(second.tasks, expectedList(live, { ...req, timeEnd: nowNs() }))).toBe(true);
  }, 40_000);
});
