/**
 * A simulated Executor: a real gRPC server implementing `task.Task` as a PaddleDTX
 * Executor of the chosen release does (src/sim/version.ts; default v2.x) — ListTask's
 * filters/order/limit with no validation of its own, GetTaskById, GetPredictResult with
 * its checks in the Executor's order, and the Executor's error shapes (UNKNOWN + an
 * embedded JSON code, wrapped in context). Written from the spec and the v2.0.1 source,
 * not from the gateway's own filter code.
 * Knobs make it slow, failing, down, or send garbage, for tests and benchmarks.
 */
import crypto from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { ListTaskRequest, PredictResponse, TaskRequest, GetTaskRequest } from "../gen/task/task";
import { RAW_TASK_SERVICE } from "../api/task-service";
import { publicKeyFromRaw } from "../crypto/p256";
import { decodeListRequest, type Generation, type ListRequestFields } from "../generations/list-request";
import { signingMessage } from "../generations/signature";
import { decodeTaskView, encodeTaskList, type TaskView } from "../wire/task-view";
import { DEFAULT_EXECUTOR_VERSION, EXECUTOR_BEHAVIOUR, type ExecutorBehaviour, type ExecutorVersion } from "./version";

export type SimMode = "ok" | "error" | "garbage" | "notfound";

const PREDICT = 1;
const SIGNATURE_BYTES = 64;

/** An error as an Executor's handler returns it: UNKNOWN, `context: {"code":..,"message":..}`. */
function executorError(code: string, message: string, context = ""): grpc.ServiceError {
  const details = `${context}${JSON.stringify({ code, message })}`;
  return Object.assign(new Error(details), { code: grpc.status.UNKNOWN, details, metadata: new grpc.Metadata() });
}

