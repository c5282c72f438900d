/**
 * The serving side of the gateway's own transport: unary gRPC methods on node:http2,
 * for the hot paths (ListTask, GetTaskById), where a cache hit is a lookup and one
 * write of precomputed bytes (`FramedReply`: the 5-byte prefix and the message, built
 * once) with the trailers (in the same write: ./trailers.ts).
 *
 * Everything this server does not handle itself (health checking, reflection, any other
 * method) is passed through, stream for stream, to a fallback gRPC server on loopback
 * (the grpc-js server the gateway already has), so one port still serves them all.
 *
 * Per call: `grpc-timeout` in (the handler's deadline and a local timer: DEADLINE_EXCEEDED
 * when it passes), cancellation (a client's RST_STREAM aborts the handler's signal),
 * errors as trailers-only answers with percent-encoded `grpc-message` and `-bin`
 * trailers, request size limit enforced from the length prefix (the rest is never read),
 * compressed requests refused with UNIMPLEMENTED and `grpc-accept-encoding: identity`,
 * SETTINGS_MAX_CONCURRENT_STREAMS advertised, GOAWAY on close (calls in flight finish).
 */
import http2 from "node:http2";
import type net from "node:net";
import * as grpc from "@grpc/grpc-js";
import type { UpstreamStream } from "./client";
import { FairIntake } from "./fair-intake";
import { UnaryFrameDecoder } from "./framing";
import { AdaptiveStreamLimit, STREAM_LIMIT_INTERVAL_MS } from "./stream-limit";
import {
  Status,
  TransportError,
  decodeGrpcMessage,
  decodeTimeout,
  encodeGrpcMessage,
  headersToMetadata,
  metadataToHeaders,
} from "./status";
import { replyWithTrailers } from "./trailers";

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants;

/** A reply message framed once (prefix + bytes), to be written as it is on every hit. */
export class FramedReply {
  readonly bytes: Buffer;
  constructor(message: Buffer) {
    this.bytes = Buffer.allocUnsafe(5 + message.length);
    this.bytes[0] = 0;
    this.bytes.writeUInt32BE(message.length, 1);
    message.copy(this.bytes, 5);
  }
  get messageLength(): number {
    return this.bytes.length - 5;
  }
}

export interface ServerCall {
  /** The request headers as metadata (built when first read). */
  readonly metadata: grpc.Metadata;
  /** The request headers as they came (lower-case names). */
  readonly headers: http2.IncomingHttpHeaders;
  /** From `grpc-timeout`; undefined when the client sent none. */
  deadline?: Date;
  /** Aborted when the client cancels (RST_STREAM), the deadline passes or the server closes (made when first read). */
  readonly signal: AbortSignal;
  /** The peer's address (for logs and rate limits). */
  peer: string;
  /** Set when `admit` admitted the call from its headers: the slot, released once (idempotent). */
  admitted?: () => void;
}

/** What `admit` decides from a call's headers, before any byte of its request is read. */
export type Admission =
  { release: () => void } | { refuse: { code: Status; details: string; trailers?: Record<string, string> } };

export interface UnaryReply {
  reply: Buffer | FramedReply;
  /** Trailers besides grpc-status (e.g. dai-cache); string values, or Buffers for -bin keys. */
  trailers?: Record<string, string | Buffer>;
}

/**
 * Bytes a relay queues toward its client before it pauses the upstream. Writable's own
 * 16 KiB mark would pause the owner after every DATA frame, and each pause costs a stall
 * and a window round trip: 64 MiB relayed at 0.50–0.55 × direct on 2 CPUs, against
 * 0.68–0.76 with 1–4 MiB queued (bench/scenarios/s3-predict.ts).
 */
export const RELAY_QUEUE_BYTES = 2 * 1024 * 1024;

/**
 * A reply relayed from an upstream stream as it arrives, under flow control: the
 * upstream is paused while RELAY_QUEUE_BYTES wait for the client, so a relay holds at
 * most that and the upstream's window.
 */
