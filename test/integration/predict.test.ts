/**
 * GetPredictResult through a real gateway in front of real simulated Executors:
 * every refusal happens at the gateway with zero upstream GetPredictResult calls; a
 * valid request reaches the label holder first (and only it when it answers); the
 * fallback order; the size limit; the rate limit; bytes relayed untouched.
 */
import { Writable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import { RAW_TASK_SERVICE } from "../../src/api/task-service";
import { testConfig } from "../helpers/test-config";
import { signPredictRequest } from "../../src/crypto/p256";
import type { PredictAttempt } from "../../src/predict/service";
import { startGateway } from "../../src/gateway";
import { TaskType } from "../../src/gen/common/common";
import { FLTask, GetTaskRequest } from "../../src/gen/task/task";
import { createLogger } from "../../src/log";
import { deterministicKeyPair } from "../../src/sim/ledger";
import { signature as sig, wire } from "../helpers/fixtures";
import {
  predictCalls,
  predictRequest,
  predictResponseBytes,
  RawPredictClient,
  signedRequest,
  startPredictScenario,
  type PredictScenario,
} from "../helpers/predict-scenario";

const S = grpc.status;

let sc: PredictScenario;
const logLines: string[] = [];

async function gateway(predict: Record<string, unknown> = {}, executors: Record<string, unknown> = {}) {
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(chunk.toString());
      cb();
    },
  });
  const config = testConfig({
    listen: "127.0.0.1:0",
    httpListen: "127.0.0.1:0",
    executors: {
      // E0 and the outsider E4 are seeds; E1..E3 are found in the tasks' data sets.
      seeds: [sc.executors[0]!.address, sc.executors[4]!.address],
      discoveryAllow: ["127.0.0.1"],
      callTimeoutMs: 2000,
      ...executors,
    },
    predict,
    log: { level: "trace" },
  });
  const gw = await startGateway(config, createLogger("trace", sink));
  const client = new RawPredictClient(`127.0.0.1:${gw.grpcPort}`);
  const predictions = gw.predictions;
  return { gw, client, predictions };
}

type Running = Awaited<ReturnType<typeof gateway>>;

const hex = (h: string): Buffer => Buffer.from(h, "hex");

function fixtureRequest(signature: Buffer, pubKey: Buffer = hex(sig.pubKey_hex), taskID = sig.taskID): Buffer {
  return predictRequest(pubKey, taskID, signature);
}

beforeAll(async () => {
  sc = await startPredictScenario();
});
afterAll(async () => {
  await sc.stop();
});
beforeEach(() => {
  for (const e of sc.executors) e.resetCalls();
});

