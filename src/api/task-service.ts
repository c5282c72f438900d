/**
 * The gateway's `task.Task` service, served with grpc-js directly: replies are
 * assembled from the Executors' own task bytes (identity serialization), and the
 * handler needs the client's deadline, which nice-grpc's server context does not expose.
 */
import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { GetTaskRequest, TaskRequest } from "../gen/task/task";
import { listQueryOf } from "../generations/executors";
import { ListRequestError, readListRequest, type Generation } from "../generations/list-request";
import type { ListQuery } from "../merge/filter";
import { GatewayError, type CacheStatus, type ClusterTasks } from "../fanout/cluster-tasks";
import type { CallContext, FanoutReport } from "../fanout/report";
import { encodeTaskListOnce } from "../wire/task-view";
import type { CallAdmission } from "./admission";
import { checkListAnswer, requireGetAnswer } from "./answer-rules";
import { ApiError, validateGetRequest, validateListRequest } from "./validate";

const identity = (b: Buffer): Buffer => b;

function method(path: string, originalName: string): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
    originalName,
  };
}

/** `task.Task` with raw-bytes (de)serializers on both sides. */
export const RAW_TASK_SERVICE: grpc.ServiceDefinition = {
  ListTask: method("/task.Task/ListTask", "listTask"),
  GetTaskById: method("/task.Task/GetTaskById", "getTaskById"),
  StartTask: method("/task.Task/StartTask", "startTask"),
  GetPredictResult: method("/task.Task/GetPredictResult", "getPredictResult"),
};

export const TRAILER = {
  asked: "dai-executors-asked",
  answered: "dai-executors-answered",
  failed: "dai-executors-failed",
  cache: "dai-cache",
} as const;

export const REQUEST_HEADER = {
  consistency: "dai-consistency",
  cacheControl: "dai-cache-control",
  requestId: "x-request-id",
} as const;

export interface TaskServiceOptions {
  maxListLimit: number;
  defaultDeadlineMs: number;
  /** Concurrency limits and shutdown draining (none when absent). */
  admission?: CallAdmission;
  /**
   * The listener's generation: how a ListTaskRequest that carries no evidence of its
   * layout is read (src/generations/list-request.ts). v2 when absent.
   */
  generation?: Generation;
}

/** Observes every served call (metrics hook). */
export type ServedCallObserver = (event: {
  method: string;
  code: grpc.status;
  durationMs: number;
  /** How the cache answered (ListTask/GetTaskById that got an answer). */
  cache?: CacheStatus;
}) => void;

function reportTrailers(report: FanoutReport | undefined, cache?: CacheStatus): grpc.Metadata {
  const md = new grpc.Metadata();
  if (report) {
    md.set(TRAILER.asked, String(report.asked.length));
    md.set(TRAILER.answered, String(report.answered.length));
    if (report.failed.length > 0) md.set(TRAILER.failed, report.failed.map((f) => f.address).join(","));
  }
  if (cache) md.set(TRAILER.cache, cache);
  return md;
}

function headerValue(call: grpc.ServerUnaryCall<Buffer, Buffer>, name: string): string | undefined {
  const v = call.metadata.get(name)[0];
  return typeof v === "string" ? v : undefined;
}

function callDeadline(call: grpc.ServerUnaryCall<Buffer, Buffer>, defaultMs: number): number {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) ? ms : Date.now() + defaultMs;
}

function decode<T>(decoder: { decode(b: Uint8Array): T }, bytes: Buffer, name: string): T {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new ApiError(grpc.status.INVALID_ARGUMENT, `request is not a valid ${name} message`);
  }
}

/**
 * A ListTask request's query: its layout detected (evidence, else the listener's
 * generation), read, v3 keys normalised (src/generations/executors.ts), validated.
 */
export function listQueryFromWire(bytes: Buffer, listener: Generation, maxListLimit: number): ListQuery {
  let read;
  try {
    read = readListRequest(bytes, listener);
  } catch (err) {
    if (err instanceof ListRequestError) throw new ApiError(grpc.status.INVALID_ARGUMENT, err.message);
    throw err;
  }
  const q = listQueryOf(read.fields);
  const checked = validateListRequest(q, maxListLimit);
  if (q.ePubKey) {
    const KEY = 64;
    if (q.ePubKey.length !== KEY) {
      throw new ApiError(
        grpc.status.INVALID_ARGUMENT,
        `ePubKey: expected empty or ${KEY} bytes (raw P-256 X||Y), got ${q.ePubKey.length}`,
      );
    }
    return { ...checked, ePubKey: q.ePubKey };
  }
  return checked;
}

