/**
 * The v3 HTTP/JSON API (config `v3.httpListen`, off by default): PaddleDTX main's
 * Executor HTTP server (grpc-gateway v1.16 with its own success and error handlers,
 * spec §10) reproduced in front of the whole cluster, on a fastify instance of its own.
 *
 * - `POST /v1/task/list`, `/v1/task/getbyid`, `/v1/task/predictres/get`; bodies read as
 *   request-json.ts says (v3 field names, unknown fields ignored, any Content-Type).
 * - Always HTTP 200. Success: `{"code":"0","message":"","data":<message>}`, `data` rendered
 *   by render.ts as Go's json.Marshal renders the v3 structs (an empty list is `{}`); a
 *   NaN or infinite double anywhere makes json.Marshal fail and the v3 server send an
 *   empty body, and so does this one.
 * - Errors: `{"code":"<code>","message":"...","data":null}`. An Executor's error relayed
 *   (its message embeds `{"code":"100xx",...}`) gives that code and message, found the
 *   way v3's handler finds it (the first `{` to the first `}` of the Go error text
 *   `rpc error: code = <Code> desc = <message>`); the gateway's own errors get the code
 *   of their class (not found 10004, bad parameter 10002, bad signature 10008, not
 *   authorized 10006, else internal 10001). Unknown routes: 10001 "Not Implemented";
 *   a known path with another method: 10001 "Method Not Allowed".
 * - `v3.allowCors`: `Access-Control-Allow-Origin` echoes the request's Origin; an OPTIONS
 *   preflight gets the allowed headers and methods and an empty 200.
 */
import { status as Status } from "@grpc/grpc-js";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { checkedListQuery } from "../api/list-request";
import { checkListAnswer, readList, requireGetAnswer } from "../api/answer-rules";
import type { RequestPipeline, ServedContext } from "../api/pipeline";
import { validateGetRequest } from "../api/validate";
import { GatewayError } from "../core/errors";
import type { TaskReader } from "../core/reader";
import { TaskRequest } from "../gen/task/task";
import { listQueryOf } from "../generations/executors";
import type { PredictService } from "../predict/service";
import { GoJsonUnsupportedValue, goJsonString } from "./go-json";
import { FLTaskSpec, PredictResponseSpec, renderMessage, renderTaskList } from "./render";
import { JsonRequestError, parseRequestJson } from "./request-json";
import { httpServedCall } from "../http/served-call";

export interface V3HttpOptions {
  allowCors: boolean;
  /** Most tasks one ListTask answer may hold (api.maxListTasks). */
  maxListTasks: number;
  maxRequestBytes: number;
  /** A client that has not taken its prediction reply this long after it was ready is cut off (predict.writeTimeoutMs). */
  predictWriteTimeoutMs: number;
  /**
   * The HTTP side's bounds (`http.maxConnections`, `http.*TimeoutMs`): this listener must
   * not take the process's sockets or time from the Task API either.
   */
  maxConnections?: number;
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
}

export interface V3HttpDeps {
  reader: TaskReader;
  predictions?: PredictService;
  /** The request pipeline the gRPC service and the other HTTP routes use (ids, logs, metrics, deadlines, admission). */
  pipeline: RequestPipeline;
}

/** gRPC code names as Go's `codes.Code.String()` spells them. */
const GO_CODE: Record<number, string> = {
  0: "OK",
  1: "Canceled",
  2: "Unknown",
  3: "InvalidArgument",
  4: "DeadlineExceeded",
  5: "NotFound",
  6: "AlreadyExists",
  7: "PermissionDenied",
  8: "ResourceExhausted",
  9: "FailedPrecondition",
  10: "Aborted",
  11: "OutOfRange",
  12: "Unimplemented",
  13: "Internal",
  14: "Unavailable",
  15: "DataLoss",
  16: "Unauthenticated",
};

/** The code class of the gateway's own errors (PaddleDTX xdb errorx codes, spec §7). */
const OWN_CODE: Partial<Record<number, string>> = {
  [Status.NOT_FOUND]: "10004",
  [Status.INVALID_ARGUMENT]: "10002",
  [Status.FAILED_PRECONDITION]: "10002",
  [Status.UNAUTHENTICATED]: "10008",
  [Status.PERMISSION_DENIED]: "10006",
};