describe("GetPredictResult at the gateway", () => {
  let g: Running;

  beforeAll(async () => {
    g = await gateway();
  });
  afterAll(async () => {
    g.client.close();
    await g.gw.stop();
  });

  test("a valid request (fixture task_request.bin) reaches only the label holder; reply byte-identical", async () => {
    const request = wire("task_request");
    const attempts: PredictAttempt[] = [];
    const onAttempt = (a: PredictAttempt): void => void attempts.push(a);
    const unsubscribe = g.predictions.attempts.subscribe(onAttempt);
    const body = await g.client.call(request);
    unsubscribe();
    expect(predictCalls(sc.executors)).toEqual([0, 1, 0, 0, 0]);
    expect(attempts.map((a) => [a.address, a.role, a.outcome])).toEqual([[sc.executors[1]!.address, "owner", "ok"]]);
    // What the label holder itself sends for the same request bytes.
    const direct = new RawPredictClient(sc.executors[1]!.address);
    const fromOwner = await direct.call(request);
    direct.close();
    expect(body.equals(fromOwner)).toBe(true);
    expect(body.equals(predictResponseBytes(sig.taskID, sc.payloads.get(sig.taskID)!))).toBe(true);
  });

  test("a valid request signed with a generated key", async () => {
    const body = await g.client.call(signedRequest(sc.me, sc.ids.mine));
    expect(body.equals(predictResponseBytes(sc.ids.mine, sc.payloads.get(sc.ids.mine)!))).toBe(true);
    expect(predictCalls(sc.executors)).toEqual([0, 1, 0, 0, 0]);
  });

  const other = deterministicKeyPair("predict-test-someone-else");
  const refusals: [string, () => Buffer, grpc.status, RegExp][] = [
    [
      "empty taskID",
      () => predictRequest(sc.me.publicKey, "", signPredictRequest(sc.me, "")),
      S.NOT_FOUND,
      /task not found: taskID is empty/,
    ],
    [
      "pubKey of 63 bytes",
      () => fixtureRequest(hex(sig.valid_signature_hex), hex(sig.pubKey_hex).subarray(1)),
      S.INVALID_ARGUMENT,
      /pubKey: expected 64 bytes/,
    ],
    [
      "pubKey not a P-256 point",
      () => {
        const k = hex(sig.pubKey_hex);
        k[63] = k[63]! ^ 1;
        return fixtureRequest(hex(sig.valid_signature_hex), k);
      },
      S.INVALID_ARGUMENT,
      /pubKey: not a point/,
    ],
    [
      "tampered signature (fixture)",
      () => fixtureRequest(hex(sig.tampered_signature_hex)),
      S.UNAUTHENTICATED,
      /signature: not a valid/,
    ],
    [
      "signature of 63 bytes",
      () => fixtureRequest(hex(sig.valid_signature_hex).subarray(1)),
      S.UNAUTHENTICATED,
      /signature: expected 64 bytes/,
    ],
    [
      "fixture other_key with the requester's signature",
      () => fixtureRequest(hex(sig.valid_signature_hex), hex(sig.other_key_hex)),
      S.UNAUTHENTICATED,
      /signature: not a valid/,
    ],
    ["someone else's key, validly signed", () => signedRequest(other, sig.taskID), S.PERMISSION_DENIED, /requester/],
    ["a training task", () => signedRequest(sc.me, sc.ids.training), S.FAILED_PRECONDITION, /not a prediction task/],
    [
      "an unfinished task",
      () => signedRequest(sc.me, sc.ids.unfinished),
      S.FAILED_PRECONDITION,
      /status Processing, not Finished/,
    ],
    [
      "a failed task (message carries errMessage)",
      () => signedRequest(sc.me, sc.ids.failed),
      S.FAILED_PRECONDITION,
      /status Failed.*training diverged: loss is NaN/,
    ],
    ["an unknown task", () => signedRequest(sc.me, "00000000-0000-4000-8000-000000000000"), S.NOT_FOUND, /not found/],
  ];

  test.each(refusals)("refused at the gateway: %s", async (_name, request, code, message) => {
    const r = await g.client.status(request());
    expect(S[r.code]).toBe(S[code]);
    expect(r.details).toMatch(message);
    expect(predictCalls(sc.executors)).toEqual([0, 0, 0, 0, 0]);
  });

  test("a request that is not a TaskRequest is INVALID_ARGUMENT with no upstream call", async () => {
    const r = await g.client.status(Buffer.from([0x0a, 0xff, 0xff]));
    expect(r.code).toBe(S.INVALID_ARGUMENT);
    expect(predictCalls(sc.executors)).toEqual([0, 0, 0, 0, 0]);
  });

  test("refusals are counted by reason", () => {
    const { refused, served } = g.predictions.stats;
    // The refusal cases above, each under its own reason.
    expect(refused.bad_task_id).toBe(1);
    expect(refused.bad_pub_key).toBe(2);
    expect(refused.bad_signature).toBe(3);
    expect(refused.not_requester).toBe(1);
    expect(refused.not_predict_task).toBe(1);
    expect(refused.not_finished).toBe(2);
    expect(refused.task_not_found).toBe(1);
    expect(served).toBe(2);
  });

  test("no payload, key or signature reaches the logs", () => {
    const text = logLines.join("");
    expect(text).toContain("prediction refused");
    for (const p of sc.payloads.values()) expect(text).not.toContain(p.toString().slice(0, 40));
    expect(text).not.toContain(sig.pubKey_hex);
    expect(text).not.toContain(sig.valid_signature_hex);
    expect(text).not.toContain(sc.me.publicKey.toString("hex"));
  });
});