export interface RelayReply {
  upstream: UpstreamStream;
  /** Largest reply message relayed; checked on its length prefix before any byte is sent on. */
  maxBytes: number;
  /** A client that accepts no bytes for this long is cut off (RST_STREAM) and the upstream cancelled. */
  stallMs?: number;
  /** The status message of a reply refused for its size (default: names the bytes and the limit). */
  tooLarge?: (bytes: number) => string;
  /** Called once the relay is over, however it ended (for slots, byte budgets and metrics). */
  onDone?: (outcome: RelayOutcome) => void;
}

/** How a relay ended: `ok` when the client got the whole reply and an OK status. */
export interface RelayOutcome {
  ok: boolean;
  /** Reply bytes passed on to the client (framing included). */
  bytes: number;
  /** The status the client got (or CANCELLED when it went away first). */
  code: Status;
  details: string;
  /** Times the client's side was full and the upstream was paused (a slow reader shows here). */
  pushbacks: number;
}

export type UnaryHandler = (request: Buffer, call: ServerCall) => Promise<UnaryReply | RelayReply>;

export interface Http2GrpcServerOptions {
  /** Largest request message accepted. */
  maxRequestBytes: number;
  maxConcurrentStreams?: number;
  /** host:port of a gRPC server that answers every other method (health, reflection). */
  fallback?: string;
  /** TLS (PEM); `ca` with `requestCert`: clients must present a certificate signed by it. */
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer; requestCert?: boolean };
  /**
   * Admission from the headers alone (served methods only): a refusal is answered
   * trailers-only at once and the request is never read or decoded.
   */
  admit?: (path: string, headers: http2.IncomingHttpHeaders, peer: string) => Admission;
  /**
   * Calls started per event-loop turn by the fair intake (src/transport/fair-intake.ts:
   * a connection's only open call first, then the others round robin over their
   * connections); default INTAKE_SLICE_CALLS; 0: each call starts as its request is read.
   */
  intakeSliceCalls?: number;
  /**
   * The standing delay (ms) the intake may keep before the connections that queue calls
   * behind their own are told to open fewer streams than `maxConcurrentStreams`
   * (src/transport/stream-limit.ts); 0 or absent: the setting stays fixed. Needs the
   * fair intake.
   */
  queueTargetMs?: number;
}

/**
 * Calls started per turn by the fair intake (bench/scenarios/s6-overload.ts). Each turn
 * costs its poll phase and a write per connection whatever it carries, so fewer, fuller
 * turns serve more calls: against 32, goodput at 2× rose from 0.90–0.91 to 1.01 of
 * saturation from 8 connections and from 0.72–0.76 to 0.81–0.89 from 64 (whose calls all
 * start in one turn: 132–145 µs of CPU a call instead of 151–164), admitted p99 unchanged
 * (bench/results/2026-12-04-ab/slice-*). The price: a light client waits for a longer
 * slice (its median under the 64-connection flood 18–19 ms instead of 12–13). 128 gained
 * nothing more and made that median 24 ms.
 */
export const INTAKE_SLICE_CALLS = 64;

/** The peer of each session, read once (a session's `socket` is a proxy: costly per call). */
const peers = new WeakMap<http2.Http2Session, string>();
function peerOf(stream: http2.ServerHttp2Stream): string {
  const session = stream.session;
  let peer = session && peers.get(session);
  if (peer === undefined) {
    const sock = session?.socket;
    peer = `${sock?.remoteAddress ?? "?"}:${sock?.remotePort ?? "?"}`;
    if (session) peers.set(session, peer);
  }
  return peer;
}

/** The abort signal of a call, made when first read: a cache hit reads none, and a queued call need not hold one. */
class LazyAbort {
  private ac?: AbortController;
  private aborted = false;
  get signal(): AbortSignal {
    if (this.ac === undefined) {
      this.ac = new AbortController();
      if (this.aborted) this.ac.abort();
    }
    return this.ac.signal;
  }
  abort(): void {
    this.aborted = true;
    this.ac?.abort();
  }
}