export function createTaskService(
  cluster: ClusterTasks,
  opts: TaskServiceOptions,
  log: Logger,
  observe: ServedCallObserver = () => {},
): grpc.UntypedServiceImplementation {
  type Handler = (
    call: grpc.ServerUnaryCall<Buffer, Buffer>,
    ctx: CallContext,
  ) => Promise<{ body: Buffer; trailers?: grpc.Metadata; cache?: CacheStatus }>;

  const wrap =
    (name: string, handler: Handler): grpc.handleUnaryCall<Buffer, Buffer> =>
    (call, callback) => {
      let release: () => void = () => {};
      try {
        if (opts.admission) release = opts.admission.enter(call.getPeer());
      } catch (err) {
        const e = err as ApiError;
        observe({ method: name, code: e.code, durationMs: 0 });
        callback({ code: e.code, details: e.message });
        return;
      }
      const started = performance.now();
      const headerId = headerValue(call, REQUEST_HEADER.requestId);
      const requestId = headerId && /^[\w.:-]{1,64}$/.test(headerId) ? headerId : randomUUID();
      const abort = new AbortController();
      // One abort listener per upstream call; their number is bounded by the Executor cap.
      setMaxListeners(0, abort.signal);
      let answered = false;
      // grpc-js also reports "cancelled" after a call it has already answered; only a
      // client going away mid-call should cancel upstream work.
      call.on("cancelled", () => {
        if (!answered) abort.abort();
      });
      const ctx: CallContext = {
        deadline: callDeadline(call, opts.defaultDeadlineMs),
        signal: abort.signal,
        requestId,
      };
      const finish = (code: grpc.status, cache?: CacheStatus): void => {
        answered = true;
        const durationMs = performance.now() - started;
        observe({ method: name, code, durationMs, cache });
        log.info({ requestId, method: name, code: grpc.status[code], ms: Math.round(durationMs) }, "served");
      };
      handler(call, ctx)
        .finally(release)
        .then(
          ({ body, trailers, cache }) => {
            finish(grpc.status.OK, cache);
            callback(null, body, trailers);
          },
          (err: unknown) => {
            let code = grpc.status.INTERNAL;
            let details = "internal error";
            let trailers: grpc.Metadata | undefined;
            if (err instanceof ApiError || err instanceof GatewayError) {
              code = err.code;
              details = err.message;
              if (err instanceof GatewayError) trailers = reportTrailers(err.report);
            } else {
              log.error({ requestId, method: name, err }, "unexpected error");
            }
            finish(code);
            callback({ code, details, metadata: trailers });
          },
        );
    };

  const strict = (call: grpc.ServerUnaryCall<Buffer, Buffer>): boolean =>
    headerValue(call, REQUEST_HEADER.consistency)?.toLowerCase() === "strict";

  const noCache = (call: grpc.ServerUnaryCall<Buffer, Buffer>): boolean =>
    headerValue(call, REQUEST_HEADER.cacheControl)?.toLowerCase() === "no-cache";

  return {
    ListTask: wrap("ListTask", async (call, ctx) => {
      const q = listQueryFromWire(call.request, opts.generation ?? "v2", opts.maxListLimit);
      const answer = await cluster.list(q, ctx, { noCache: noCache(call) });
      checkListAnswer(q, answer, strict(call));
      return {
        body: encodeTaskListOnce(answer.tasks),
        trailers: reportTrailers(answer.report, answer.cache),
        cache: answer.cache,
      };
    }),

    GetTaskById: wrap("GetTaskById", async (call, ctx) => {
      const taskID = validateGetRequest(decode(GetTaskRequest, call.request, "GetTaskRequest"));
      const answer = await cluster.get(taskID, ctx, { noCache: noCache(call) });
      const task = requireGetAnswer(taskID, answer, strict(call));
      return { body: task.raw, trailers: reportTrailers(answer.report, answer.cache), cache: answer.cache };
    }),

    StartTask: wrap("StartTask", () =>
      Promise.reject(
        new ApiError(
          grpc.status.UNIMPLEMENTED,
          "StartTask is an Executor-to-Executor call; the gateway does not start tasks",
        ),
      ),
    ),

    GetPredictResult: wrap("GetPredictResult", async (call, ctx) => {
      // Checks, routing and relay: src/fanout/predict-service.ts.
      return { body: await cluster.predict(call.request, decode(TaskRequest, call.request, "TaskRequest"), ctx) };
    }),
  };
}