describe("routing when the label holder does not answer", () => {
  test("owner down -> the prediction task's tag part -> the model's other data sets in order; never outside", async () => {
    const g = await gateway();
    const [e0, e1, e2, e3] = sc.executors;
    const request = wire("task_request");
    try {
      await g.client.call(request);
      e2!.setResult(sig.taskID, sc.payloads.get(sig.taskID)!);
      await e1!.stop();
      for (const e of sc.executors) e.resetCalls();
      const attempts: PredictAttempt[] = [];
      g.predictions.attempts.subscribe((a) => void attempts.push(a));

      const body = await g.client.call(request);
      expect(body.equals(predictResponseBytes(sig.taskID, sc.payloads.get(sig.taskID)!))).toBe(true);
      expect(attempts.map((a) => [a.address, a.role, a.outcome])).toEqual([
        [e1!.address, "owner", "unreachable"],
        [e3!.address, "predict-tag-part", "not-found"],
        [e0!.address, "model-data-set", "not-found"],
        [e2!.address, "model-data-set", "ok"],
      ]);
      // E1 is down (0 calls); the outsider E4 holds the result too but is never asked.
      expect(predictCalls(sc.executors)).toEqual([1, 0, 1, 1, 0]);
      expect(g.predictions.stats.servedByFallback).toBe(1);

      // Nobody reachable has it: UNAVAILABLE naming the owner, still nothing outside the model.
      e2!.deleteResult(sig.taskID);
      for (const e of sc.executors) e.resetCalls();
      const r = await g.client.status(request);
      expect(r.code).toBe(S.UNAVAILABLE);
      expect(r.details).toContain(e1!.address);
      expect(predictCalls(sc.executors)).toEqual([1, 0, 1, 1, 0]);
    } finally {
      await e1!.start();
      g.client.close();
      await g.gw.stop();
    }
  });

  test("a label holder answering NOT_FOUND is followed; one answering an error is not", async () => {
    const g = await gateway();
    const id = sc.ids.mine;
    const payload = sc.payloads.get(id)!;
    try {
      sc.executors[1]!.deleteResult(id);
      sc.executors[3]!.setResult(id, payload);
      const body = await g.client.call(signedRequest(sc.me, id));
      expect(body.equals(predictResponseBytes(id, payload))).toBe(true);
      // This task flags no tag part of its own: E1, then the model's order E0, E2, E3.
      expect(predictCalls(sc.executors)).toEqual([1, 1, 1, 1, 0]);

      for (const e of sc.executors) e.resetCalls();
      sc.executors[1]!.mode = "error";
      const r = await g.client.status(signedRequest(sc.me, id));
      expect(S[r.code]).toBe("INTERNAL");
      expect(predictCalls(sc.executors)).toEqual([0, 1, 0, 0, 0]);
    } finally {
      sc.executors[1]!.mode = "ok";
      sc.executors[1]!.setResult(id, payload);
      sc.executors[3]!.deleteResult(id);
      g.client.close();
      await g.gw.stop();
    }
  });
});

describe("size limit (predict.maxBytes)", () => {
  const LIMIT = 64 * 1024;

  /** A payload whose PredictResponse encoding is exactly `size` bytes. */
  function payloadForReplySize(taskID: string, size: number): Buffer {
    let n = size;
    for (;;) {
      const bytes = predictResponseBytes(taskID, Buffer.alloc(n, 0x61)).length;
      if (bytes === size) return Buffer.alloc(n, 0x61);
      n += size - bytes;
    }
  }

  // maxResponseBytes above the limit: the pool's own size check; below it: grpc-js's receive limit.
  test.each([
    ["pool check", 1024 * 1024],
    ["channel receive limit", 16 * 1024],
  ])("a reply at the limit is relayed, one byte over is RESOURCE_EXHAUSTED (%s)", async (_name, maxResponseBytes) => {
    const g = await gateway({ maxBytes: LIMIT }, { maxResponseBytes });
    const id = sc.ids.mine;
    try {
      const atLimit = payloadForReplySize(id, LIMIT);
      sc.executors[1]!.setResult(id, atLimit);
      const body = await g.client.call(signedRequest(sc.me, id));
      expect(body.length).toBe(LIMIT);
      expect(body.equals(predictResponseBytes(id, atLimit))).toBe(true);

      sc.executors[1]!.setResult(id, payloadForReplySize(id, LIMIT + 1));
      const r = await g.client.status(signedRequest(sc.me, id));
      expect(S[r.code]).toBe("RESOURCE_EXHAUSTED");
      expect(r.details).toContain("predict.maxBytes");
      // Too large is final: no fallback to other Executors.
      expect(predictCalls(sc.executors)).toEqual([0, 2, 0, 0, 0]);
      expect(g.predictions.stats.refused.too_large).toBe(1);
    } finally {
      sc.executors[1]!.setResult(id, sc.payloads.get(id)!);
      g.client.close();
      await g.gw.stop();
    }
  });
});

