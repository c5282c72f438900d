/**
 * A simulated Executor: a real gRPC server implementing `task.Task` as spec'd —
 * ListTask filters/order/limit, GetTaskById, GetPredictResult with its checks in the
 * Executor's order, and the Executor's error shapes (UNKNOWN + embedded JSON code).
 * Knobs make it slow, failing, down, or send garbage, for tests and benchmarks.
 */
import * as grpc from "@grpc/grpc-js";
import { PredictResponse, TaskRequest, GetTaskRequest } from "../gen/task/task";
import { RAW_TASK_SERVICE } from "../api/task-service";
import { listQueryOf } from "../generations/executors";
import { decodeListRequest, type Generation, type ListRequestFields } from "../generations/list-request";
import { signingMessage } from "../generations/signature";
import { publicKeyFromRaw, SIGNATURE_BYTES } from "../crypto/p256";
import crypto from "node:crypto";
import { compareListOrder } from "../merge/merge";
import { matchesQuery } from "../merge/filter";
import { decodeTaskView, encodeTaskList, type TaskView } from "../wire/task-view";

export type SimMode = "ok" | "error" | "garbage" | "notfound";

const PREDICT = 1;

function executorError(code: string, message: string): grpc.ServiceError {
  return Object.assign(new Error(message), {
    code: grpc.status.UNKNOWN,
    details: JSON.stringify({ code, message }),
    metadata: new grpc.Metadata(),
  });
}

export class SimExecutor {
  private readonly tasks = new Map<string, TaskView>();
  private readonly results = new Map<string, Buffer>();
  private server?: grpc.Server;
  mode: SimMode = "ok";
  /**
   * The wire generation (spec §10): v3 reads the v3 ListTaskRequest layout with its key
   * semantics, accepts only v3-signed prediction requests and uses 100xx codes.
   */
  generation: Generation = "v2";
  latencyMs = 0;
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
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs).unref());
    if (this.mode === "error") throw executorError(this.code("XDAT0001"), "internal error: ledger unavailable");
    if (this.mode === "garbage") return Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]);
    return build();
  }

  private list(bytes: Buffer): Buffer {
    if (this.generation === "v3") return this.listV3(decodeListRequest(bytes, "v3"));
    const req = decodeListRequest(bytes, "v2");
    // No key matches nothing: a single Executor never lists "all tasks".
    if (req.pubKey.length === 0) return Buffer.alloc(0);
    const q = listQueryOf(req);
    const out = [...this.tasks.values()].filter((t) => matchesQuery(t, q)).sort(compareListOrder);
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

  /** Error codes: v3 Executors use xdb's 100xx codes; this simulator's v2 mode its XDAT ones. */
  private code(xdat: string): string {
    if (this.generation !== "v3") return xdat;
    return (
      { XDAT0001: "10001", XDAT0002: "10002", XDAT0004: "10004", XDAT0006: "10006", XDAT0008: "10008" }[xdat] ?? xdat
    );
  }

  private verify(req: TaskRequest): boolean {
    const pubKey = Buffer.from(req.pubKey);
    const sig = Buffer.from(req.signature);
    const key = publicKeyFromRaw(pubKey);
    if (key === null || sig.length !== SIGNATURE_BYTES) return false;
    return crypto.verify(
      "sha256",
      signingMessage(this.generation, pubKey, req.taskID),
      { key, dsaEncoding: "ieee-p1363" },
      sig,
    );
  }

  private get(req: GetTaskRequest): Buffer {
    if (this.mode === "notfound") throw executorError(this.code("XDAT0004"), `task ${req.taskID} not found`);
    const t = this.tasks.get(req.taskID);
    if (!t) throw executorError(this.code("XDAT0004"), `task ${req.taskID} not found`);
    return t.raw;
  }

  private predict(req: TaskRequest): Buffer {
    const t = this.tasks.get(req.taskID);
    if (!t) throw executorError(this.code("XDAT0004"), `task ${req.taskID} not found`);
    if (t.taskType !== PREDICT) throw executorError(this.code("XDAT0002"), "not a prediction task");
    if (!t.requester.equals(Buffer.from(req.pubKey))) {
      throw executorError(this.code("XDAT0006"), "not the requester of the task");
    }
    if (!this.verify(req)) throw executorError(this.code("XDAT0008"), "bad signature");
    const payload = this.results.get(req.taskID);
    if (!payload) throw executorError(this.code("XDAT0004"), "prediction result not found on this executor");
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
      ListTask: this.handler("ListTask", (b) => this.list(b)),
      GetTaskById: this.handler("GetTaskById", (b) => this.get(GetTaskRequest.decode(b))),
      GetPredictResult: this.handler("GetPredictResult", (b) => this.predict(TaskRequest.decode(b))),
      StartTask: this.handler("StartTask", () => {
        throw executorError(this.code("XDAT0002"), "StartTask is not simulated");
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
