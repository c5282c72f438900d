/**
 * The gateway's `task.Task` service on grpc-js: the gRPC side of the request pipeline
 * (src/api/pipeline.ts). Replies are assembled from the Executors' own task bytes
 * (identity serialization); the handler needs the client's deadline, which nice-grpc's
 * server context does not expose.
 *
 *   ListTask, GetTaskById -> the TaskReader (the cache in front of the fan-out)
 *   GetPredictResult      -> the PredictService (src/predict/service.ts)
 */
import * as grpc from "@grpc/grpc-js";
import type { RenderedHits } from "../cache/caching-reader";
import { GatewayError } from "../core/errors";
import type { CacheStatus, TaskReader } from "../core/reader";
import type { FanoutReport } from "../core/report";
import { GetTaskRequest, TaskRequest } from "../gen/task/task";
import type { Generation } from "../generations/list-request";
import type { PredictService } from "../predict/service";
import { identity, METHOD_PATHS, methodName, type TaskMethod } from "../wire/facts";
import { encodeTaskListOnce } from "../wire/task-view";
import { checkListAnswer, readList, requireGetAnswer } from "./answer-rules";
import { deliveryOf } from "./delivery";
import { REQUEST_HEADER, type RequestPipeline, type ServedCall, type ServedContext } from "./pipeline";
import { listQueryFromWire } from "./list-request";
import { validateGetRequest } from "./validate";

export { REQUEST_HEADER };

function method(m: TaskMethod): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path: METHOD_PATHS[m],
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
    originalName: m,
  };
}

/** `task.Task` with raw-bytes (de)serializers on both sides. */
export const RAW_TASK_SERVICE: grpc.ServiceDefinition = {
  ListTask: method("listTask"),
  GetTaskById: method("getTaskById"),
  StartTask: method("startTask"),
  GetPredictResult: method("getPredictResult"),
};

export const TRAILER = {
  asked: "dai-executors-asked",
  answered: "dai-executors-answered",
  failed: "dai-executors-failed",
  /** Known Executors that left the live set (failing for `executors.departAfterMs`): not waited for, not counted. */
  departed: "dai-executors-departed",
  cache: "dai-cache",
  /** GetTaskById asked with `dai-holders: true`: the Executors that returned a copy. */
  holding: "dai-executors-holding",
} as const;

export interface TaskServiceOptions {
  /** Most tasks one ListTask answer may hold (api.maxListTasks). */
  maxListTasks: number;
  /**
   * The listener's generation: how a ListTaskRequest that carries no evidence of its
   * layout is read (src/generations/list-request.ts). v2 when absent.
   */
  generation?: Generation;
  /** GetPredictResult: cut off a client that has not taken its reply this long after it was ready. */
  predictWriteTimeoutMs?: number;
}

export interface TaskServiceDeps {
  reader: TaskReader;
  /** The cache's kept hit replies (taskReadHandlers). */
  hits?: RenderedHits;
  predictions?: PredictService;
  pipeline: RequestPipeline;
}

function reportTrailers(report: FanoutReport | undefined, cache?: CacheStatus): grpc.Metadata {
  const md = new grpc.Metadata();
  if (report) {
    md.set(TRAILER.asked, String(report.asked.length));
    md.set(TRAILER.answered, String(report.answered.length));
    if (report.failed.length > 0) md.set(TRAILER.failed, report.failed.map((f) => f.address).join(","));
    if (report.departed > 0) md.set(TRAILER.departed, String(report.departed));
  }
  if (cache) md.set(TRAILER.cache, cache);
  return md;
}

/** A request message decoded, or INVALID_ARGUMENT naming the message. */
export function decode<T>(decoder: { decode(b: Uint8Array): T }, bytes: Buffer, name: string): T {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new GatewayError(grpc.status.INVALID_ARGUMENT, `request is not a valid ${name} message`);
  }
}

/** A grpc-js unary call as the pipeline sees it. */
function servedCall(name: string, call: grpc.ServerUnaryCall<Buffer, Buffer>, answered: () => boolean): ServedCall {
  return {
    method: name,
    transport: "grpc",
    peer: call.getPeer(),
    header(h) {
      const v = call.metadata.get(h)[0];
      return typeof v === "string" ? v : undefined;
    },
    get clientDeadline() {
      const d = call.getDeadline();
      const ms = d instanceof Date ? d.getTime() : d;
      return Number.isFinite(ms) ? ms : undefined;
    },
    lateGone: true,
    onGone(fn) {
      // grpc-js also reports "cancelled" after a call it has already answered; only a
      // client going away mid-call should cancel upstream work.
      if (call.cancelled) {
        if (!answered()) fn();
        return;
      }
      call.on("cancelled", () => {
        if (!answered()) fn();
      });
    },
  };
}

/** A kept reply (a cache hit's) is served again as it is: neither its body nor its trailers may be changed. */
export type Reply = { body: Buffer; trailers?: grpc.Metadata };

/** A handler of one Task API method, whichever server delivers it: request bytes in, reply out. */
export type TaskHandler = (request: Buffer, ctx: ServedContext) => Promise<Reply>;