/** A call as its handler sees it; metadata and signal are made only when read (a cache hit reads neither). */
class Call implements ServerCall {
  private md?: grpc.Metadata;
  constructor(
    readonly headers: http2.IncomingHttpHeaders,
    private readonly ac: LazyAbort,
    readonly peer: string,
    readonly deadline: Date | undefined,
    readonly admitted: (() => void) | undefined,
  ) {}
  get metadata(): grpc.Metadata {
    return (this.md ??= headersToMetadata(this.headers));
  }
  get signal(): AbortSignal {
    return this.ac.signal;
  }
}

const REPLY_HEADERS: http2.OutgoingHttpHeaders = Object.freeze({ ":status": 200, "content-type": "application/grpc" });
const OK_TRAILERS: http2.OutgoingHttpHeaders = Object.freeze({ "grpc-status": "0" });
/** A reply's trailers block, made once per trailers object (a kept hit reply passes the same one again). */
const trailerBlocks = new WeakMap<Record<string, string | Buffer>, http2.OutgoingHttpHeaders>();
function trailerBlock(t: Record<string, string | Buffer> | undefined): http2.OutgoingHttpHeaders {
  if (t === undefined) return OK_TRAILERS;
  let block = trailerBlocks.get(t);
  if (block === undefined) {
    const b: http2.OutgoingHttpHeaders = { "grpc-status": "0" };
    for (const [k, v] of Object.entries(t)) b[k] = Buffer.isBuffer(v) ? v.toString("base64") : v;
    block = Object.freeze(b);
    trailerBlocks.set(t, block);
  }
  return block;
}

/** A ServiceError-shaped failure thrown by a handler → its status. */
function statusOf(err: unknown): { code: Status; details: string; metadata?: grpc.Metadata } {
  const e = err as { code?: unknown; details?: unknown; message?: unknown; metadata?: unknown };
  if (typeof e?.code === "number" && e.code >= 0 && e.code <= 16) {
    return {
      code: e.code,
      details: String(e.details ?? e.message ?? ""),
      metadata: e.metadata instanceof grpc.Metadata ? e.metadata : undefined,
    };
  }
  return { code: Status.INTERNAL, details: "internal error" };
}

export class Http2GrpcServer {
  private readonly handlers = new Map<string, UnaryHandler>();
  private server?: http2.Http2Server | http2.Http2SecureServer;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private fallbackSession?: http2.ClientHttp2Session;
  private closing = false;
  private readonly intake?: FairIntake<http2.Http2Session>;
  private readonly streamLimit?: AdaptiveStreamLimit;
  private limitTimer?: NodeJS.Timeout;
  /** The busy connections told the lowered limit (until it is back at the setting). */
  private readonly held = new Set<http2.Http2Session>();

  constructor(private readonly opts: Http2GrpcServerOptions) {
    const slice = opts.intakeSliceCalls ?? INTAKE_SLICE_CALLS;
    if (slice > 0) this.intake = new FairIntake({ sliceCalls: slice, mayExpress: (s) => !this.held.has(s) });
    if (this.intake && opts.queueTargetMs) {
      this.streamLimit = new AdaptiveStreamLimit(this.maxStreams, opts.queueTargetMs);
    }
  }

  private get maxStreams(): number {
    return this.opts.maxConcurrentStreams ?? 1000;
  }

  /** The streams a busy client connection may open now (SETTINGS_MAX_CONCURRENT_STREAMS last sent to them). */
  get streamsPerConnection(): number {
    return this.streamLimit?.current ?? this.maxStreams;
  }

  /** Busy connections told the lowered limit now. */
  get heldConnections(): number {
    return this.held.size;
  }

  /**
   * Once an interval: the intake's standing delay → the limit. Connections that were busy
   * while the delay was over the target are told it (and each change of it); all are
   * released, told the setting again, once it is back there.
   */
  private adjustStreams(): void {
    const limit = this.streamLimit!;
    const intake = this.intake!;
    const delay = intake.takeStandingDelay();
    const busy = intake.takeBusy();
    const before = limit.current;
    const now = limit.next(delay);
    if (now === limit.max) {
      for (const s of this.held) tellStreams(s, now);
      this.held.clear();
      return;
    }
    if (now !== before) for (const s of this.held) tellStreams(s, now);
    if (delay > limit.targetMs) {
      for (const s of busy) {
        if (this.held.has(s) || s.destroyed || s.closed) continue;
        this.held.add(s);
        tellStreams(s, now);
      }
    }
  }

