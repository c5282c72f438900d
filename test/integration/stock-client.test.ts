/**
 * What the stock PaddleDTX clients do, through the gateway (spec §8, §9):
 * - `executor-cli task list|getbyid`: exactly its bytes — `pubKey`, `timeEnd` = now
 *   truncated to whole seconds (ns), `limit` = 100, no deadline, no metadata — from a
 *   raw HTTP/2 client with hand-encoded messages (not our codec, not grpc-js);
 * - no deadline: no call fails for a deadline its client never asked for, and one that
 *   runs out of time says DEADLINE_EXCEEDED, not "unreachable";
 * - 1000 calls at once on one connection, as an Executor serves them.
 * Against simulated Executors of both releases.
 */
import http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { testConfig } from "../helpers/test-config";
import { startGateway, type RunningGateway } from "../../src/gateway";
import { FLTask } from "../../src/gen/task/task";
import { createLogger } from "../../src/log";
import { startSimCluster, type SimCluster } from "../../src/sim/cluster";
import { EXECUTOR_BEHAVIOUR, EXECUTOR_VERSIONS, type ExecutorVersion } from "../../src/sim/version";
import {
  predictResponseBytes,
  RawPredictClient,
  signedRequest,
  startPredictScenario,
  type PredictScenario,
} from "../helpers/predict-scenario";
import { flTasksOf } from "../helpers/raw-client";
import { bytesOf, refList, refMerge } from "../helpers/reference";

function varint(n: bigint): Buffer {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Buffer.from(out);
}

/** ListTaskRequest as Go's proto.Marshal writes executor-cli's: fields in number order, zero values left out. */
function cliListRequest(pubKey: Buffer, timeEndNs: bigint, limit = 100n): Buffer {
  return Buffer.concat([
    Buffer.from([0x0a, pubKey.length]),
    pubKey,
    Buffer.from([0x20]),
    varint(timeEndNs),
    Buffer.from([0x28]),
    varint(limit),
  ]);
}

function cliGetRequest(taskID: string): Buffer {
  const id = Buffer.from(taskID, "utf8");
  return Buffer.concat([Buffer.from([0x0a, id.length]), id]);
}

/** `time.Now()` formatted to seconds and parsed back, then UnixNano(): now truncated to whole seconds. */
function cliNow(): bigint {
  return BigInt(Math.floor(Date.now() / 1000)) * 1_000_000_000n;
}

interface H2Reply {
  status: number;
  grpcStatus: number;
  grpcMessage: string;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders;
}

/** One unary gRPC call over a raw HTTP/2 session: the only headers are the ones gRPC requires. */
function h2Call(session: http2.ClientHttp2Session, method: string, message: Buffer): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    message.copy(frame, 5);
    const req = session.request({
      ":method": "POST",
      ":path": `/task.Task/${method}`,
      "content-type": "application/grpc",
      te: "trailers",
    });
    const chunks: Buffer[] = [];
    let status = 0;
    let trailers: http2.IncomingHttpHeaders = {};
    req.on("response", (h) => {
      status = Number(h[":status"]);
      // A trailers-only reply (an error) carries grpc-status in its headers.
      if (h["grpc-status"] !== undefined) trailers = h;
    });
    req.on("trailers", (t) => (trailers = t));
    req.on("data", (d: Buffer) => chunks.push(d));
    req.on("error", reject);
    req.on("end", () => {
      const all = Buffer.concat(chunks);
      const body = all.length >= 5 ? all.subarray(5, 5 + all.readUInt32BE(1)) : Buffer.alloc(0);
      resolve({
        status,
        grpcStatus: Number(trailers["grpc-status"]),
        grpcMessage: decodeURIComponent(String(trailers["grpc-message"] ?? "")),
        body,
        trailers,
      });
    });
    req.end(frame);
  });
}

/** A gateway over `addresses`, Executors of release `version` (its wire generation configured). */
async function gatewayOver(
  addresses: string[],
  extra: Record<string, unknown> = {},
  version: ExecutorVersion = "v2",
): Promise<RunningGateway> {
  return startGateway(
    testConfig({
      listen: "127.0.0.1:0",
      httpListen: "127.0.0.1:0",
      ...extra,
      executors: {
        seeds: addresses,
        discoveryAllow: ["127.0.0.1/32"],
        generation: EXECUTOR_BEHAVIOUR[version].generation,
        ...(extra.executors as Record<string, unknown> | undefined),
      },
      log: { level: "silent" },
    }),
    createLogger("silent"),
  );
}

