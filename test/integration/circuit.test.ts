/** Per-Executor circuits (open, half-open probe, close), deadlines and the hedged GetTaskById. */
import type * as grpc from "@grpc/grpc-js";
import { FLTask, GetTaskRequest } from "../../src/gen/task/task";
import { HEDGE_REASON } from "../../src/fanout/task-fanout";
import type { RunningGateway } from "../../src/gateway";
import { startSimCluster, type SimCluster } from "../../src/sim/cluster";
import { gatewayFor, rawCall, rawClient } from "../helpers/resilience";
import { listAllBody } from "../helpers/requests";

const listBody = (pubKey: Buffer): Buffer => listAllBody(pubKey);
const getBody = (taskID: string): Buffer => Buffer.from(GetTaskRequest.encode({ taskID }).finish());
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("circuit breaker", () => {
  let sim: SimCluster;
  let gw: RunningGateway;
  let client: grpc.Client;
  const HALF_OPEN_AFTER = 400;

  beforeAll(async () => {
    sim = await startSimCluster({ executors: 3, seed: 7, trainingTasks: 10 });
    gw = await gatewayFor(sim, {
      executors: { circuitFailures: 2, circuitHalfOpenAfterMs: HALF_OPEN_AFTER, circuitMaxHalfOpenAfterMs: 60_000 },
    });
    client = rawClient(gw.grpcPort);
  });
  afterAll(async () => {
    client.close();
    await gw.stop();
    await sim.stop();
  });

  test("opens after consecutive failures, probes after the back-off, closes on success", async () => {
    const bad = sim.executors[1]!;
    const key = sim.ledger.requesters[0]!.publicKey;
    bad.mode = "error";
    for (let i = 0; i < 2; i++) {
      const r = await rawCall(client, "ListTask", listBody(key), { deadlineMs: 2000 });
      expect(r.trailers["dai-executors-failed"]).toBe(bad.address);
    }
    expect(gw.health.state(bad.address)).toMatchObject({ state: "open", consecutiveFailures: 2 });

    // Open: not called; reported failed at once with the reason.
    const before = bad.calls.ListTask!;
    const r = await rawCall(client, "ListTask", listBody(key), {
      deadlineMs: 2000,
      metadata: { "dai-consistency": "strict" },
    });
    expect(r.err?.details).toContain(`${bad.address} (circuit open)`);
    expect(bad.calls.ListTask).toBe(before);

    // After the back-off one probe goes through; it fails, so the circuit opens again.
    await sleep(HALF_OPEN_AFTER + 50);
    await rawCall(client, "ListTask", listBody(key), { deadlineMs: 2000 });
    expect(bad.calls.ListTask).toBe(before + 1);
    expect(gw.health.state(bad.address).state).toBe("open");
    // The back-off doubles: after another HALF_OPEN_AFTER it is still open, and not called.
    await sleep(HALF_OPEN_AFTER + 50);
    await rawCall(client, "ListTask", listBody(key), { deadlineMs: 2000 });
    expect(bad.calls.ListTask).toBe(before + 1);

    // The Executor recovers; the next probe closes the circuit.
    bad.mode = "ok";
    await sleep(HALF_OPEN_AFTER + 100);
    const ok = await rawCall(client, "ListTask", listBody(key), { deadlineMs: 2000 });
    expect(ok.err).toBeUndefined();
    expect(ok.trailers["dai-executors-failed"]).toBeUndefined();
    expect(bad.calls.ListTask).toBe(before + 2);
    expect(gw.health.state(bad.address)).toMatchObject({ state: "closed", consecutiveFailures: 0 });
    expect(gw.health.state(bad.address).lastLatencyMs).toBeGreaterThanOrEqual(0);
  });

  test("'not found' answers keep the circuit closed", async () => {
    const e = sim.executors[2]!;
    e.mode = "notfound";
    for (let i = 0; i < 4; i++) await rawCall(client, "GetTaskById", getBody("no-such-task"), { deadlineMs: 2000 });
    expect(gw.health.state(e.address).state).toBe("closed");
    e.mode = "ok";
  });

  test("tiny client deadlines do not open healthy Executors' circuits", async () => {
    const e = sim.executors[0]!;
    e.latencyMs = 100;
    for (let i = 0; i < 5; i++) {
      await rawCall(client, "ListTask", listBody(sim.ledger.requesters[0]!.publicKey), { deadlineMs: 20 });
    }
    expect(gw.health.state(e.address).state).toBe("closed");
    e.latencyMs = 0;
  });
});