describe("large results with the default limits", () => {
  test("a 20 MiB result (beyond gRPC's default 4 MiB) is relayed byte for byte", async () => {
    const g = await gateway();
    const id = sc.ids.mine;
    const big = Buffer.alloc(20 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
    try {
      sc.executors[1]!.setResult(id, big);
      const body = await g.client.call(signedRequest(sc.me, id));
      expect(body.equals(predictResponseBytes(id, big))).toBe(true);
      expect(predictCalls(sc.executors)).toEqual([0, 1, 0, 0, 0]);
    } finally {
      sc.executors[1]!.setResult(id, sc.payloads.get(id)!);
      g.client.close();
      await g.gw.stop();
    }
  });
});

describe("rate limit (predict.ratePerMinute)", () => {
  test("a key gets ratePerMinute calls, then RESOURCE_EXHAUSTED without an upstream call; forgeries cost nothing", async () => {
    const g = await gateway({ ratePerMinute: 2 });
    try {
      // Forged requests in the requester's name do not drain its bucket.
      for (let i = 0; i < 3; i++) {
        const r = await g.client.status(fixtureRequest(hex(sig.tampered_signature_hex)));
        expect(r.code).toBe(S.UNAUTHENTICATED);
      }
      const request = wire("task_request");
      await g.client.call(request);
      await g.client.call(request);
      const r = await g.client.status(request);
      expect(S[r.code]).toBe("RESOURCE_EXHAUSTED");
      expect(r.details).toContain("predict.ratePerMinute");
      expect(predictCalls(sc.executors)).toEqual([0, 2, 0, 0, 0]);
      // Another key has its own bucket.
      await g.client.call(signedRequest(sc.me, sc.ids.mine));
      expect(g.predictions.stats.refused.rate_limited).toBe(1);
      expect(g.predictions.stats.refused.bad_signature).toBe(3);
    } finally {
      g.client.close();
      await g.gw.stop();
    }
  });

  test("off by default", async () => {
    const g = await gateway();
    try {
      for (let i = 0; i < 5; i++) await g.client.call(wire("task_request"));
      expect(predictCalls(sc.executors)).toEqual([0, 5, 0, 0, 0]);
      expect(g.predictions.stats.refused.rate_limited).toBe(0);
    } finally {
      g.client.close();
      await g.gw.stop();
    }
  });
});

describe("relays at once (predict.maxConcurrent)", () => {
  test("beyond maxConcurrent a request is refused with RESOURCE_EXHAUSTED and never reaches an Executor", async () => {
    const g = await gateway({ maxConcurrent: 1 });
    const owner = sc.executors[1]!;
    try {
      const before = predictCalls(sc.executors);
      owner.latencyMs = 400;
      const request = wire("task_request");
      const first = g.client.call(request);
      await new Promise((r) => setTimeout(r, 150));
      const second = await g.client.status(request);
      expect(S[second.code]).toBe("RESOURCE_EXHAUSTED");
      expect(second.details).toContain("predict.maxConcurrent");
      await first;
      const after = predictCalls(sc.executors);
      expect(after.map((n, i) => n - before[i]!)).toEqual([0, 1, 0, 0, 0]);
      expect(g.predictions.stats.refused.too_many_in_flight).toBe(1);
      // The slot is free again once the first relay is done.
      owner.latencyMs = 0;
      await g.client.call(request);
    } finally {
      owner.latencyMs = 0;
      g.client.close();
      await g.gw.stop();
    }
  });
});

describe("the upstream request and the reply are relayed untouched", () => {
  test("unknown fields in the client's request reach the Executor; unknown reply fields reach the client", async () => {
    const received: Buffer[] = [];
    const model = FLTask.fromPartial({
      iD: "model-r",
      requester: sc.me.publicKey,
      status: "Finished",
      algoParam: { taskType: TaskType.LEARN },
      dataSets: [{ address: "PLACEHOLDER", isTagPart: true, executor: Buffer.alloc(64, 7) }],
    });
    const predict = FLTask.fromPartial({
      iD: "predict-r",
      requester: sc.me.publicKey,
      status: "Finished",
      algoParam: { taskType: TaskType.PREDICT, modelTaskID: "model-r" },
    });
    // PredictResponse plus a field 9 no schema here knows.
    const reply = Buffer.concat([
      predictResponseBytes("predict-r", Buffer.from('[["id"]]')),
      Buffer.from([0x4a, 0x02, 0xbe, 0xef]),
    ]);
    const tasks = new Map<string, Buffer>();
    const server = new grpc.Server();
    server.addService(RAW_TASK_SERVICE, {
      GetTaskById: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const raw = tasks.get(GetTaskRequest.decode(call.request).taskID);
        if (raw) cb(null, raw);
        else cb({ code: S.UNKNOWN, details: '{"code":"XDAT0004","message":"not found"}' });
      },
      GetPredictResult: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        received.push(call.request);
        cb(null, reply);
      },
      ListTask: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        cb(null, Buffer.alloc(0)),
      StartTask: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        cb({ code: S.UNIMPLEMENTED }),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    model.dataSets[0]!.address = `127.0.0.1:${port}`;
    tasks.set("model-r", Buffer.from(FLTask.encode(model).finish()));
    tasks.set("predict-r", Buffer.from(FLTask.encode(predict).finish()));

    const config = testConfig({
      listen: "127.0.0.1:0",
      httpListen: "127.0.0.1:0",
      executors: { seeds: [`127.0.0.1:${port}`] },
      log: { level: "silent" },
    });
    const gw = await startGateway(config, createLogger("silent"));
    const client = new RawPredictClient(`127.0.0.1:${gw.grpcPort}`);
    try {
      const request = Buffer.concat([signedRequest(sc.me, "predict-r"), Buffer.from([0x78, 0x2a])]);
      const body = await client.call(request);
      expect(received).toHaveLength(1);
      expect(received[0]!.equals(request)).toBe(true);
      expect(body.equals(reply)).toBe(true);
    } finally {
      client.close();
      await gw.stop();
      server.forceShutdown();
    }
  });
});
