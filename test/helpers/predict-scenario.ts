/**
 * A prediction scenario on real simulated Executors: a finished model task over four
 * Executors (label holder = data set 1), prediction tasks in the states the gateway
 * must refuse, and an extra Executor outside the model that holds everything too, so
 * a call routed there would succeed (and be seen).
 */
import * as http2 from "node:http2";
import crypto from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { TaskType } from "../../src/gen/common/common";
import { FLTask, PredictResponse, TaskRequest, type DataForTask } from "../../src/gen/task/task";
import { RAW_TASK_SERVICE } from "../../src/api/task-service";
import type { KeyPair } from "../../src/crypto/p256";
import { signWithRule, type SignatureRule } from "../../src/generations/signature";
import { deterministicKeyPair } from "../../src/sim/ledger";
import { SimExecutor } from "../../src/sim/executor";
import type { ExecutorVersion } from "../../src/sim/version";
import { signature as sigFixture } from "./fixtures";

export interface PredictScenario {
  /** E0..E3 are the model's data sets (E1 the label holder); E4 is outside the model. */
  executors: SimExecutor[];
  /** Requester of the tasks below except `fixture` (whose requester is the fixture key). */
  me: KeyPair;
  ids: {
    model: string;
    /** ID and requester from test/fixtures/signature.json; Finished; own tag part on E3. */
    fixture: string;
    mine: string;
    unfinished: string;
    failed: string;
    training: string;
  };
  payloads: Map<string, Buffer>;
  putEverywhere(task: FLTask): void;
  stop(): Promise<void>;
}

const NS = 1_000_000_000n;
const BASE = 1_764_316_800_000_000_000n;

function encode(t: FLTask): Buffer {
  return Buffer.from(FLTask.encode(t).finish());
}

export function randomPayload(rows: number): Buffer {
  const out = [["id", "prediction"]];
  for (let i = 0; i < rows; i++) out.push([String(1000 + i), (crypto.randomInt(0, 1e6) / 1e4).toFixed(4)]);
  return Buffer.from(JSON.stringify(out));
}

export async function startPredictScenario(version: ExecutorVersion = "v2"): Promise<PredictScenario> {
  const executors = Array.from({ length: 5 }, (_, i) => new SimExecutor("127.0.0.1", `E${i}`));
  for (const e of executors) {
    e.version = version;
    await e.start();
  }
  const keys = executors.map((_, i) => deterministicKeyPair(`predict-scenario-executor-${i}`));
  const me = deterministicKeyPair("predict-scenario-requester");
  const fixtureKey = Buffer.from(sigFixture.pubKey_hex, "hex");

  const dataSets = (tagPart: (i: number) => boolean): DataForTask[] =>
    [0, 1, 2, 3].map((i) => ({
      owner: keys[i]!.publicKey,
      executor: keys[i]!.publicKey,
      dataID: `data-${i}`,
      PSILabel: "id",
      confirmedAt: BASE + BigInt(i + 1) * NS,
      rejectedAt: 0n,
      address: executors[i]!.address,
      isTagPart: tagPart(i),
    }));

  const ids = {
    model: crypto.randomUUID(),
    fixture: sigFixture.taskID,
    mine: crypto.randomUUID(),
    unfinished: crypto.randomUUID(),
    failed: crypto.randomUUID(),
    training: crypto.randomUUID(),
  };
  const training = (id: string, requester: Buffer): FLTask =>
    FLTask.fromPartial({
      iD: id,
      name: "model",
      requester,
      // Entries after the label holder inherit the flag (spec §6): E1 is the holder.
      dataSets: dataSets((i) => i >= 1),
      algoParam: { taskType: TaskType.LEARN, trainParams: { label: "MEDV", isTagPart: true } },
      status: "Finished",
      publishTime: BASE,
      startTime: BASE + 30n * NS,
      endTime: BASE + 300n * NS,
    });
  const prediction = (id: string, requester: Buffer, status: string, errMessage = "", ownTag = -1): FLTask =>
    FLTask.fromPartial({
      iD: id,
      name: `predict-${status}`,
      requester,
      dataSets: dataSets((i) => i === ownTag),
      algoParam: { taskType: TaskType.PREDICT, modelTaskID: ids.model },
      status,
      errMessage,
      publishTime: BASE + 1000n * NS,
      startTime: BASE + 1030n * NS,
      endTime: status === "Finished" || status === "Failed" ? BASE + 1300n * NS : 0n,
    });

  const tasks = [
    training(ids.model, me.publicKey),
    training(ids.training, me.publicKey),
    prediction(ids.fixture, fixtureKey, "Finished", "", 3),
    prediction(ids.mine, me.publicKey, "Finished"),
    prediction(ids.unfinished, me.publicKey, "Processing"),
    prediction(ids.failed, me.publicKey, "Failed", "training diverged: loss is NaN"),
  ];
  const putEverywhere = (t: FLTask): void => {
    for (const e of executors) e.putRaw(encode(t));
  };
  for (const t of tasks) putEverywhere(t);

  const payloads = new Map<string, Buffer>();
  for (const id of [ids.fixture, ids.mine]) {
    const p = randomPayload(20);
    payloads.set(id, p);
    // The label holder has it, and so does the Executor outside the model (which must never be asked).
    executors[1]!.setResult(id, p);
    executors[4]!.setResult(id, p);
  }
  return {
    executors,
    me,
    ids,
    payloads,
    putEverywhere,
    async stop() {
      await Promise.all(executors.map((e) => e.stop()));
    },
  };
}

