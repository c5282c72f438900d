/**
 * The Task API on the gateway's own node:http2 server (`api.server: "http2"`,
 * experimental): ListTask and GetTaskById run through the same request pipeline as on
 * grpc-js (request id, logging, metrics, deadline from `grpc-timeout` or the defaults
 * of src/config/deadlines.ts, abort on RST_STREAM, admission and load shedding), with
 * the same status and trailers (`dai-executors-*`, `dai-cache`, `grpc-retry-pushback-ms`).
 *
 * Every other method (GetPredictResult, StartTask, health checking, reflection) is
 * relayed stream for stream, under flow control, to the grpc-js server, which then
 * listens on loopback only (src/transport/server.ts `fallback`).
 */
import * as grpc from "@grpc/grpc-js";
import { GatewayError } from "../core/errors";
import { FramedReply, Http2GrpcServer, type ServerCall } from "../transport/server";
import { METHOD_PATHS } from "../wire/facts";
import type { RequestPipeline, ServedCall } from "./pipeline";
import { errorTrailers, type TaskHandler } from "./task-service";

export interface Http2TaskServerOptions {
  maxRequestBytes: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS: the HTTP/2 backstop; admission refuses first, cleanly. */
  maxConcurrentStreams: number;
  /** host:port of the grpc-js server answering every other method. */
  fallback: string;
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer; requestCert?: boolean };
}

/** One call of the own server as the pipeline sees it. */
function servedCall(method: string, call: ServerCall): ServedCall {
  return {
    method,
    transport: "grpc",
    peer: call.peer,
    header(h) {
      const v = call.metadata.get(h)[0];
      return typeof v === "string" ? v : undefined;
    },
    clientDeadline: call.deadline?.getTime(),
    onGone(fn) {
      // Aborted by the client's RST_STREAM, the deadline or the server closing; after a
      // reply was written the call is done and the signal is not aborted.
      if (call.signal.aborted) fn();
      else call.signal.addEventListener("abort", fn, { once: true });
    },
  };
}

/** grpc.Metadata → the string trailers the own server writes (`-bin` values as Buffers). */
function trailersOf(md: grpc.Metadata | undefined): Record<string, string | Buffer> | undefined {
  if (!md) return undefined;
  const out: Record<string, string | Buffer> = {};
  for (const [k, v] of Object.entries(md.getMap())) out[k] = v;
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

export function createHttp2TaskServer(
  pipeline: RequestPipeline,
  handlers: { ListTask: TaskHandler; GetTaskById: TaskHandler },
  opts: Http2TaskServerOptions,
): Http2GrpcServer {
  const server = new Http2GrpcServer({
    maxRequestBytes: opts.maxRequestBytes,
    maxConcurrentStreams: opts.maxConcurrentStreams,
    fallback: opts.fallback,
    tls: opts.tls,
  });
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
  return server;
}
