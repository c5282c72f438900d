/**
 * Issue 14, case 6: a ListTask reply over `executors.maxResponseBytes` is refused from
 * its length prefix, not read whole first. Before, ListTask shared the channel of
 * GetPredictResult, whose limit (predict.maxBytes) let a 200 MiB reply be buffered
 * before the gateway refused it. The hostile Executor runs in its own process, so the
 * gateway's resident memory is measured alone.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import type { RunningGateway } from "../../src/gateway";
import { listAllBody } from "../helpers/requests";
import { gatewayFor, rawCall, rawClient } from "../helpers/resilience";

const MiB = 1024 * 1024;

/** An Executor answering every ListTask with a 200 MiB message (zeros: never parsed). */
const CHILD = `
const grpc = require("@grpc/grpc-js");
const id = (b) => b;
const m = (p) => ({ path: p, requestStream: false, responseStream: false, requestSerialize: id,
  requestDeserialize: id, responseSerialize: id, responseDeserialize: id });
const big = Buffer.alloc(200 * 1024 * 1024);
const s = new grpc.Server({ "grpc.max_send_message_length": -1 });
s.addService({ ListTask: m("/task.Task/ListTask") }, { ListTask: (call, cb) => cb(null, big) });
s.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, port) => console.log(String(port)));
`;

describe("an Executor's reply over executors.maxResponseBytes (case 6)", () => {
  let child: ChildProcess;
  let gw: RunningGateway;
  beforeAll(async () => {
    child = spawn(process.execPath, ["-e", CHILD], { cwd: process.cwd(), stdio: ["ignore", "pipe", "inherit"] });
    const [chunk] = (await once(child.stdout!, "data")) as [Buffer];
    gw = await gatewayFor(undefined, {
      seeds: [`127.0.0.1:${chunk.toString().trim()}`],
      executors: { maxResponseBytes: 1 * MiB, callTimeoutMs: 10_000 },
      predict: { maxBytes: 256 * MiB },
    });
  }, 20_000);
  afterAll(async () => {
    await gw.stop();
    child.kill();
  });

  test("is refused without being buffered: resident memory stays put", async () => {
    const client = rawClient(gw.grpcPort);
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10).unref();
    const r = await rawCall(client, "ListTask", listAllBody(Buffer.alloc(64, 1)), { deadlineMs: 15_000 });
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    // The only Executor failed: no answer, and it says why.
    expect(r.err?.details).toMatch(/no Executor answered/);
    const outcome = gw.health.snapshot()[0]!;
    expect(outcome.lastFailure).toMatch(/larger than max|exceeds the limit/);
    // A 200 MiB reply read whole would add at least 200 MiB; refused from its prefix, a few window's worth.
    expect(peak - before).toBeLessThan(48 * MiB);
    client.close();
  }, 30_000);
});
