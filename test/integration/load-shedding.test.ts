/**
 * Issue 14, case 4: admission bounds latency. Under overload a call the gateway cannot
 * serve in time is refused at once (RESOURCE_EXHAUSTED with `grpc-retry-pushback-ms`)
 * instead of queueing until its deadline: the gateway refuses while its event loop is
 * behind (`api.shedLagMs`), and never starts work that cannot finish in the client's
 * deadline. Before, both calls below were taken on (and sent upstream). A flood on one
 * connection queues at its own client (`api.maxStreamsPerConnection`), so a call on
 * another connection is not starved by it. The latency targets themselves are measured
 * in `npm run bench` (bench/scenarios/s6-overload.ts), not here.
 */
import { status as Status } from "@grpc/grpc-js";
import { startSimCluster, type SimCluster } from "../../src/sim/cluster";
import type { RunningGateway } from "../../src/gateway";
import { listAllBody } from "../helpers/requests";
import { gatewayFor, rawCall, rawClient } from "../helpers/resilience";
import { busy } from "../helpers/busy";

const upstreamListCalls = (sim: SimCluster): number => sim.executors.reduce((n, e) => n + (e.calls.ListTask ?? 0), 0);

describe("load shedding (case 4)", () => {
  let sim: SimCluster;
  let gw: RunningGateway;
  beforeAll(async () => {
    sim = await startSimCluster({ executors: 3, seed: 4, trainingTasks: 10, latencyMs: 150 });
    gw = await gatewayFor(sim, { api: { shedLagMs: 100 } });
  });
  afterAll(async () => {
    await gw.stop();
    await sim.stop();
  });

  test("a call whose deadline is shorter than the method takes now is refused before any upstream call", async () => {
    const client = rawClient(gw.grpcPort);
    const noCache = { "dai-cache-control": "no-cache" };
    for (let i = 0; i < 25; i++) {
      const r = await rawCall(client, "ListTask", listAllBody(Buffer.alloc(0)), {
        deadlineMs: 5000,
        metadata: noCache,
      });
      expect(r.err).toBeUndefined();
    }
    const before = upstreamListCalls(sim);
    const r = await rawCall(client, "ListTask", listAllBody(Buffer.alloc(0)), { deadlineMs: 60, metadata: noCache });
    expect(r.err?.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(r.err?.details).toMatch(/not enough/);
    expect(r.trailers["grpc-retry-pushback-ms"]).toBeDefined();
    expect(upstreamListCalls(sim)).toBe(before);
    client.close();
  });

  test("while the event loop is behind, new calls are refused at once with a retry hint; after, served again", async () => {
    const client = rawClient(gw.grpcPort);
    const body = listAllBody(Buffer.alloc(0));
    expect((await rawCall(client, "ListTask", body, { deadlineMs: 5000 })).err).toBeUndefined();
    // Sustained saturation: the loop is blocked 150 ms out of every 160.
    const load = setInterval(() => busy(150), 10);
    await new Promise((r) => setTimeout(r, 2500));
    const before = upstreamListCalls(sim);
    const r = await rawCall(client, "ListTask", body, {
      deadlineMs: 5000,
      metadata: { "dai-cache-control": "no-cache" },
    });
    clearInterval(load);
    expect(r.err?.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(r.err?.details).toMatch(/overloaded/);
    expect(r.trailers["grpc-retry-pushback-ms"]).toBe("250");
    expect(upstreamListCalls(sim)).toBe(before);
    expect(gw.admission.active).toBe(0);

    await new Promise((r) => setTimeout(r, 1500));
    expect((await rawCall(client, "ListTask", body, { deadlineMs: 5000 })).err).toBeUndefined();
    client.close();
  });
});

describe("per-connection fairness (item 3)", () => {
  let sim: SimCluster;
  let gw: RunningGateway;
  const STREAMS = 4;
  beforeAll(async () => {
    // Each no-cache call waits ~150 ms on the Executors: a flood keeps calls in flight.
    sim = await startSimCluster({ executors: 3, seed: 5, trainingTasks: 10, latencyMs: 150 });
    gw = await gatewayFor(sim, { api: { maxStreamsPerConnection: STREAMS, shedLagMs: 0 } });
  });
  afterAll(async () => {
    await gw.stop();
    await sim.stop();
  });

  test("a flood on connection A queues at A's client; a call on connection B is admitted beside it", async () => {
    const isolated = { "grpc.use_local_subchannel_pool": 1 };
    const a = rawClient(gw.grpcPort, undefined, isolated);
    const b = rawClient(gw.grpcPort, undefined, isolated);
    const body = listAllBody(Buffer.alloc(0));
    const noCache = { "dai-cache-control": "no-cache" };
    try {
      // Both connections up before the flood.
      for (const c of [a, b]) expect((await rawCall(c, "ListTask", body, { deadlineMs: 5000 })).err).toBeUndefined();
      let maxActive = 0;
      const sampler = setInterval(() => (maxActive = Math.max(maxActive, gw.admission.active)), 2);
      let lastA = 0;
      let order = 0;
      const flood = Array.from({ length: 40 }, () =>
        rawCall(a, "ListTask", body, { deadlineMs: 20_000, metadata: noCache }).then((r) => {
          lastA = ++order;
          return r;
        }),
      );
      await new Promise((r) => setTimeout(r, 50));
      const rb = await rawCall(b, "ListTask", body, { deadlineMs: 20_000, metadata: noCache });
      const doneB = ++order;
      const ra = await Promise.all(flood);
      clearInterval(sampler);
      // A's excess waited on A's side (none refused), never more than STREAMS of them at
      // the gateway; B's call (one in flight, on its own connection) came beside them.
      expect(ra.map((r) => r.err?.code)).toEqual(ra.map(() => undefined));
      expect(rb.err).toBeUndefined();
      expect(maxActive).toBeLessThanOrEqual(STREAMS + 1);
      expect(doneB).toBeLessThan(lastA);
    } finally {
      a.close();
      b.close();
    }
  });
});

describe("the deadline rule learns from calls that ran out of time (item 3)", () => {
  let sim: SimCluster;
  let gw: RunningGateway;
  beforeAll(async () => {
    // Executors that answer in 400 ms, clients that allow 250: no call can finish in time.
    sim = await startSimCluster({ executors: 3, seed: 6, trainingTasks: 10, latencyMs: 400 });
    gw = await gatewayFor(sim, { api: { shedLagMs: 0 } });
  });
  afterAll(async () => {
    await gw.stop();
    await sim.stop();
  });

  test("after calls that ran out of their deadline, the next ones are refused at once and not sent upstream", async () => {
    const client = rawClient(gw.grpcPort);
    const body = listAllBody(Buffer.alloc(0));
    const noCache = { "dai-cache-control": "no-cache" };
    try {
      // Rounds of 8 at once (the connection's streams): 24 calls reach the gateway.
      const first: Awaited<ReturnType<typeof rawCall>>[] = [];
      for (let round = 0; round < 3; round++) {
        first.push(
          ...(await Promise.all(
            Array.from({ length: 8 }, () => rawCall(client, "ListTask", body, { deadlineMs: 250, metadata: noCache })),
          )),
        );
      }
      // Each was started (none could be known to be too slow) and ran out of time.
      expect(new Set(first.map((r) => r.err?.code))).toEqual(new Set([Status.DEADLINE_EXCEEDED]));
      // The gateway's side of each is over a moment after its client gave up.
      for (let i = 0; i < 100 && gw.admission.expectedMs("ListTask") === undefined; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      // Before, only successes taught the rule: with none, every such call was started.
      const before = upstreamListCalls(sim);
      const started = performance.now();
      const r = await rawCall(client, "ListTask", body, { deadlineMs: 250, metadata: noCache });
      expect(r.err?.code).toBe(Status.RESOURCE_EXHAUSTED);
      expect(r.err?.details).toMatch(/not enough/);
      expect(performance.now() - started).toBeLessThan(250);
      expect(upstreamListCalls(sim)).toBe(before);
    } finally {
      client.close();
    }
  });
});