/** v3's httpErrorHandler: errorx.TryParseFromString on the first `{`…first `}` of the error text. */
export function embeddedError(text: string): { code: string; message: string } | undefined {
  const start = text.indexOf("{");
  const stop = text.indexOf("}");
  if (!(start > 0 && stop > 0 && stop >= start)) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text.slice(start, stop + 1));
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
  let code = "";
  let message = "";
  // Go's json matches struct fields case-insensitively; a value of another type is an error.
  for (const [k, val] of Object.entries(v)) {
    const key = k.toLowerCase();
    if (key !== "code" && key !== "message") continue;
    if (val === null) continue;
    if (typeof val !== "string") return undefined;
    if (key === "code") code = val;
    else message = val;
  }
  return code === "0" ? undefined : { code, message };
}

/**
 * The v3 server's error body for a status and message. `own`: an error of the gateway's
 * own (coded by class); otherwise one grpc-gateway itself raises (10001 + the Go text).
 */
export function v3ErrorBody(code: Status, message: string, own = true): string {
  const goText = `rpc error: code = ${GO_CODE[code] ?? `Code(${code})`} desc = ${message}`;
  const embedded = embeddedError(goText);
  const ownCode = own ? OWN_CODE[code] : undefined;
  const out = embedded ?? { code: ownCode ?? "10001", message: ownCode ? message : goText };
  return `{"code":${goJsonString(out.code)},"message":${goJsonString(out.message)},"data":null}`;
}

function successBody(data: string): string {
  return `{"code":"0","message":"","data":${data}}`;
}

const ROUTES = ["/v1/task/list", "/v1/task/getbyid", "/v1/task/predictres/get"] as const;

/** What a handler answers; rendered after the call (a rendering failure is not a failed call, as in v3). */
type Answer = () => string;

export class V3HttpServer {
  private readonly app: FastifyInstance;

  constructor(
    private readonly deps: V3HttpDeps,
    private readonly opts: V3HttpOptions,
  ) {
    this.app = Fastify({
      logger: false,
      bodyLimit: opts.maxRequestBytes,
      return503OnClosing: false,
      requestTimeout: opts.requestTimeoutMs ?? 30_000,
      keepAliveTimeout: opts.keepAliveTimeoutMs ?? 5000,
    });
    const app = this.app;
    app.server.maxConnections = opts.maxConnections ?? 512;
    app.server.headersTimeout = opts.headersTimeoutMs ?? 10_000;
    // grpc-gateway reads every body as JSON whatever its Content-Type.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => done(null, body));

    app.addHook("onRequest", async (req, reply) => {
      if (!opts.allowCors) return;
      const origin = req.headers.origin;
      if (typeof origin !== "string" || origin === "") return;
      void reply.header("Access-Control-Allow-Origin", origin);
      if (req.method === "OPTIONS" && req.headers["access-control-request-method"]) {
        void reply.header("Access-Control-Allow-Headers", "Content-Type,Accept");
        void reply.header("Access-Control-Allow-Methods", "GET,HEAD,POST,PUT,DELETE");
        await reply.code(200).send("");
      }
    });

    app.post("/v1/task/list", (req, reply) => this.serve(req, reply, "ListTask", (body, ctx) => this.list(body, ctx)));
    app.post("/v1/task/getbyid", (req, reply) =>
      this.serve(req, reply, "GetTaskById", (body, ctx) => this.get(body, ctx)),
    );
    app.post("/v1/task/predictres/get", (req, reply) =>
      this.serve(req, reply, "GetPredictResult", (body, ctx) => this.predict(body, ctx)),
    );
    app.setNotFoundHandler((req, reply) => {
      const known = (ROUTES as readonly string[]).includes(req.url.split("?")[0]!);
      const text = known ? "Method Not Allowed" : "Not Implemented";
      return this.send(reply, v3ErrorBody(Status.UNIMPLEMENTED, text, false));
    });
    app.setErrorHandler((err: Error, _req, reply) => {
      // Body too large and the like, before a handler ran.
      return this.send(reply, v3ErrorBody(Status.INVALID_ARGUMENT, err.message, false));
    });
  }

