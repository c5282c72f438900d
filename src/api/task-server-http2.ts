/**
 * The Task API on the gateway's own node:http2 server (`api.server: "http2"`,
 * experimental): ListTask and GetTaskById run through the same request pipeline as on
 * grpc-js (request id, logging, metrics, deadline from `grpc-timeout` or the defaults
 * of src/config/deadlines.ts, abort on RST_STREAM, admission and load shedding), with
 * the same status and trailers (`dai-executors-*`, `dai-cache`, `grpc-retry-pushback-ms`).
 *
 * GetPredictResult, when the upstream transport can stream (the own one): the same
 * pipeline and PredictService checks, then the owner's reply is relayed to the client
 * under flow control, never held whole; the call (its admission slot, its log line and
 * served-call event) lasts until the client has the reply or has gone.
 *
 * Every other method (StartTask, health checking, reflection; GetPredictResult over the
 * grpc-js upstream transport) is relayed stream for stream, under flow control, to the
 * grpc-js server, which then listens on loopback only (src/transport/server.ts `fallback`).
 */
import * as grpc from "@grpc/grpc-js";
import { GatewayError } from "../core/errors";
import { TaskRequest } from "../gen/task/task";
import type { PredictService } from "../predict/service";
import { decodeTimeout } from "../transport/status";
import {
  FramedReply,
  Http2GrpcServer,
  type Http2GrpcServerOptions,
  type RelayOutcome,
  type RelayReply,
  type ServerCall,
  type UnaryHandler,
} from "../transport/server";
import type { CallAdmission } from "./admission";
import { METHOD_PATHS } from "../wire/facts";
import type { RequestPipeline, ServedCall } from "./pipeline";
import { decode, errorTrailers, type TaskHandler } from "./task-service";

export interface Http2TaskServerOptions {
  maxRequestBytes: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS of each client connection (api.maxStreamsPerConnection). */
  maxConcurrentStreams: number;
  /** Lower it while calls wait to start longer than this, ms (api.queueTargetMs; 0: fixed). */
  queueTargetMs?: number;
  /** host:port of the grpc-js server answering every other method. */
  fallback: string;
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer; requestCert?: boolean };
  /** Admission from the headers, before the request is read (refusals trailers-only at once). */
  admission?: CallAdmission;
  /** Deadline of a call that sent no grpc-timeout (src/config/deadlines.ts). */
  defaultDeadlineMs: number;
  /** GetPredictResult for a predict call that sent no grpc-timeout. */
  predictDeadlineMs?: number;
  /** Streamed GetPredictResult (only when `service.canStream`); `stallMs`: cut off a client that takes no bytes this long. */
  predict?: { service: PredictService; stallMs: number };
}

/** One call of the own server as the pipeline sees it. */
function servedCall(method: string, call: ServerCall): ServedCall {
  return {
    method,
    transport: "grpc",
    peer: call.peer,
    header(h) {
      // The raw header (as metadata would hold it), without building the metadata.
      const v = call.headers[h];
      const one = Array.isArray(v) ? v[0] : v;
      return h.endsWith("-bin") ? undefined : one;
    },
    clientDeadline: call.deadline?.getTime(),
    admitted: call.admitted,
    lateGone: true,
    onGone(fn) {
      // Aborted by the client's RST_STREAM, the deadline or the server closing; after a
      // reply was written the call is done and the signal is not aborted.
      if (call.signal.aborted) fn();
      else call.signal.addEventListener("abort", fn, { once: true });
    },
  };
}

/**
 * grpc.Metadata → the string trailers the own server writes (`-bin` values as Buffers),
 * once per Metadata: a kept hit reply's trailers are one object served again.
 */
const trailerRecords = new WeakMap<grpc.Metadata, Record<string, string | Buffer>>();
function trailersOf(md: grpc.Metadata | undefined): Record<string, string | Buffer> | undefined {
  if (!md) return undefined;
  let out = trailerRecords.get(md);
  if (out === undefined) {
    out = {};
    for (const [k, v] of Object.entries(md.getMap())) out[k] = v;
    trailerRecords.set(md, out);
  }
  return out;
}

/**
 * The reply framed once per body: a cached answer's body is one Buffer for as long as
 * its snapshot lives (encodeTaskListOnce, a task's own bytes), so a hit writes it as it is.
 */
const framed = new WeakMap<Buffer, FramedReply>();
function framedOf(body: Buffer): FramedReply {
  let f = framed.get(body);
  if (f === undefined) {
    f = new FramedReply(body);
    framed.set(body, f);
  }
  return f;
}

/** A GatewayError in the shape the own server renders as a trailers-only answer. */
class ServedError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
    readonly metadata?: grpc.Metadata,
  ) {
    super(details);
  }
}

const METHOD_BY_PATH: Record<string, string> = {
  [METHOD_PATHS.listTask]: "ListTask",
  [METHOD_PATHS.getTaskById]: "GetTaskById",
  [METHOD_PATHS.getPredictResult]: "GetPredictResult",
};

