/**
 * Issue 14, case 3: the gateway's own overload is never blamed on an Executor. The
 * Executors run in their own processes and answer in 50 ms; the gateway's event loop
 * is then blocked (a busy loop, as CPU saturation does) past the call timeout while
 * their replies wait in the sockets. Before, every such timeout counted against the
 * Executor and opened its circuit; now it is the gateway's `overloaded` shortfall.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import type { RunningGateway } from "../../src/gateway";
import type { OutcomeEvent } from "../../src/upstream/outcome";
import { listAllBody } from "../helpers/requests";
import { gatewayFor, rawCall, rawClient } from "../helpers/resilience";
import { busy } from "../helpers/busy";

/** A minimal Executor in its own process: empty ListTask replies after 50 ms. */
const CHILD = `
const grpc = require("@grpc/grpc-js");
const id = (b) => b;
const m = (p) => ({ path: p, requestStream: false, responseStream: false, requestSerialize: id,
  requestDeserialize: id, responseSerialize: id, responseDeserialize: id });
const s = new grpc.Server();
s.addService({ ListTask: m("/task.Task/ListTask") }, {
  ListTask: (call, cb) => setTimeout(() => cb(null, Buffer.alloc(0)), 50),
});
s.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, port) => console.log(String(port)));
`;

async function childExecutor(): Promise<{ address: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, ["-e", CHILD], { cwd: process.cwd(), stdio: ["ignore", "pipe", "inherit"] });
  const [chunk] = (await once(proc.stdout!, "data")) as [Buffer];
  return { address: `127.0.0.1:${chunk.toString().trim()}`, proc };
}

describe("a saturated gateway (case 3)", () => {
  const children: ChildProcess[] = [];
  let gw: RunningGateway;
  beforeAll(async () => {
    const executors = await Promise.all([1, 2, 3, 4].map(() => childExecutor()));
    children.push(...executors.map((e) => e.proc));
    gw = await gatewayFor(undefined, {
      seeds: executors.map((e) => e.address),
      executors: { callTimeoutMs: 300, circuitFailures: 1, departAfterMs: 500 },
      // What is tested is blame; load shedding (load-shedding.test.ts) would refuse the calls.
      api: { shedLagMs: 0 },
    });
  }, 20_000);
  afterAll(async () => {
    await gw.stop();
    for (const c of children) c.kill();
  });

  test("calls timed out while the event loop was blocked open no circuit and make no Executor depart", async () => {
    const client = rawClient(gw.grpcPort);
    const body = listAllBody(Buffer.alloc(64, 7));
    const warm = await rawCall(client, "ListTask", body, { deadlineMs: 5000 });
    expect(warm.err).toBeUndefined();
    expect(warm.trailers["dai-executors-answered"]).toBe("4");

    const outcomes: OutcomeEvent[] = [];
    const off = gw.clients.outcomes.subscribe((o) => outcomes.push(o));
    for (let round = 0; round < 3; round++) {
      const calls = Array.from({ length: 10 }, () =>
        rawCall(client, "ListTask", body, { deadlineMs: 5000, metadata: { "dai-cache-control": "no-cache" } }),
      );
      // Let the upstream calls go out, then block past their 300 ms timeout. From a
      // setImmediate (check phase), so the next loop turn runs the due deadline timers
      // before it reads the replies, as under CPU saturation.
      await new Promise((r) => setTimeout(r, 25));
      await new Promise<void>((r) =>
        setImmediate(() => {
          busy(800);
          r();
        }),
      );
      await Promise.all(calls);
    }
    off();
    expect(gw.health.snapshot().map((s) => s.state)).toEqual(["closed", "closed", "closed", "closed"]);
    expect(gw.registry.counts()).toMatchObject({ members: 4, departed: 0 });
    // The scenario did happen: upstream calls ran out of time while the gateway was stalled.
    expect(outcomes.filter((o) => o.kind === "shortfall" && o.shortfall === "overloaded").length).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o.kind === "unreachable")).toEqual([]);

    const after = await rawCall(client, "ListTask", body, {
      deadlineMs: 5000,
      metadata: { "dai-cache-control": "no-cache" },
    });
    expect(after.err).toBeUndefined();
    expect(after.trailers["dai-executors-answered"]).toBe("4");
    client.close();
  }, 30_000);
});