/** Encodes a GetPredictResult request. */
export function predictRequest(pubKey: Buffer, taskID: string, signature: Buffer): Buffer {
  return Buffer.from(TaskRequest.encode({ pubKey, taskID, signature }).finish());
}

/** A request signed under `rule` (the generation of the Executor that holds the result; v2 by default). */
export function signedRequest(kp: KeyPair, taskID: string, rule: SignatureRule = "v2"): Buffer {
  return predictRequest(kp.publicKey, taskID, signWithRule(kp, taskID, rule));
}

const identity = (b: Buffer): Buffer => b;

/** A raw-bytes GetPredictResult client: what goes out and comes back is exactly the wire bytes. */
export class RawPredictClient {
  private readonly client: grpc.Client;
  constructor(address: string) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": -1,
      "grpc.max_send_message_length": -1,
    });
  }

  call(request: Buffer, deadlineMs = 20_000): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        RAW_TASK_SERVICE.GetPredictResult!.path,
        identity,
        identity,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
        (err, value) => (err || !value ? reject(err ?? new Error("empty reply")) : resolve(value)),
      );
    });
  }

  /** Resolves to the status code (OK when it succeeded) and details. */
  async status(request: Buffer): Promise<{ code: grpc.status; details: string; body?: Buffer }> {
    try {
      const body = await this.call(request);
      return { code: grpc.status.OK, details: "", body };
    } catch (err) {
      const e = err as grpc.ServiceError;
      return { code: e.code, details: e.details };
    }
  }

  close(): void {
    this.client.close();
  }
}

/** The PredictResponse encoding for a payload, as an Executor sends it. */
export function predictResponseBytes(taskID: string, payload: Buffer): Buffer {
  return Buffer.from(PredictResponse.encode({ taskID, payload }).finish());
}

export function predictCalls(executors: SimExecutor[]): number[] {
  return executors.map((e) => e.calls.GetPredictResult ?? 0);
}

/**
 * One GetPredictResult on a raw HTTP/2 stream of its own session (request sent, reply
 * not read yet): for clients that read slowly or not at all. `windowBytes` is the
 * client's stream window.
 */
export function rawPredictStream(
  port: number,
  request: Buffer,
  windowBytes: number,
  headers: http2.OutgoingHttpHeaders = {},
): { session: http2.ClientHttp2Session; stream: http2.ClientHttp2Stream } {
  const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: windowBytes } });
  session.on("error", () => undefined);
  const stream = session.request({
    ":method": "POST",
    ":path": "/task.Task/GetPredictResult",
    "content-type": "application/grpc",
    te: "trailers",
    ...headers,
  });
  stream.on("error", () => undefined);
  const frame = Buffer.alloc(5 + request.length);
  frame.writeUInt32BE(request.length, 1);
  request.copy(frame, 5);
  stream.end(frame);
  return { session, stream };
}