/** Go's `x >= y` on two strings: byte order of their UTF-8. */
function compareIds(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

export class SimExecutor {
  private readonly tasks = new Map<string, TaskView>();
  private readonly results = new Map<string, Buffer>();
  private server?: grpc.Server;
  mode: SimMode = "ok";
  /** When set, every call fails with this kind of Executor error, in this release's code family. */
  failWith?: keyof ExecutorBehaviour["codes"];
  /** Which release this Executor behaves like (error codes, timeEnd = 0). */
  version: ExecutorVersion = DEFAULT_EXECUTOR_VERSION;
  latencyMs = 0;
  /** Latency of one method, instead of `latencyMs`. */
  readonly methodLatencyMs: Partial<Record<"ListTask" | "GetTaskById" | "GetPredictResult", number>> = {};
  /** Calls received, by method name. */
  readonly calls: Record<string, number> = { ListTask: 0, GetTaskById: 0, GetPredictResult: 0, StartTask: 0 };
  port = 0;

  constructor(
    readonly host = "127.0.0.1",
    readonly name = "executor",
  ) {}

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** Stores a task as these exact bytes (what the Executor will send). */
  putRaw(raw: Buffer): TaskView {
    const view = decodeTaskView(Buffer.from(raw));
    this.tasks.set(view.id, view);
    return view;
  }

  deleteTask(id: string): void {
    this.tasks.delete(id);
  }

  setResult(taskID: string, payload: Buffer): void {
    this.results.set(taskID, payload);
  }

  deleteResult(taskID: string): void {
    this.results.delete(taskID);
  }

  taskIds(): string[] {
    return [...this.tasks.keys()];
  }

  /** The tasks this Executor holds now (tests compute expected answers from them). */
  taskViews(): TaskView[] {
    return [...this.tasks.values()];
  }

  resetCalls(): void {
    for (const k of Object.keys(this.calls)) this.calls[k] = 0;
  }

  private async respond(method: string, build: () => Buffer): Promise<Buffer> {
    this.calls[method] = (this.calls[method] ?? 0) + 1;
    // unref: a pending simulated delay must not keep a stopping process alive.
    const latencyMs = this.methodLatencyMs[method as keyof typeof this.methodLatencyMs] ?? this.latencyMs;
    if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs).unref());
    if (this.failWith) throw executorError(this.codes[this.failWith], `simulated ${this.failWith} error`);
    if (this.mode === "error") {
      throw executorError(this.codes.internal, "internal error: ledger unavailable", "failed to QueryNativeContract: ");
    }
    if (this.mode === "garbage") return Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]);
    return build();
  }

  /** The wire generation of this release (src/sim/version.ts). */
  get generation(): Generation {
    return EXECUTOR_BEHAVIOUR[this.version].generation;
  }

  private get codes(): ExecutorBehaviour["codes"] {
    return EXECUTOR_BEHAVIOUR[this.version].codes;
  }

  /**
   * The contract's ListTask (dai/blockchain/xchain/contract/task.go): the tasks indexed
   * under the key — published by it or with its Executor in a data set — newest first,
   * then by ID; `timeStart <= publishTime`, `publishTime <= timeEnd` (v2.x: only when
   * timeEnd > 0), exact status; `limit > 0` caps. Nothing is validated: a key of any
   * other length (the empty one included) is simply indexed under no task.
   */
  private list(req: ListTaskRequest): Buffer {
    const key = Buffer.from(req.pubKey);
    const openEnd = EXECUTOR_BEHAVIOUR[this.version].openEndedTimeEnd;
    const out: TaskView[] = [];
    for (const t of this.tasks.values()) {
      if (key.length === 0) break;
      if (!t.requester.equals(key) && !t.dataSets.some((d) => d.executor.equals(key))) continue;
      if (t.publishTime < req.timeStart) continue;
      if ((openEnd ? req.timeEnd > 0n : true) && t.publishTime > req.timeEnd) continue;
      if (req.status !== "" && t.status !== req.status) continue;
      out.push(t);
    }
    out.sort((a, b) =>
      a.publishTime !== b.publishTime ? (a.publishTime > b.publishTime ? -1 : 1) : compareIds(a.id, b.id),
    );
    if (req.limit > 0n && BigInt(out.length) > req.limit) out.length = Number(req.limit);
    return encodeTaskList(out);
  }

  /**
   * The v3 contract's ListTask (PaddleDTX main, dai/blockchain/xchain/contract): index
   * entries `index_fltask_list/<key hex>/<MaxInt64 - publishTime>/<id>` for the requester
   * and each data set's executor, and `index_re_fltask_list/<requester>/<executor>/…` per
   * data set; the filter is a prefix — both keys: `index_re…/<r>/<e>` (no trailing slash:
   * a shorter executor key matches as a hex prefix), one key: `index_fltask_list/<key>/`,
   * none: `index_fltask_list//` (nothing). Walked in key order, then filtered
   * (timeStart, timeEnd > 0, status) and capped. Written from the contract, not from
   * the gateway's filter code.
   */
  private listV3(req: ListRequestFields): Buffer {
    const hex = (b: Buffer): string => b.toString("hex");
    const index = new Map<string, TaskView>();
    const inv = (t: TaskView): string => (9_223_372_036_854_775_807n - t.publishTime).toString();
    for (const t of this.tasks.values()) {
      const suffix = `${inv(t)}/${t.id}`;
      index.set(`index_fltask_list/${hex(t.requester)}/${suffix}`, t);
      for (const ds of t.dataSets) {
        index.set(`index_fltask_list/${hex(ds.executor)}/${suffix}`, t);
        index.set(`index_re_fltask_list/${hex(t.requester)}/${hex(ds.executor)}/${suffix}`, t);
      }
    }
    const prefix =
      req.pubKey.length > 0 && req.ePubKey.length > 0
        ? `index_re_fltask_list/${hex(req.pubKey)}/${hex(req.ePubKey)}`
        : `index_fltask_list/${hex(req.pubKey.length > 0 ? req.pubKey : req.ePubKey)}/`;
    const keys = [...index.keys()].filter((k) => k.startsWith(prefix));
    keys.sort((a, b) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8")));
    const out: TaskView[] = [];
    for (const k of keys) {
      if (req.limit > 0n && BigInt(out.length) >= req.limit) break;
      const t = index.get(k)!;
      if (t.publishTime < req.timeStart || (req.timeEnd > 0n && t.publishTime > req.timeEnd)) continue;
      if (req.status !== "" && t.status !== req.status) continue;
      out.push(t);
    }
    return encodeTaskList(out);
  }

  private notFound(context: string): grpc.ServiceError {
    return executorError(this.codes.notFound, "task not found", `${context}: failed to QueryNativeContract: `);
  }

  private get(req: GetTaskRequest): Buffer {
    if (this.mode === "notfound") throw this.notFound("failed get task by id");
    const t = this.tasks.get(req.taskID);
    if (!t) throw this.notFound("failed get task by id");
    return t.raw;
  }

  /** engine.GetPredictResult: task, task type, requester, signature, stored result — in that order. */
  private predict(req: TaskRequest): Buffer {
    const t = this.tasks.get(req.taskID);
    if (!t) throw this.notFound("failed get predict result");
    if (t.taskType !== PREDICT) throw executorError(this.codes.param, "illegal taskId, not a predict task");
    const pubKey = Buffer.from(req.pubKey);
    if (!t.requester.equals(pubKey)) throw executorError(this.codes.param, "public key is invalid");
    const signature = Buffer.from(req.signature);
    if (signature.length !== SIGNATURE_BYTES) {
      throw executorError(this.codes.param, "bad param:signature", "get predict result failed: ");
    }
    // v2: m := fmt.Sprintf("%x,%s", in.PubKey, in.TaskID), hashed as UTF-8 bytes; v3: util.GetSigMessage(in).
    const message = signingMessage(this.generation, pubKey, req.taskID);
    const key = publicKeyFromRaw(pubKey);
    if (key === null || !crypto.verify("sha256", message, { key, dsaEncoding: "ieee-p1363" }, signature)) {
      throw executorError(this.codes.badSignature, "failed to verify signature", "get predict result failed: ");
    }
    const payload = this.results.get(req.taskID);
    if (!payload) {
      throw executorError(this.codes.notFound, "prediction result not found", "failed to get reader from xuperdb: ");
    }
    return Buffer.from(PredictResponse.encode({ taskID: req.taskID, payload }).finish());
  }

  private handler(method: string, fn: (req: Buffer) => Buffer): grpc.handleUnaryCall<Buffer, Buffer> {
    return (call, callback) => {
      this.respond(method, () => fn(call.request)).then(
        (body) => callback(null, body),
        (err: grpc.ServiceError) => callback(err),
      );
    };
  }

  async start(port = 0): Promise<void> {
    const server = new grpc.Server({
      "grpc.max_send_message_length": -1,
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
    });
    server.addService(RAW_TASK_SERVICE, {
      ListTask: this.handler("ListTask", (b) =>
        this.generation === "v3" ? this.listV3(decodeListRequest(b, "v3")) : this.list(ListTaskRequest.decode(b)),
      ),
      GetTaskById: this.handler("GetTaskById", (b) => this.get(GetTaskRequest.decode(b))),
      GetPredictResult: this.handler("GetPredictResult", (b) => this.predict(TaskRequest.decode(b))),
      StartTask: this.handler("StartTask", () => {
        throw executorError(this.codes.param, "StartTask is not simulated");
      }),
    });
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${this.host}:${port || this.port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    this.server = server;
  }

  /** Takes the Executor down (connections refused) until start() is called again. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    server?.forceShutdown();
  }

  get running(): boolean {
    return this.server !== undefined;
  }
}