  /** Serves `path` (e.g. /task.Task/ListTask) with `handler`. */
  unary(path: string, handler: UnaryHandler): this {
    this.handlers.set(path, handler);
    return this;
  }

  async listen(host: string, port: number): Promise<number> {
    const settings: http2.Settings = { maxConcurrentStreams: this.maxStreams };
    const t = this.opts.tls;
    const server = t
      ? http2.createSecureServer({
          cert: t.cert,
          key: t.key,
          ca: t.ca,
          requestCert: t.requestCert ?? false,
          rejectUnauthorized: t.requestCert ?? false,
          ALPNProtocols: ["h2"],
          settings,
        })
      : http2.createServer({ settings });
    server.on("session", (s) => {
      this.sessions.add(s);
      s.on("close", () => {
        this.sessions.delete(s);
        this.held.delete(s);
      });
      s.on("error", () => {});
      if (this.closing) s.close();
    });
    server.on("stream", (stream, headers) => this.onStream(stream, headers));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    if (this.streamLimit) {
      this.limitTimer = setInterval(() => this.adjustStreams(), STREAM_LIMIT_INTERVAL_MS);
      this.limitTimer.unref();
    }
    return (server.address() as net.AddressInfo).port;
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on("error", () => {});
    const path = String(headers[":path"] ?? "");
    const handler = this.handlers.get(path);
    if (!handler) return this.passThrough(stream, headers);
    if (this.closing) return void stream.close(NGHTTP2_REFUSED_STREAM);
    const ct = String(headers["content-type"] ?? "");
    if (headers[":method"] !== "POST" || !ct.startsWith("application/grpc")) {
      stream.respond({ ":status": 415, "content-type": "text/plain" }, { endStream: true });
      return;
    }
    const peer = peerOf(stream);
    let admitted: (() => void) | undefined;
    if (this.opts.admit) {
      const a = this.opts.admit(path, headers, peer);
      if ("refuse" in a) {
        trailersOnly(stream, a.refuse.code, a.refuse.details, undefined, a.refuse.trailers);
        // The request is not read.
        if (!stream.closed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
        return;
      }
      admitted = a.release;
    }
    new UnaryServerCall(stream, headers, handler, this.opts.maxRequestBytes, peer, admitted, this.intake).run();
  }

  /** Any other method: the same stream, relayed to the fallback server (health, reflection). */
  private passThrough(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    if (!this.opts.fallback) {
      return trailersOnly(stream, Status.UNIMPLEMENTED, `method ${String(headers[":path"]).slice(0, 100)} not served`);
    }
    if (!this.fallbackSession || this.fallbackSession.destroyed || this.fallbackSession.closed) {
      this.fallbackSession = http2.connect(`http://${this.opts.fallback}`);
      this.fallbackSession.on("error", () => {});
      this.fallbackSession.unref();
    }
    const out: http2.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(headers))
      if (!k.startsWith(":") || k === ":path" || k === ":method") out[k] = v;
    let up: http2.ClientHttp2Stream;
    try {
      up = this.fallbackSession.request(out);
    } catch {
      return trailersOnly(stream, Status.UNAVAILABLE, "fallback server unavailable");
    }
    up.on("error", () => {});
    up.on("response", (h) => {
      const rh: http2.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(h)) if (!k.startsWith(":") || k === ":status") rh[k] = v;
      if (stream.destroyed) return;
      if (h["grpc-status"] !== undefined) {
        // A trailers-only answer stays one (its status is in these headers, nothing follows).
        stream.respond(rh, { endStream: true });
        return;
      }
      stream.respond(rh, { waitForTrailers: true });
    });
    let trailers: http2.OutgoingHttpHeaders = {};
    up.on("trailers", (h) => {
      trailers = { ...h };
    });
    stream.on("wantTrailers", () => stream.sendTrailers(trailers));
    // Both directions under flow control: pipe pauses a side whose reader lags.
    stream.pipe(up);
    up.pipe(stream);
    stream.on("close", () => {
      if (!up.closed) up.close(NGHTTP2_CANCEL);
    });
    up.on("close", () => {
      if (!stream.headersSent && !stream.destroyed) trailersOnly(stream, Status.UNAVAILABLE, "fallback stream reset");
      else if (!stream.closed && up.rstCode) stream.close(NGHTTP2_CANCEL);
    });
  }

  /** Stops accepting: GOAWAY to every client; calls in flight finish (at most `graceMs`). */
  async close(graceMs = 5000): Promise<void> {
    this.closing = true;
    clearInterval(this.limitTimer);
    const server = this.server;
    if (!server) return;
    const done = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sessions) s.close();
    const timer = setTimeout(() => {
      for (const s of this.sessions) s.destroy();
    }, graceMs);
    timer.unref();
    await done;
    clearTimeout(timer);
    this.fallbackSession?.close();
  }
}