/**
 * The admission step's decision, taken on the headers: a refusal (draining, limits,
 * load shedding, too little deadline left) costs no read, no decode, no log line — only
 * its trailers-only answer, its refusal counter and its served-call event.
 */
function admitFromHeaders(
  pipeline: RequestPipeline,
  admission: CallAdmission,
  defaultDeadlineMs: number,
  predictDeadlineMs = defaultDeadlineMs,
): NonNullable<Http2GrpcServerOptions["admit"]> {
  return (path, headers, peer) => {
    const method = METHOD_BY_PATH[path] ?? path;
    const t = headers["grpc-timeout"];
    const fallback = method === "GetPredictResult" ? predictDeadlineMs : defaultDeadlineMs;
    const remainingMs = t === undefined ? fallback : (decodeTimeout(String(t)) ?? fallback);
    try {
      return { release: admission.enter(peer, { method, remainingMs }) };
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      pipeline.served.publish({ method, transport: "grpc", code: err.code, durationMs: 0 });
      return {
        refuse: {
          code: err.code,
          details: err.message,
          trailers: trailersOf(errorTrailers(err)) as Record<string, string>,
        },
      };
    }
  };
}

/**
 * GetPredictResult streamed: the handler hands the relay to the server as soon as an
 * Executor answers with a reply, and the pipeline (admission slot, log line, served-call
 * event with the status the client got) goes on until the relay is over.
 */
function servePredict(
  pipeline: RequestPipeline,
  predictions: PredictService,
  stallMs: number,
): (request: Buffer, call: ServerCall) => Promise<RelayReply> {
  return (request, call) =>
    new Promise<RelayReply>((handOver, refuse) => {
      let handedOver = false;
      pipeline
        .serve(servedCall("GetPredictResult", call), async (ctx) => {
          const started = performance.now();
          const relay = await predictions.relay(request, decode(TaskRequest, request, "TaskRequest"), ctx, stallMs);
          // How long calls take, for the deadline rule: up to the hand-over, not the client's reading.
          ctx.workMs = performance.now() - started;
          const over = new Promise<RelayOutcome>((resolve) => {
            const onDone = relay.onDone;
            relay.onDone = (o) => {
              onDone?.(o);
              resolve(o);
            };
          });
          handedOver = true;
          handOver(relay);
          const o = await over;
          // For the served-call event and the log line: the status the client got.
          if (!o.ok) throw new GatewayError(o.code, o.details);
        })
        .catch((err: GatewayError) => {
          if (!handedOver) refuse(new ServedError(err.code, err.message, errorTrailers(err)));
        });
    });
}

/** The server a Task API's methods are added to: the own node:http2 server, or any with its `unary`. */
export interface UnaryServer {
  unary(path: string, handler: UnaryHandler): unknown;
}

/** The own server's options for a Task API listener. */
export function taskServerOptions(pipeline: RequestPipeline, opts: Http2TaskServerOptions): Http2GrpcServerOptions {
  return {
    maxRequestBytes: opts.maxRequestBytes,
    maxConcurrentStreams: opts.maxConcurrentStreams,
    queueTargetMs: opts.queueTargetMs,
    fallback: opts.fallback,
    tls: opts.tls,
    admit: opts.admission
      ? admitFromHeaders(pipeline, opts.admission, opts.defaultDeadlineMs, opts.predictDeadlineMs)
      : undefined,
  };
}

/** ListTask, GetTaskById and (when it can stream) GetPredictResult through the pipeline, on `server`. */
export function addTaskMethods(
  server: UnaryServer,
  pipeline: RequestPipeline,
  handlers: { ListTask: TaskHandler; GetTaskById: TaskHandler },
  opts: Pick<Http2TaskServerOptions, "predict">,
): void {
  const serve =
    (method: string, handler: TaskHandler) =>
    async (
      request: Buffer,
      call: ServerCall,
    ): Promise<{ reply: FramedReply; trailers?: Record<string, string | Buffer> }> => {
      try {
        const r = await pipeline.serve(servedCall(method, call), (ctx) => handler(request, ctx));
        return { reply: framedOf(r.body), trailers: trailersOf(r.trailers) };
      } catch (err) {
        const e = err as GatewayError;
        throw new ServedError(e.code, e.message, errorTrailers(e));
      }
    };
  server.unary(METHOD_PATHS.listTask, serve("ListTask", handlers.ListTask));
  server.unary(METHOD_PATHS.getTaskById, serve("GetTaskById", handlers.GetTaskById));
  if (opts.predict?.service.canStream) {
    server.unary(METHOD_PATHS.getPredictResult, servePredict(pipeline, opts.predict.service, opts.predict.stallMs));
  }
}

export function createHttp2TaskServer(
  pipeline: RequestPipeline,
  handlers: { ListTask: TaskHandler; GetTaskById: TaskHandler },
  opts: Http2TaskServerOptions,
): Http2GrpcServer {
  const server = new Http2GrpcServer(taskServerOptions(pipeline, opts));
  addTaskMethods(server, pipeline, handlers, opts);
  return server;
}