describe.each(EXECUTOR_VERSIONS.map((v) => [v]))("executor-cli against %s Executors", (version) => {
  let sim: SimCluster;
  let gw: RunningGateway;
  let session: http2.ClientHttp2Session;
  beforeAll(async () => {
    sim = await startSimCluster({ executors: 3, seed: 9, trainingTasks: 30, version });
    gw = await gatewayOver(
      sim.executors.map((e) => e.address),
      {},
      version,
    );
    session = http2.connect(`http://127.0.0.1:${gw.grpcPort}`);
  });
  afterAll(async () => {
    session.close();
    await gw.stop();
    await sim.stop();
  });

  test("task list -p <requester>: the union, byte for byte; the next second's request is a cache hit", async () => {
    const key = sim.ledger.requesters[1]!.publicKey;
    const union = refMerge(sim.ledger.tasks);
    for (let i = 0; i < 2; i++) {
      const timeEnd = cliNow();
      const r = await h2Call(session, "ListTask", cliListRequest(key, timeEnd));
      expect([r.status, r.grpcStatus]).toEqual([200, grpc.status.OK]);
      const want = refList(union, { pubKey: key, status: "", timeStart: 0n, timeEnd, limit: 100n });
      expect(want.length).toBeGreaterThan(0);
      expect(r.body.toString("hex")).toBe(flTasksOf(want.map(bytesOf)).toString("hex"));
      expect(r.trailers["dai-cache"]).toBe(i === 0 ? "miss" : "hit");
      expect(r.trailers["dai-executors-failed"]).toBeUndefined();
    }
  });

  test("task list -p <executor key>: the union of tasks that Executor takes part in", async () => {
    const key = sim.keys[2]!.publicKey;
    const timeEnd = cliNow();
    const r = await h2Call(session, "ListTask", cliListRequest(key, timeEnd));
    expect(r.grpcStatus).toBe(grpc.status.OK);
    const want = refList(refMerge(sim.ledger.tasks), { pubKey: key, status: "", timeStart: 0n, timeEnd, limit: 100n });
    expect(r.body.equals(flTasksOf(want.map(bytesOf)))).toBe(true);
  });

  test("task getbyid -i <id>: the task's bytes; an unknown ID is NOT_FOUND", async () => {
    const t = refMerge(sim.ledger.tasks)[3]!;
    const r = await h2Call(session, "GetTaskById", cliGetRequest(t.iD));
    expect(r.grpcStatus).toBe(grpc.status.OK);
    expect(r.body.equals(Buffer.from(FLTask.encode(t).finish()))).toBe(true);
    const nf = await h2Call(session, "GetTaskById", cliGetRequest("00000000-0000-4000-8000-000000000000"));
    expect(nf.grpcStatus).toBe(grpc.status.NOT_FOUND);
  });
});

describe("1000 calls at once on one client connection", () => {
  let sim: SimCluster;
  let gw: RunningGateway;
  beforeAll(async () => {
    sim = await startSimCluster({ executors: 2, seed: 3, trainingTasks: 6 });
    // Slow enough that all calls are in flight together.
    for (const e of sim.executors) e.latencyMs = 500;
    gw = await gatewayOver(sim.executors.map((e) => e.address));
  });
  afterAll(async () => {
    await gw.stop();
    await sim.stop();
  });

  test("are all answered with the default configuration, as an Executor (MaxConcurrentStreams 1000) answers them", async () => {
    const client = new grpc.Client(`127.0.0.1:${gw.grpcPort}`, grpc.credentials.createInsecure());
    const key = sim.keys[0]!.publicKey;
    const body = cliListRequest(key, cliNow());
    try {
      const codes = await Promise.all(
        Array.from(
          { length: 1000 },
          () =>
            new Promise<grpc.status>((resolve) => {
              client.makeUnaryRequest(
                "/task.Task/ListTask",
                (b: Buffer) => b,
                (b: Buffer) => b,
                body,
                new grpc.Metadata(),
                {},
                (err) => resolve(err ? err.code : grpc.status.OK),
              );
            }),
        ),
      );
      const refused = codes.filter((c) => c !== grpc.status.OK);
      expect(refused.map((c) => grpc.status[c])).toEqual([]);
      expect(gw.admission.active).toBe(0);
    } finally {
      client.close();
    }
  }, 60_000);
});