/**
 * Sends a connection its new SETTINGS_MAX_CONCURRENT_STREAMS. A client that has not
 * acknowledged earlier SETTINGS (node allows 10 outstanding) keeps the last one it took;
 * a closing session is left as it is.
 */
function tellStreams(s: http2.Http2Session, maxConcurrentStreams: number): void {
  if (s.destroyed || s.closed) return;
  try {
    s.settings({ maxConcurrentStreams });
  } catch {
    // ERR_HTTP2_MAX_PENDING_SETTINGS_ACK: it is told again at the next change.
  }
}

/** A grpc-status header's value as a status code (UNKNOWN when it is not one). */
function statusCode(v: string | string[] | undefined): Status {
  const code = Number(v);
  return Number.isInteger(code) && code >= 0 && code <= 16 ? code : Status.UNKNOWN;
}

function trailersOnly(
  stream: http2.ServerHttp2Stream,
  code: Status,
  details: string,
  metadata?: grpc.Metadata,
  extra?: http2.OutgoingHttpHeaders,
): void {
  if (stream.destroyed || stream.closed) return;
  const h: http2.OutgoingHttpHeaders = {
    ":status": 200,
    "content-type": "application/grpc",
    "grpc-status": String(code),
    "grpc-message": encodeGrpcMessage(details),
    ...extra,
  };
  if (metadata) metadataToHeaders(metadata, h);
  if (stream.headersSent) {
    // Mid-relay (a deadline, say): the trailers may not be sent before the body ends.
    stream.close(http2.constants.NGHTTP2_CANCEL);
    return;
  }
  stream.respond(h, { endStream: true });
}

