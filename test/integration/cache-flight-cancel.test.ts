/**
 * Single-flight and cancellation: the client that starts a shared fan-out may go away;
 * the clients that joined it must still get the complete answer. Also: a served call is
 * not reported upstream as cancelled (grpc-js emits "cancelled" after every call).
 */
import { startSimCluster, type SimCluster } from "../../src/sim/cluster";
import {
  expectedList,
  listWithTrailers,
  nowNs,
  sameTasks,
  startCachedGateway,
  upstreamCalls,
} from "../helpers/cache-gateway";

let sim: SimCluster;
beforeAll(async () => {
  sim = await startSimCluster({ executors: 3, seed: 11, trainingTasks: 20 });
});
afterAll(async () => {
  await sim.stop();
});

test("a follower gets the full answer when the leader of its fan-out cancels", async () => {
  const g = await startCachedGateway(sim);
  try {
    const req = { pubKey: Buffer.alloc(0), status: "", timeStart: 0n, timeEnd: nowNs(), limit: 100n };
    // Warm discovery so the flight below asks every Executor in one round.
    await listWithTrailers(g.client, req, { "dai-cache-control": "no-cache" });
    for (const e of sim.executors) {
      e.resetCalls();
      e.latencyMs = 400;
    }
    // A key nothing has cached yet: the leader's call is a miss that starts the fan-out.
    const q = { ...req, status: "Finished" };
    const leaderAbort = new AbortController();
    const leader = g.client.listTask({ ...q, timeEnd: nowNs() }, { signal: leaderAbort.signal });
    await new Promise((r) => setTimeout(r, 50));
    const follower = listWithTrailers(g.client, { ...q, timeEnd: nowNs() });
    await new Promise((r) => setTimeout(r, 50));
    leaderAbort.abort();
    await expect(leader).rejects.toThrow();

    const { tasks, trailers } = await follower;
    expect(trailers.get("dai-executors-failed")).toBeUndefined();
    expect(trailers.get("dai-executors-answered")).toBe(String(sim.executors.length));
    expect(tasks.length).toBeGreaterThan(0);
    expect(sameTasks(tasks, expectedList(sim, { ...q, timeEnd: nowNs() }))).toBe(true);
    // One fan-out served both: one ListTask per Executor.
    expect(upstreamCalls(sim, "ListTask")).toBe(sim.executors.length);
  } finally {
    for (const e of sim.executors) e.latencyMs = 0;
    await g.close();
  }
});