describe.each(EXECUTOR_VERSIONS.map((v) => [v]))("GetPredictResult with no deadline, %s Executors", (version) => {
  let sc: PredictScenario;
  let client: RawPredictClient;
  let gw: RunningGateway;
  beforeAll(async () => {
    sc = await startPredictScenario(version);
  });
  afterAll(async () => {
    await sc.stop();
  });
  afterEach(async () => {
    client.close();
    await gw.stop();
    for (const e of sc.executors) {
      e.latencyMs = 0;
      delete e.methodLatencyMs.GetPredictResult;
    }
  });

  /** The raw client with no deadline at all (grpc-js sends no grpc-timeout then). */
  const noDeadline = (request: Buffer): Promise<{ code: grpc.status; details: string; body?: Buffer }> =>
    new Promise((resolve) => {
      const c = new grpc.Client(`127.0.0.1:${gw.grpcPort}`, grpc.credentials.createInsecure());
      c.makeUnaryRequest(
        "/task.Task/GetPredictResult",
        (b: Buffer) => b,
        (b: Buffer) => b,
        request,
        new grpc.Metadata(),
        {},
        (err, body) => {
          c.close();
          resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: "", body });
        },
      );
    });

  test("a result the label holder takes longer than api.defaultDeadlineMs to read is relayed", async () => {
    gw = await gatewayOver(
      sc.executors.slice(0, 4).map((e) => e.address),
      { api: { defaultDeadlineMs: 800 }, predict: { callTimeoutMs: 4000 } },
      version,
    );
    client = new RawPredictClient(`127.0.0.1:${gw.grpcPort}`);
    sc.executors[1]!.methodLatencyMs.GetPredictResult = 1500;
    const r = await noDeadline(signedRequest(sc.me, sc.ids.mine, EXECUTOR_BEHAVIOUR[version].generation));
    expect([grpc.status[r.code], r.details]).toEqual(["OK", ""]);
    expect(r.body!.equals(predictResponseBytes(sc.ids.mine, sc.payloads.get(sc.ids.mine)!))).toBe(true);
  });

  test("a label holder slower than predict.callTimeoutMs: DEADLINE_EXCEEDED, not 'unreachable'", async () => {
    gw = await gatewayOver(
      sc.executors.slice(0, 4).map((e) => e.address),
      { predict: { callTimeoutMs: 600 } },
      version,
    );
    client = new RawPredictClient(`127.0.0.1:${gw.grpcPort}`);
    sc.executors[1]!.methodLatencyMs.GetPredictResult = 3000;
    const r = await noDeadline(signedRequest(sc.me, sc.ids.mine, EXECUTOR_BEHAVIOUR[version].generation));
    expect(grpc.status[r.code]).toBe("DEADLINE_EXCEEDED");
    expect(r.details).toMatch(/no answer in time from/);
    expect(r.details).not.toMatch(/unreachable/);
  });

  test("a label holder that is down: UNAVAILABLE, unreachable", async () => {
    gw = await gatewayOver(
      sc.executors.slice(0, 4).map((e) => e.address),
      {},
      version,
    );
    client = new RawPredictClient(`127.0.0.1:${gw.grpcPort}`);
    // Load the tasks into the cache first, then take the holder down.
    expect((await client.status(signedRequest(sc.me, sc.ids.mine, EXECUTOR_BEHAVIOUR[version].generation))).code).toBe(
      grpc.status.OK,
    );
    await sc.executors[1]!.stop();
    try {
      const r = await noDeadline(signedRequest(sc.me, sc.ids.mine, EXECUTOR_BEHAVIOUR[version].generation));
      expect(grpc.status[r.code]).toBe("UNAVAILABLE");
      expect(r.details).toMatch(/unreachable/);
    } finally {
      await sc.executors[1]!.start();
    }
  });
});