  private send(reply: FastifyReply, body: string, success = false): FastifyReply {
    void reply.code(200).header("Content-Type", "application/json");
    if (success) void reply.header("Grpc-Metadata-Content-Type", "application/grpc");
    // A Buffer: fastify would add "; charset=utf-8" to a string's Content-Type; Go's server does not.
    return reply.send(Buffer.from(body, "utf8"));
  }

  private async serve(
    req: FastifyRequest,
    reply: FastifyReply,
    method: string,
    handler: (body: string, ctx: ServedContext) => Promise<Answer>,
  ): Promise<FastifyReply> {
    let answer: Answer;
    try {
      const body = typeof req.body === "string" ? req.body : "";
      answer = await this.deps.pipeline.serve(httpServedCall(method, req, reply, "v3http"), (ctx) =>
        handler(body, ctx),
      );
    } catch (err) {
      const e = err as GatewayError;
      // A body grpc-gateway cannot decode is grpc-gateway's own InvalidArgument: code 10001.
      return this.send(reply, v3ErrorBody(e.code, e.message, !(e instanceof JsonRequestError)));
    }
    try {
      return this.send(reply, successBody(answer()), true);
    } catch (err) {
      // json.Marshal failed (a NaN or infinite double): the v3 server writes nothing.
      if (err instanceof GoJsonUnsupportedValue) return this.send(reply, "", true);
      throw err;
    }
  }

  private async list(body: string, ctx: ServedContext): Promise<Answer> {
    const r = parseRequestJson(body, {
      pubKey: "bytes",
      ePubKey: "bytes",
      status: "string",
      timeStart: "int64",
      timeEnd: "int64",
      limit: "int64",
    });
    const q = checkedListQuery(
      listQueryOf({
        pubKey: r.pubKey ?? Buffer.alloc(0),
        ePubKey: r.ePubKey ?? Buffer.alloc(0),
        status: r.status ?? "",
        timeStart: r.timeStart ?? 0n,
        timeEnd: r.timeEnd ?? 0n,
        limit: r.limit ?? 0n,
      }),
    );
    const answer = await readList(this.deps.reader, q, ctx);
    checkListAnswer(q, answer, false, this.opts.maxListTasks);
    ctx.cache = answer.cache;
    return () => renderTaskList(answer.tasks);
  }

  private async get(body: string, ctx: ServedContext): Promise<Answer> {
    const r = parseRequestJson(body, { taskID: "string" });
    const taskID = validateGetRequest({ taskID: r.taskID ?? "" });
    const answer = await this.deps.reader.get(taskID, ctx);
    const task = requireGetAnswer(taskID, answer, false);
    ctx.cache = answer.cache;
    return () => renderMessage(FLTaskSpec, task.raw);
  }

  private async predict(body: string, ctx: ServedContext): Promise<Answer> {
    if (!this.deps.predictions) throw new GatewayError(Status.UNIMPLEMENTED, "predictions not configured");
    const r = parseRequestJson(body, { pubKey: "bytes", taskID: "string", signature: "bytes" });
    const req: TaskRequest = {
      pubKey: r.pubKey ?? Buffer.alloc(0),
      taskID: r.taskID ?? "",
      signature: r.signature ?? Buffer.alloc(0),
    };
    // The same bytes a gRPC client would send go down the same routed, authorized path.
    const raw = Buffer.from(TaskRequest.encode(req).finish());
    // The relay's slot and bytes are held until the response is out (or the client gone).
    const delivery = ctx.call.delivery?.();
    const reply = await this.deps.predictions.handle(raw, req, ctx, delivery?.ended);
    delivery?.deadline(this.opts.predictWriteTimeoutMs);
    return () => renderMessage(PredictResponseSpec, reply);
  }

  async listen(host: string, port: number): Promise<number> {
    await this.app.listen({ host, port });
    const addr = this.app.server.address();
    return typeof addr === "object" && addr ? addr.port : port;
  }

  async close(): Promise<void> {
    await this.app.close();
  }
}