class UnaryServerCall {
  private readonly ac = new LazyAbort();
  private timer?: NodeJS.Timeout;
  private done = false;
  /** The request (the size limit read from the prefix; src/transport/framing.ts). */
  private readonly request: UnaryFrameDecoder;
  private deadline?: Date;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    private readonly headers: http2.IncomingHttpHeaders,
    private readonly handler: UnaryHandler,
    limit: number,
    private readonly peer: string,
    private readonly admitted?: () => void,
    private readonly intake?: FairIntake<http2.Http2Session>,
  ) {
    this.request = new UnaryFrameDecoder(limit);
  }
  private started = false;

  /** The connection whose intake queue this call went through (its open count is given back on close). */
  private queuedOn?: http2.Http2Session;
  run(): void {
    const { stream, headers } = this;
    const enc = headers["grpc-encoding"];
    const t = headers["grpc-timeout"];
    if (t !== undefined) {
      const ms = decodeTimeout(String(t));
      if (ms === undefined) return this.fail(Status.INTERNAL, `malformed grpc-timeout "${String(t).slice(0, 20)}"`);
      this.deadline = new Date(Date.now() + ms);
      this.timer = setTimeout(() => this.fail(Status.DEADLINE_EXCEEDED, "deadline exceeded"), ms);
    }
    stream.on("close", () => {
      clearTimeout(this.timer);
      this.leaveIntake();
      // Before the handler ran, the slot is this call's to give back; after, the handler's.
      if (!this.started) this.admitted?.();
      if (!this.done) {
        this.done = true;
        this.ac.abort();
      }
    });
    stream.on("data", (chunk: Buffer) => this.onData(chunk, enc));
    stream.on("end", () => this.onEnd());
  }

  private onData(chunk: Buffer, enc: string | string[] | undefined): void {
    if (this.done) return;
    const problem = this.request.push(chunk);
    if (problem === undefined) return;
    if (problem.kind === "second-message")
      return this.fail(Status.INTERNAL, "more than one request message in a unary call");
    if (problem.kind === "compressed")
      return this.fail(
        Status.UNIMPLEMENTED,
        `compressed requests are not supported (grpc-encoding ${String(enc ?? "?").slice(0, 20)})`,
        { "grpc-accept-encoding": "identity" },
      );
    // Refused from the prefix: the rest of the request is not read.
    return this.fail(
      Status.RESOURCE_EXHAUSTED,
      `request of ${problem.length} bytes exceeds the limit of ${problem.limit}`,
    );
  }

  private onEnd(): void {
    if (this.done) return;
    const message = this.request.result();
    if (message === "none") return this.fail(Status.INTERNAL, "no request message");
    if (message === "partial") return this.fail(Status.INTERNAL, "request message cut short");
    const session = this.stream.session;
    if (this.intake && session) {
      this.queuedOn = session;
      this.intake.push(session, () => this.start(message));
    } else this.start(message);
  }

  /** Gives the connection's open-call count back, once: at the reply, the failure or the close. */
  private leaveIntake(): void {
    if (this.queuedOn === undefined) return;
    this.intake?.finish(this.queuedOn);
    this.queuedOn = undefined;
  }

  /** Runs the handler (from the fair intake: maybe after the client went or the deadline passed). */
  private start(message: Buffer): void {
    if (this.done) return;
    // Its timer may not have run yet (the calls before it in the slice took the time).
    if (this.deadline !== undefined && Date.now() >= this.deadline.getTime()) {
      return this.fail(Status.DEADLINE_EXCEEDED, "deadline exceeded before the call started");
    }
    const call = new Call(this.headers, this.ac, this.peer, this.deadline, this.admitted);
    this.started = true;
    let p: Promise<UnaryReply | RelayReply>;
    try {
      p = this.handler(message, call);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (r) => this.reply(r),
      (err) => {
        const s = statusOf(err);
        this.fail(s.code, s.details, undefined, s.metadata);
      },
    );
  }

  private reply(r: UnaryReply | RelayReply): void {
    if ("upstream" in r) return this.relay(r);
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.leaveIntake();
    const { stream } = this;
    if (stream.destroyed || stream.closed) return;
    const framed = r.reply instanceof FramedReply ? r.reply.bytes : new FramedReply(r.reply).bytes;
    const trailers = trailerBlock(r.trailers);
    replyWithTrailers(stream, REPLY_HEADERS, framed, trailers);
  }

  /** Forwards an upstream reply under flow control: headers, framed bytes, trailers. */
  private relay(r: RelayReply): void {
    const { stream } = this;
    const up = r.upstream.stream;
    let bytes = 0;
    let pushbacks = 0;
    let finished = false;
    let stall: NodeJS.Timeout | undefined;
    const end = (code: Status, details: string): void => {
      if (finished) return;
      finished = true;
      clearTimeout(stall);
      r.onDone?.({ ok: code === Status.OK, bytes, code, details, pushbacks });
    };
    /** Ends the relay early; after the headers the client gets RST_STREAM `rst` (INTERNAL_ERROR: the reply is broken). */
    const stop = (code: Status, details: string, rst = http2.constants.NGHTTP2_INTERNAL_ERROR): void => {
      if (!up.closed) up.close(NGHTTP2_CANCEL);
      if (!stream.headersSent) this.fail(code, details);
      else if (!stream.closed) {
        this.done = true;
        clearTimeout(this.timer);
        stream.close(rst);
      }
      end(code, details);
    };
    /** Passes an upstream status on as this call's trailers-only answer. */
    const passStatus = (h: http2.IncomingHttpHeaders): void => {
      const code = statusCode(h["grpc-status"]);
      const details = decodeGrpcMessage(String(h["grpc-message"] ?? ""));
      this.fail(code, details, undefined, headersToMetadata(h));
      if (!up.closed) up.close(NGHTTP2_CANCEL);
      end(code, details);
    };
    if (this.done || stream.closed) {
      if (!up.closed) up.close(NGHTTP2_CANCEL);
      return end(Status.CANCELLED, "the client went away before the relay started");
    }
    const h = r.upstream.headers;
    // Trailers-only upstream answer: passed on as it is (status, message, metadata).
    if (h["grpc-status"] !== undefined) return passStatus(h);
    if (Number(h[":status"]) !== 200 || !String(h["content-type"] ?? "").startsWith("application/grpc")) {
      return stop(Status.UNAVAILABLE, `upstream answered HTTP ${String(h[":status"])}`);
    }
    let upTrailers: http2.IncomingHttpHeaders | undefined;
    up.on("trailers", (t) => (upTrailers = t));
    stream.on("close", () => {
      // The client went away (or was cut off): the upstream is cancelled with it.
      if (!up.closed) up.close(NGHTTP2_CANCEL);
      if (upTrailers && this.done) {
        end(statusCode(upTrailers["grpc-status"]), decodeGrpcMessage(String(upTrailers["grpc-message"] ?? "")));
      } else end(Status.CANCELLED, "the client went away during the relay");
    });
    let checked = false;
    let prefix: Buffer = Buffer.alloc(0);
    const armStall = (): void => {
      if (r.stallMs === undefined || stall) return;
      stall = setTimeout(
        // CANCEL, as grpc-js's server and src/api/delivery.ts cut a client that does not read.
        () => stop(Status.RESOURCE_EXHAUSTED, `client took no reply bytes for ${r.stallMs} ms`, NGHTTP2_CANCEL),
        r.stallMs,
      );
    };
    up.on("data", (chunk: Buffer) => {
      if (finished) return;
      if (!checked) {
        prefix = prefix.length ? Buffer.concat([prefix, chunk]) : chunk;
        if (prefix.length < 5) return;
        checked = true;
        if (prefix[0] !== 0) return stop(Status.INTERNAL, "compressed reply from upstream refused");
        const len = prefix.readUInt32BE(1);
        if (len > r.maxBytes) {
          return stop(Status.RESOURCE_EXHAUSTED, r.tooLarge?.(len) ?? `reply of ${len} bytes exceeds ${r.maxBytes}`);
        }
        chunk = prefix;
        // Headers only now: a refusal above can still be a trailers-only answer.
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      }
      bytes += chunk.length;
      // write() says "full" past 16 KiB; the relay's own mark decides (RELAY_QUEUE_BYTES).
      stream.write(chunk);
      if (stream.writableLength >= RELAY_QUEUE_BYTES) {
        pushbacks++;
        up.pause();
        armStall();
        stream.once("drain", () => {
          clearTimeout(stall);
          stall = undefined;
          up.resume();
        });
      }
    });
    let ended = false;
    // 'end' comes after every byte was taken (a paused stream's 'close' may come sooner).
    up.on("end", () => {
      ended = true;
      if (finished) return;
      if (!upTrailers) return stop(Status.UNAVAILABLE, "upstream stream ended without a status");
      // No message at all: pass the status on as a trailers-only answer.
      if (!stream.headersSent) return passStatus(upTrailers);
      this.done = true;
      clearTimeout(this.timer);
      const t: http2.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(upTrailers)) if (!k.startsWith(":")) t[k] = v;
      stream.once("wantTrailers", () => stream.sendTrailers(t));
      stream.end();
    });
    up.on("close", () => {
      if (finished || ended || (up.readableLength > 0 && up.rstCode === 0)) return;
      const late = this.deadline !== undefined && Date.now() >= this.deadline.getTime();
      stop(late ? Status.DEADLINE_EXCEEDED : Status.UNAVAILABLE, "upstream stream closed before its status");
    });
  }

  private fail(code: Status, details: string, extra?: http2.OutgoingHttpHeaders, metadata?: grpc.Metadata): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.leaveIntake();
    this.ac.abort();
    trailersOnly(this.stream, code, details, metadata, extra);
    // Whatever the client still sends is not read.
    if (!this.stream.closed) this.stream.close(http2.constants.NGHTTP2_NO_ERROR);
  }
}

export { TransportError };
