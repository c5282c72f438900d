/**
 * The framed prototype (bench/lib/framed-server.ts) that scenario 6 measures with
 * BENCH_FRAMED=1 is only a fair comparison if it answers as the gateway's own port does:
 * the same reply bytes and dai-* trailers through the same pipeline, the same error
 * statuses, and the admission's refusals from the headers. Real gateway, simulated
 * Executors, grpc-js clients, on loopback.
 */
import http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { FramedGrpcServer } from "../../bench/lib/framed-server";
import { callRaw } from "../../bench/lib/grpc-raw";
import { addTaskMethods, taskServerOptions } from "../../src/api/task-server-http2";
import { taskReadHandlers } from "../../src/api/task-service";
import { defaultDeadlines } from "../../src/config/deadlines";
import { ListTaskRequest } from "../../src/gen/task/task";
import { startSimCluster, type SimCluster } from "../../src/sim/cluster";
import { startCachedGateway, type GatewayHandle } from "../helpers/cache-gateway";
import {
  RawPredictClient,
  predictResponseBytes,
  signedRequest,
  startPredictScenario,
  type PredictScenario,
} from "../helpers/predict-scenario";
import { testConfig } from "../helpers/test-config";
import { startGateway } from "../../src/gateway";
import pino from "pino";

jest.setTimeout(30_000);

const LIST = "/task.Task/ListTask";
const GET = "/task.Task/GetTaskById";
const request = Buffer.from(
  ListTaskRequest.encode({
    pubKey: Buffer.alloc(0),
    status: "",
    timeStart: 0n,
    timeEnd: 9_223_372_036_854_775_807n,
    limit: 100n,
  }).finish(),
);

async function code(address: string, path: string, body: Buffer, headers: Record<string, string> = {}) {
  try {
    await callRaw(address, path, body, headers, 5000);
    return { code: grpc.status.OK, details: "" };
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: e.code, details: e.details };
  }
}