/** The refusal's trailers: the fan-out report and, for load shedding, gRPC's retry hint (gRFC A6). */
export function errorTrailers(err: GatewayError): grpc.Metadata | undefined {
  const metadata = err.report ? reportTrailers(err.report) : undefined;
  if (err.retryAfterMs === undefined) return metadata;
  const md = metadata ?? new grpc.Metadata();
  md.set("grpc-retry-pushback-ms", String(err.retryAfterMs));
  return md;
}

/**
 * ListTask and GetTaskById, shared by the grpc-js service and the own node:http2 server
 * (src/api/task-server-http2.ts). With `hits` (the cache), a ListTask hit is answered
 * from the reply made for the same request from the same cache entry: one lookup, and
 * the bytes and trailers as they were (src/cache/list-cache.ts says when that holds).
 */
export function taskReadHandlers(
  reader: TaskReader,
  opts: TaskServiceOptions,
  hits?: RenderedHits,
): { ListTask: TaskHandler; GetTaskById: TaskHandler } {
  const strict = (ctx: ServedContext): boolean =>
    ctx.call.header(REQUEST_HEADER.consistency)?.toLowerCase() === "strict";
  const noCache = (ctx: ServedContext): boolean =>
    ctx.call.header(REQUEST_HEADER.cacheControl)?.toLowerCase() === "no-cache";
  const generation = opts.generation ?? "v2";
  return {
    async ListTask(request, ctx) {
      const fresh = noCache(ctx);
      const isStrict = strict(ctx);
      const q = listQueryFromWire(request, generation);
      // What changes the reply besides the query: the listener's generation, dai-consistency.
      const prefix = hits && !fresh ? `${generation}|${isStrict ? "s" : ""}` : undefined;
      if (prefix !== undefined) {
        const kept = (await hits!.renderedListHit(prefix, q)) as Reply | undefined;
        if (kept !== undefined) {
          ctx.cache = "hit";
          return kept;
        }
      }
      const answer = await readList(reader, q, ctx, { noCache: fresh });
      checkListAnswer(q, answer, isStrict, opts.maxListTasks);
      ctx.cache = answer.cache;
      const reply = { body: encodeTaskListOnce(answer.tasks), trailers: reportTrailers(answer.report, answer.cache) };
      if (prefix !== undefined && answer.cache === "hit") hits!.keepListRendering(prefix, q, answer, reply);
      return reply;
    },
    async GetTaskById(request, ctx) {
      const taskID = validateGetRequest(decode(GetTaskRequest, request, "GetTaskRequest"));
      const holders = ctx.call.header(REQUEST_HEADER.holders)?.toLowerCase() === "true";
      const answer = await reader.get(taskID, ctx, { noCache: noCache(ctx), holders });
      const task = requireGetAnswer(taskID, answer, strict(ctx));
      ctx.cache = answer.cache;
      const trailers = reportTrailers(answer.report, answer.cache);
      if (holders && answer.holders) trailers.set(TRAILER.holding, answer.holders.join(","));
      return { body: task.raw, trailers };
    },
  };
}

export function createTaskService(deps: TaskServiceDeps, opts: TaskServiceOptions): grpc.UntypedServiceImplementation {
  const { reader, pipeline } = deps;
  const unary =
    (
      m: TaskMethod,
      handler: (call: grpc.ServerUnaryCall<Buffer, Buffer>, ctx: ServedContext) => Promise<Reply>,
    ): grpc.handleUnaryCall<Buffer, Buffer> =>
    (call, callback) => {
      let answered = false;
      pipeline
        .serve(
          servedCall(methodName(m), call, () => answered),
          (ctx) => handler(call, ctx),
        )
        .then(
          ({ body, trailers }) => {
            answered = true;
            callback(null, body, trailers);
          },
          (err: GatewayError) => {
            answered = true;
            callback({ code: err.code, details: err.message, metadata: errorTrailers(err) });
          },
        );
    };

  const reads = taskReadHandlers(reader, opts, deps.hits);

  return {
    ListTask: unary("listTask", (call, ctx) => reads.ListTask(call.request, ctx)),

    GetTaskById: unary("getTaskById", (call, ctx) => reads.GetTaskById(call.request, ctx)),

    StartTask: unary("startTask", () =>
      Promise.reject(
        new GatewayError(
          grpc.status.UNIMPLEMENTED,
          "StartTask is an Executor-to-Executor call; the gateway does not start tasks",
        ),
      ),
    ),

    GetPredictResult: unary("getPredictResult", async (call, ctx) => {
      if (!deps.predictions) throw new GatewayError(grpc.status.UNIMPLEMENTED, "predictions not configured");
      // The relay holds its slot until the client has the reply (src/api/delivery.ts).
      const delivery = deliveryOf(call.metadata);
      const body = await deps.predictions.handle(
        call.request,
        decode(TaskRequest, call.request, "TaskRequest"),
        ctx,
        delivery?.ended,
      );
      delivery?.deadline(opts.predictWriteTimeoutMs ?? 30_000);
      return { body };
    }),
  };
}
