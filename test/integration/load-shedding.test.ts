/**
 * Issue 14, case 4: admission bounds latency. Under overload a call the gateway cannot
 * serve in time is refused at once (RESOURCE_EXHAUSTED with `grpc-retry-pushback-ms`)
 * instead of queueing until its deadline: the gateway refuses while its event loop is
 * behind (`api.shedLagMs`), and never starts work that cannot finish in the client's
 * deadline. Before, both calls below were taken on (and sent upstream). The latency
 * targets themselves are measured in `npm run bench` (bench/overload.ts), not here.
 */
import { status as Status } from "@grpc/grpc-js";
import { startSimCluster, type SimCluster } from "../../src/sim/cluster";
import type { RunningGateway } from "../../src/gateway";
import { listAllBody } from "../helpers/requests";
import { gatewayFor, rawCall, rawClient } from "../helpers/resilience";

const upstreamListCalls = (sim: SimCluster): number => sim.executors.reduce((n, e) => n + (e.calls.ListTask ?? 0), 0);

function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // saturated: the loop is always behind
  }
}

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