describe("deadlines", () => {
  let sim: SimCluster;
  beforeAll(async () => {
    sim = await startSimCluster({ executors: 3, seed: 8, trainingTasks: 10 });
    sim.executors[2]!.latencyMs = 5000;
  });
  afterAll(() => sim.stop());

  test("api.defaultDeadlineMs bounds a call whose client sent no deadline", async () => {
    const gw = await gatewayFor(sim, { api: { defaultDeadlineMs: 400 }, executors: { callTimeoutMs: 10_000 } });
    const client = rawClient(gw.grpcPort);
    try {
      const r = await rawCall(client, "ListTask", listBody(sim.ledger.requesters[0]!.publicKey));
      expect(r.err).toBeUndefined();
      expect(r.ms).toBeGreaterThanOrEqual(250);
      expect(r.ms).toBeLessThan(700);
      expect(r.trailers["dai-executors-failed"]).toBe(sim.executors[2]!.address);
      expect(r.trailers["dai-executors-answered"]).toBe("2");
    } finally {
      client.close();
      await gw.stop();
    }
  });

  test("executors.callTimeoutMs bounds each Executor inside a longer client deadline", async () => {
    const gw = await gatewayFor(sim, { executors: { callTimeoutMs: 300 } });
    const client = rawClient(gw.grpcPort);
    try {
      const r = await rawCall(client, "GetTaskById", getBody(sim.ledger.tasks[0]!.iD), { deadlineMs: 5000 });
      expect(r.ms).toBeLessThan(1000);
      expect(r.trailers["dai-executors-failed"]).toBe(sim.executors[2]!.address);
    } finally {
      client.close();
      await gw.stop();
    }
  });
});

describe("hedged GetTaskById", () => {
  let sim: SimCluster;
  let gw: RunningGateway;
  let client: grpc.Client;
  const HEDGE = 1000;

  beforeAll(async () => {
    sim = await startSimCluster({ executors: 4, seed: 9, trainingTasks: 20, overlap: 1 });
    gw = await gatewayFor(sim, { executors: { hedgeDelayMs: HEDGE, callTimeoutMs: 5000 } });
    client = rawClient(gw.grpcPort);
  });
  afterAll(async () => {
    client.close();
    await gw.stop();
    await sim.stop();
  });

  const holdersOf = (id: string): number[] => [...sim.ledger.holdings].filter(([, ids]) => ids.has(id)).map(([i]) => i);

  test("warm-up: channels to every Executor", async () => {
    const r = await rawCall(client, "GetTaskById", getBody(sim.ledger.tasks[0]!.iD), { deadlineMs: 6000 });
    expect(r.trailers["dai-executors-answered"]).toBe("4");
  });

  test("a terminal copy answers at once; a non-terminal one after hedgeDelayMs; stragglers are named", async () => {
    const terminal = sim.ledger.tasks.find((t) => t.status === "Finished" && holdersOf(t.iD).length >= 2)!;
    const open = sim.ledger.tasks.find((t) => t.status === "Processing" && holdersOf(t.iD).length >= 2)!;
    expect(terminal).toBeDefined();
    expect(open).toBeDefined();
    const slow = sim.executors[holdersOf(open.iD)[0]!]!;
    const slow2 = sim.executors[holdersOf(terminal.iD)[0]!]!;
    slow.latencyMs = 4000;
    slow2.latencyMs = 4000;
    try {
      const a = await rawCall(client, "GetTaskById", getBody(terminal.iD), { deadlineMs: 6000 });
      expect(a.err).toBeUndefined();
      expect(FLTask.decode(a.body!).iD).toBe(terminal.iD);
      expect(a.ms).toBeLessThan(HEDGE);
      // Final answer: the cancelled stragglers are not failures.
      expect(a.trailers["dai-executors-failed"]).toBeUndefined();
      expect(Number(a.trailers["dai-executors-answered"])).toBeLessThan(4);
      expect(slow2.calls.GetTaskById).toBeGreaterThan(0);

      const b = await rawCall(client, "GetTaskById", getBody(open.iD), { deadlineMs: 6000 });
      expect(b.err).toBeUndefined();
      expect(FLTask.decode(b.body!).iD).toBe(open.iD);
      expect(b.ms).toBeGreaterThanOrEqual(HEDGE - 10);
      expect(b.ms).toBeLessThan(HEDGE + 1500);
      expect(b.trailers["dai-executors-failed"]).toBe(slow.address);
      const strict = await rawCall(client, "GetTaskById", getBody(open.iD), {
        deadlineMs: 6000,
        metadata: { "dai-consistency": "strict" },
      });
      expect(strict.err?.details).toContain(HEDGE_REASON);
    } finally {
      slow.latencyMs = 0;
      slow2.latencyMs = 0;
    }
    // Stragglers cut off by the hedge are not the Executor's fault.
    expect(gw.health.state(slow.address).consecutiveFailures).toBe(0);
  });

  test("without stragglers every Executor's answer is awaited", async () => {
    const open = sim.ledger.tasks.find((t) => t.status === "Confirming" || t.status === "Ready")!;
    const r = await rawCall(client, "GetTaskById", getBody(open.iD), { deadlineMs: 6000 });
    expect(r.err?.details).toBeUndefined();
    expect(FLTask.decode(r.body!).iD).toBe(open.iD);
    expect(r.trailers["dai-executors-failed"]).toBeUndefined();
    expect(r.trailers["dai-executors-answered"]).toBe("4");
  });
});
