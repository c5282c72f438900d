/**
 * Chaos mix: of nine Executors three are down, three are slower than the call's
 * deadline and one sends garbage. Every ListTask must answer within its deadline with
 * exactly the two healthy Executors' data (computed here from the simulator's ledger,
 * not with the gateway's merge code) and name the other seven as failed.
 */
import type * as grpc from "@grpc/grpc-js";
import { FLTask, FLTasks } from "../../src/gen/task/task";
import type { RunningGateway } from "../../src/gateway";
import { startSimCluster, type SimCluster } from "../../src/sim/cluster";
import { gatewayFor, rawCall, rawClient } from "../helpers/resilience";
import { listAllBody } from "../helpers/requests";

const DEADLINE_MS = 2500;

let sim: SimCluster;
let gw: RunningGateway;
let client: grpc.Client;
const down = [0, 1, 2];
const slow = [3, 4, 5];
const garbage = 6;
const healthy = [7, 8];

beforeAll(async () => {
  sim = await startSimCluster({ executors: 9, seed: 5, trainingTasks: 30, overlap: 0.3 });
  for (const i of down) await sim.executors[i]!.stop();
  for (const i of slow) sim.executors[i]!.latencyMs = 6000;
  sim.executors[garbage]!.mode = "garbage";
  // callTimeoutMs is longer than the client's deadline: the client's deadline must bound the call.
  gw = await gatewayFor(sim, {
    executors: { callTimeoutMs: 5000, circuitFailures: 3, circuitHalfOpenAfterMs: 60_000 },
  });
  client = rawClient(gw.grpcPort);
});

afterAll(async () => {
  client?.close();
  await gw?.stop();
  await sim?.stop();
});

/** What one Executor holding the healthy Executors' shares would list (spec §4), from the ledger. */
function expectedIds(keep: (t: FLTask, holder: number) => boolean, limit = 0): string[] {
  const byId = new Map(sim.ledger.tasks.map((t) => [t.iD, t]));
  const picked = new Map<string, FLTask>();
  for (const i of healthy) {
    for (const id of sim.ledger.holdings.get(i)!) {
      const t = byId.get(id)!;
      if (keep(t, i)) picked.set(id, t);
    }
  }
  const out = [...picked.values()].sort((a, b) =>
    a.publishTime !== b.publishTime
      ? a.publishTime > b.publishTime
        ? -1
        : 1
      : Buffer.compare(Buffer.from(a.iD), Buffer.from(b.iD)),
  );
  return out.slice(0, limit > 0 ? limit : undefined).map((t) => t.iD);
}

const involves = (t: FLTask, key: Buffer): boolean =>
  Buffer.from(t.requester).equals(key) || t.dataSets.some((d) => Buffer.from(d.executor).equals(key));

const listBody = listAllBody;

function expectChaosTrailers(trailers: Record<string, string>, asked = 9): void {
  expect(trailers["dai-executors-asked"]).toBe(String(asked));
  expect(trailers["dai-executors-answered"]).toBe(String(healthy.length));
  const failed = (trailers["dai-executors-failed"] ?? "").split(",").sort();
  const unhealthy = [...down, ...slow, garbage].map((i) => sim.executors[i]!.address).sort();
  expect(failed).toEqual(unhealthy);
}

test("every ListTask answers within its deadline with exactly the reachable Executors' data", async () => {
  const requesters = sim.ledger.requesters.map((r) => r.publicKey);
  const keys = [...requesters, ...healthy.map((i) => sim.keys[i]!.publicKey)];
  let checked = 0;
  // Enough rounds to see both the costly path (deadlines) and the open-circuit path.
  for (let round = 0; round < 2; round++) {
    for (const key of keys) {
      const limit = round % 2 === 0 ? 0n : 5n;
      const r = await rawCall(client, "ListTask", listBody(key, limit), { deadlineMs: DEADLINE_MS });
      expect(r.err).toBeUndefined();
      expect(r.ms).toBeLessThan(DEADLINE_MS + 100);
      const got = FLTasks.decode(r.body!).fLTasks.map((t) => t.iD);
      expect(got).toEqual(expectedIds((t) => involves(t, key), Number(limit)));
      expectChaosTrailers(r.trailers);
      checked += got.length;
    }
  }
  expect(checked).toBeGreaterThan(0);
  // Circuits of the dead, slow and garbage Executors are open now; the healthy stay closed.
  const states = new Map(gw.health.snapshot().map((s) => [s.address, s.state]));
  for (const i of [...down, ...slow, garbage]) expect(states.get(sim.executors[i]!.address)).toBe("open");
  for (const i of healthy) expect(states.get(sim.executors[i]!.address)).toBe("closed");
});

test("an open circuit answers at once instead of costing the deadline", async () => {
  const key = sim.ledger.requesters[0]!.publicKey;
  const slowCalls = slow.map((i) => sim.executors[i]!.calls.ListTask);
  const r = await rawCall(client, "ListTask", listBody(key), { deadlineMs: DEADLINE_MS });
  expect(r.err).toBeUndefined();
  expect(r.ms).toBeLessThan(DEADLINE_MS / 2);
  expectChaosTrailers(r.trailers);
  // The slow Executors were not called at all.
  expect(slow.map((i) => sim.executors[i]!.calls.ListTask)).toEqual(slowCalls);
});

test("the cluster-wide view merges each reachable Executor's own tasks", async () => {
  const r = await rawCall(client, "ListTask", listBody(Buffer.alloc(0)), { deadlineMs: DEADLINE_MS });
  expect(r.err).toBeUndefined();
  expect(r.ms).toBeLessThan(DEADLINE_MS + 100);
  const got = FLTasks.decode(r.body!).fLTasks.map((t) => t.iD);
  expect(got).toEqual(expectedIds((t, holder) => involves(t, sim.keys[holder]!.publicKey)));
  expectChaosTrailers(r.trailers);
});

test("strict consistency turns the partial answer into UNAVAILABLE naming the failures", async () => {
  const key = sim.ledger.requesters[0]!.publicKey;
  const r = await rawCall(client, "ListTask", listBody(key), {
    deadlineMs: DEADLINE_MS,
    metadata: { "dai-consistency": "strict" },
  });
  expect(r.err?.code).toBe(14);
  expect(r.err?.details).toContain("circuit open");
  expect(r.ms).toBeLessThan(DEADLINE_MS + 100);
});
