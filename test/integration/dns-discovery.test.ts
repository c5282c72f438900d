/**
 * Discovery of host names: a name found in a task joins the set through the allow-list,
 * but the gateway connects only if every IP it resolves to is allowed too.
 */
import { FLTask, FLTasks } from "../../src/gen/task/task";
import { startSimCluster, type SimCluster } from "../../src/sim/cluster";
import { gatewayFor, rawCall, rawClient, startRawExecutor } from "../helpers/resilience";
import { listAllBody } from "../helpers/requests";

let sim: SimCluster;
let seed: Awaited<ReturnType<typeof startRawExecutor>>;
let hidden: string;

beforeAll(async () => {
  sim = await startSimCluster({ executors: 2, seed: 41, trainingTasks: 8 });
  // The second simulated Executor is known only by name, from a task the seed sends.
  const target = sim.executors[1]!;
  hidden = `localhost:${target.port}`;
  const requester = sim.ledger.requesters[0]!.publicKey;
  const pointer = FLTask.fromPartial({
    iD: "pointer-task",
    requester,
    status: "Finished",
    publishTime: 1n,
    dataSets: [{ dataID: "d", executor: sim.keys[1]!.publicKey, address: hidden }],
  });
  seed = await startRawExecutor(() => Buffer.from(FLTasks.encode({ fLTasks: [pointer] }).finish()));
});
afterAll(async () => {
  await seed.stop();
  await sim.stop();
});

async function listOnce(dns: { resolvedAllow?: string[] }): Promise<{
  failed?: string;
  ids: string[];
  inSet: boolean;
}> {
  const gw = await gatewayFor(undefined, {
    seeds: [seed.address],
    executors: { discoveryAllow: ["localhost:*"], dns },
  });
  const c = rawClient(gw.grpcPort);
  try {
    const body = listAllBody(sim.ledger.requesters[0]!.publicKey);
    const r = await rawCall(c, "ListTask", body, { deadlineMs: 5000 });
    expect(r.err).toBeUndefined();
    return {
      failed: r.trailers["dai-executors-failed"],
      ids: FLTasks.decode(r.body!).fLTasks.map((t) => t.iD),
      inSet: gw.registry.get(hidden) !== undefined,
    };
  } finally {
    c.close();
    await gw.stop();
  }
}

test("a discovered name with no allowed IP pattern is refused before any connection", async () => {
  const before = sim.executors[1]!.calls.ListTask!;
  const r = await listOnce({});
  expect(r.inSet).toBe(true);
  // A refused candidate never answered: it is not the answer's failure (issue 14: candidates cost nothing).
  expect(r.failed).toBeUndefined();
  expect(r.ids).toEqual(["pointer-task"]);
  expect(sim.executors[1]!.calls.ListTask).toBe(before); // never reached
});

test("a discovered name resolving only to IPs outside resolvedAllow is refused", async () => {
  const before = sim.executors[1]!.calls.ListTask!;
  const r = await listOnce({ resolvedAllow: ["10.0.0.0/8"] });
  expect(r.failed).toBeUndefined();
  expect(sim.executors[1]!.calls.ListTask).toBe(before);
});

test("a discovered name whose every IP is allowed is asked in the same call", async () => {
  const before = sim.executors[1]!.calls.ListTask!;
  const r = await listOnce({ resolvedAllow: ["127.0.0.0/8", "::1/128"] });
  expect(r.failed).toBeUndefined();
  expect(sim.executors[1]!.calls.ListTask).toBe(before + 1);
  const own = [...sim.ledger.holdings.get(1)!];
  expect(r.ids.filter((id) => own.includes(id)).length).toBeGreaterThan(0);
});

test("a candidate refused without a break for departAfterMs is forgotten: refused names cannot fill the set", async () => {
  const gw = await gatewayFor(undefined, {
    seeds: [seed.address],
    executors: { discoveryAllow: ["localhost:*"], departAfterMs: 300 },
  });
  const removed: string[] = [];
  gw.registry.changes.subscribe((c) => {
    if (c.kind === "removed") removed.push(c.entry.address);
  });
  const c = rawClient(gw.grpcPort);
  try {
    const body = listAllBody(sim.ledger.requesters[0]!.publicKey);
    for (let i = 0; i < 3; i++) {
      const r = await rawCall(c, "ListTask", body, {
        deadlineMs: 5000,
        metadata: { "dai-cache-control": "no-cache" },
      });
      expect(r.err).toBeUndefined();
      await new Promise((res) => setTimeout(res, 200));
    }
    // Refused at every call for longer than departAfterMs: it left the set (named again, it comes
    // back as a new candidate, charged to the discovery budget of the Executor naming it).
    expect(removed).toContain(hidden);
  } finally {
    c.close();
    await gw.stop();
  }
});