/** ListTask over node:http2 with raw headers (grpc-js sets grpc-timeout itself); its grpc-status. */
function rawStatus(address: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${address}`);
    session.on("error", reject);
    const req = session.request({
      ":method": "POST",
      ":path": LIST,
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    let status = "";
    req.on("response", (h) => (status = String(h["grpc-status"] ?? status)));
    req.on("trailers", (t) => (status = String(t["grpc-status"] ?? status)));
    req.on("data", () => {});
    req.on("close", () => {
      session.close();
      resolve(status);
    });
    const framed = Buffer.alloc(5 + request.length);
    framed.writeUInt32BE(request.length, 1);
    request.copy(framed, 5);
    req.end(framed);
  });
}

describe("bench framed server", () => {
  let sim: SimCluster;
  let h: GatewayHandle;
  let framed: FramedGrpcServer;
  let own = "";
  let address = "";

  beforeAll(async () => {
    sim = await startSimCluster({ executors: 3, seed: 5, trainingTasks: 12 });
    h = await startCachedGateway(sim, { api: { maxConcurrentCalls: 4 } });
    own = `127.0.0.1:${h.gw.grpcPort}`;
    const config = testConfig({ api: { maxConcurrentCalls: 4 } });
    framed = new FramedGrpcServer(
      taskServerOptions(h.gw.pipeline, {
        maxRequestBytes: config.api.maxRequestBytes,
        maxConcurrentStreams: 16,
        fallback: "",
        admission: h.gw.admission,
        ...defaultDeadlines(config),
      }),
    );
    const options = { ...config.api, predictWriteTimeoutMs: config.predict.writeTimeoutMs, generation: "v2" as const };
    addTaskMethods(framed, h.gw.pipeline, taskReadHandlers(h.gw.reader, options, h.gw.cache), {});
    address = `127.0.0.1:${await framed.listen("127.0.0.1", 0)}`;
  });
  afterAll(async () => {
    await framed.close();
    await h.close();
    await sim.stop();
  });

  it("answers ListTask with the own port's bytes and dai-* trailers", async () => {
    await callRaw(own, LIST, request); // fills the cache and the Executor set
    const a = await callRaw(own, LIST, request);
    const b = await callRaw(address, LIST, request);
    expect(b.body.equals(a.body)).toBe(true);
    expect(b.trailers["dai-cache"]).toBe(a.trailers["dai-cache"]);
    expect(b.trailers["dai-executors-answered"]).toBe(a.trailers["dai-executors-answered"]);
  });

  it("answers errors with the own port's statuses", async () => {
    const missing = Buffer.from([10, 3, 97, 98, 99]);
    expect(await code(address, GET, missing)).toEqual(await code(own, GET, missing));
    expect((await code(address, "/task.Task/Nope", request)).code).toBe(grpc.status.UNIMPLEMENTED);
    // A deadline too short for a fan-out: refused or run out, as on the own port.
    const late = await rawStatus(address, { "dai-cache-control": "no-cache", "grpc-timeout": "1n" });
    expect(late).toEqual(await rawStatus(own, { "dai-cache-control": "no-cache", "grpc-timeout": "1n" }));
    expect([String(grpc.status.DEADLINE_EXCEEDED), String(grpc.status.RESOURCE_EXHAUSTED)]).toContain(late);
  });

  it("passes admission's refusals on from the headers", async () => {
    // More no-cache fan-outs at once than api.maxConcurrentCalls lets in.
    const results = await Promise.all(
      Array.from({ length: 24 }, () => code(address, LIST, request, { "dai-cache-control": "no-cache" })),
    );
    expect(results.filter((r) => r.code === grpc.status.RESOURCE_EXHAUSTED).length).toBeGreaterThan(0);
    expect(results.filter((r) => r.code === grpc.status.OK).length).toBeGreaterThan(0);
  });
});

describe("bench framed server: the prediction relay", () => {
  let sc: PredictScenario;
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let framed: FramedGrpcServer;
  let client: RawPredictClient;
  let own: RawPredictClient;

  beforeAll(async () => {
    sc = await startPredictScenario();
    const config = testConfig({
      listen: "127.0.0.1:0",
      httpListen: "127.0.0.1:0",
      executors: {
        seeds: [sc.executors[0]!.address, sc.executors[4]!.address],
        discoveryAllow: ["127.0.0.1"],
        callTimeoutMs: 2000,
      },
      log: { level: "silent" },
    });
    gw = await startGateway(config, pino({ level: "silent" }));
    expect(gw.predictions.canStream).toBe(true);
    framed = new FramedGrpcServer(
      taskServerOptions(gw.pipeline, {
        maxRequestBytes: config.api.maxRequestBytes,
        maxConcurrentStreams: 16,
        fallback: "",
        admission: gw.admission,
        ...defaultDeadlines(config),
      }),
    );
    const options = { ...config.api, predictWriteTimeoutMs: config.predict.writeTimeoutMs, generation: "v2" as const };
    addTaskMethods(framed, gw.pipeline, taskReadHandlers(gw.reader, options, gw.cache), {
      predict: { service: gw.predictions, stallMs: config.predict.writeTimeoutMs },
    });
    client = new RawPredictClient(`127.0.0.1:${await framed.listen("127.0.0.1", 0)}`);
    own = new RawPredictClient(`127.0.0.1:${gw.grpcPort}`);
  });
  afterAll(async () => {
    client.close();
    own.close();
    await framed.close();
    await gw.stop();
    await sc.stop();
  });

  it("relays a result larger than its queue mark to a 64 KiB-window client, byte for byte", async () => {
    // 5 MiB: past RELAY_QUEUE_BYTES (2 MiB), so the upstream is paused and resumed on the way.
    const payload = Buffer.alloc(5 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) % 251;
    for (const e of sc.executors) e.setResult(sc.ids.mine, payload);
    const body = await client.call(signedRequest(sc.me, sc.ids.mine));
    expect(body.equals(predictResponseBytes(sc.ids.mine, payload))).toBe(true);
  });

  it("answers a refused prediction as the own port does", async () => {
    const req = signedRequest(sc.me, sc.ids.unfinished);
    const a = await client.status(req);
    const b = await own.status(req);
    expect(a.code).not.toBe(grpc.status.OK);
    expect([a.code, a.details]).toEqual([b.code, b.details]);
  });
});
