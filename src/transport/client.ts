/**
 * The gateway's own gRPC client transport on node:http2, for the hot upstream path:
 * unary calls carrying raw bytes both ways, with the call shape of `UpstreamPool.call`
 * (a drop-in), and the same connector (TLS choice, DNS check and pinning).
 *
 * Per Executor address: one HTTP/2 session, opened on the first call, reopened with
 * exponential back-off (jittered) after a failure; while it backs off, calls fail fast
 * with UNAVAILABLE (grpc's non-wait-for-ready behaviour). A GOAWAY drains the session:
 * calls in flight finish on it, new ones open a new session; streams the server refused
 * (REFUSED_STREAM, or above the GOAWAY's last stream id) were never processed and are
 * retried once on the new session.
 *
 * Per call: `grpc-timeout` sent and a local timer (RST_STREAM CANCEL when it fires);
 * cancellation by AbortSignal (RST_STREAM CANCEL); trailers-only answers;
 * `grpc-status`/`grpc-message` (percent-decoded) and `-bin` metadata in errors; the
 * server's SETTINGS_MAX_CONCURRENT_STREAMS respected, calls beyond it queued (bounded);
 * the reply's size limit enforced from the message's length prefix, before its bytes
 * arrive (the stream is reset, nothing more is read); compressed messages refused (we
 * send `grpc-accept-encoding: identity`, so a server must not compress).
 *
 * Keepalive stays within grpc-go's default enforcement (gRFC A8 / grpc-go
 * keepalive.EnforcementPolicy: MinTime 5 min, PermitWithoutStream false): a PING at most
 * every `keepaliveTimeMs` (default 5 min), and only while calls are in flight.
 */
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import * as grpc from "@grpc/grpc-js";
import type { ConnectTarget, Dial, UpstreamConnector } from "../upstream/connect";
import {
  ResponseTooLargeError,
  type TransportError as ServiceErrorLike,
  type UnaryCallOptions,
  type UnaryTransport,
} from "../upstream/transport";
import { METHOD_PATHS, type UpstreamMethod } from "../wire/facts";
import {
  Status,
  TransportError,
  decodeGrpcMessage,
  encodeTimeout,
  headersToMetadata,
  httpStatusToGrpc,
  metadataToHeaders,
  rstCodeToGrpc,
  statusFromPeer,
} from "./status";
import { UnaryFrameDecoder } from "./framing";

export { ResponseTooLargeError };

export interface CallObserver {
  (event: { address: string; method: UpstreamMethod; ok: boolean; code: Status; durationMs: number }): void;
}

export interface Http2TransportOptions {
  /** Largest reply accepted for ListTask/GetTaskById. */
  maxResponseBytes: number;
  /** Largest reply accepted for GetPredictResult. */
  maxPredictBytes: number;
  connector?: UpstreamConnector;
  /** Calls waiting for a free stream, per Executor; more fail with RESOURCE_EXHAUSTED. */
  maxQueuedCalls?: number;
  /** Our own cap on streams per session (the server's SETTINGS may lower it). */
  maxConcurrentStreams?: number;
  /** First reconnect back-off; grows ×1.6 per failure (±20 % jitter) up to the max. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Longest wait for a connection (TCP + TLS + SETTINGS), besides the call's deadline. */
  connectTimeoutMs?: number;
  /** PING interval while calls are in flight; never below 5 min unless set (grpc-go's MinTime). */
  keepaliveTimeMs?: number;
  /** A PING unanswered this long closes the session. */
  keepaliveTimeoutMs?: number;
  /** Receive window per stream and per session (bytes). */
  streamWindowBytes?: number;
  sessionWindowBytes?: number;
}

const USER_AGENT = "dai-gateway-http2/0.1";

/** The request headers of one call (unary or streamed): the same for both, from one place. */
function requestHeaders(
  channel: Channel,
  path: string,
  deadline: number,
  metadata: grpc.Metadata | undefined,
): http2.OutgoingHttpHeaders {
  const headers: http2.OutgoingHttpHeaders = {
    ":method": "POST",
    ":scheme": channel.scheme,
    ":path": path,
    ":authority": channel.authority,
    "content-type": "application/grpc",
    te: "trailers",
    "grpc-accept-encoding": "identity",
    "user-agent": USER_AGENT,
    "grpc-timeout": encodeTimeout(deadline - Date.now()),
  };
  if (metadata) metadataToHeaders(metadata, headers);
  return headers;
}

/** The GOAWAY a session received: which of its streams the server never processed, and why. */
const GOAWAYS = new WeakMap<http2.ClientHttp2Session, { errorCode: number; lastStreamID: number; debug: string }>();
const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, HTTP2_HEADER_STATUS } = http2.constants;

interface PendingCall {
  start(session: http2.ClientHttp2Session, channel: Channel): void;
  fail(err: TransportError): void;
}

/** One Executor's connection: a session, its back-off, and the calls waiting for a stream. */
class Channel {
  session?: http2.ClientHttp2Session;
  /** Sessions that got GOAWAY, still finishing their calls. */
  private readonly draining = new Set<http2.ClientHttp2Session>();
  private connecting = false;
  private ready = false;
  active = 0;
  private limit = 100;
  private readonly queue: PendingCall[] = [];
  private backoffMs: number;
  private retryAt = 0;
  private lastError = "";
  private keepalive?: NodeJS.Timeout;
  closed = false;

  constructor(
    readonly key: string,
    readonly dial: Dial,
    private readonly opts: Required<Omit<Http2TransportOptions, "connector">>,
  ) {
    this.backoffMs = opts.initialBackoffMs;
  }

  get authority(): string {
    return this.dial.authority;
  }

  get scheme(): string {
    return this.dial.tls ? "https" : "http";
  }

  /** Runs `call` on a stream now, or when one is free / the session is up. */
  submit(call: PendingCall): void {
    if (this.closed) return call.fail(new TransportError(Status.UNAVAILABLE, "channel closed"));
    if (!this.ready && !this.connecting && Date.now() < this.retryAt) {
      return call.fail(
        new TransportError(
          Status.UNAVAILABLE,
          `${this.lastError} (reconnecting in ${Math.max(0, this.retryAt - Date.now())} ms)`,
        ),
      );
    }
    if (this.ready && this.session && this.active < this.limit && this.queue.length === 0) {
      this.run(call);
      return;
    }
    if (this.queue.length >= this.opts.maxQueuedCalls) {
      return call.fail(
        new TransportError(
          Status.RESOURCE_EXHAUSTED,
          `more than ${this.opts.maxQueuedCalls} calls waiting for a stream`,
        ),
      );
    }
    this.queue.push(call);
    if (!this.ready && !this.connecting) this.connect();
  }

  /** Takes a queued call out (its deadline passed or it was cancelled while waiting). */
  withdraw(call: PendingCall): void {
    const i = this.queue.indexOf(call);
    if (i >= 0) this.queue.splice(i, 1);
  }

  private run(call: PendingCall): void {
    this.active++;
    if (this.active === 1) this.session!.ref();
    call.start(this.session!, this);
  }

  /** A stream of `session` ended: maybe start queued calls. */
  release(session: http2.ClientHttp2Session): void {
    if (session !== this.session) {
      // A draining session's streams do not count against the new one.
      return;
    }
    this.active--;
    if (this.active === 0 && !session.destroyed) session.unref();
    this.pump();
  }

  private pump(): void {
    while (this.ready && this.session && this.active < this.limit && this.queue.length > 0) {
      this.run(this.queue.shift()!);
    }
  }

  /** Sessions opened so far (reconnections show as more than one). */
  connections = 0;

  private connect(): void {
    this.connecting = true;
    this.connections++;
    const d = this.dial;
    const opts = this.opts;
    let settled = false;
    const session = http2.connect(`${this.scheme}://${d.authority}`, {
      createConnection: () =>
        d.tls
          ? tls.connect({
              host: d.host,
              port: d.port,
              ca: d.tls.ca,
              cert: d.tls.cert,
              key: d.tls.key,
              servername: net.isIP(d.tls.servername) ? undefined : d.tls.servername,
              checkServerIdentity: (_host, cert) => tls.checkServerIdentity(d.tls!.servername, cert),
              ALPNProtocols: ["h2"],
            })
          : net.connect({ host: d.host, port: d.port }),
      settings: { enablePush: false, initialWindowSize: opts.streamWindowBytes },
      maxSessionMemory: 64,
      // Our own queue bounds streams; never let node queue requests behind the server's limit.
      peerMaxConcurrentStreams: opts.maxConcurrentStreams,
    });
    const timer = setTimeout(
      () => fail(`connect to ${d.authority} timed out after ${opts.connectTimeoutMs} ms`),
      opts.connectTimeoutMs,
    );
    timer.unref();
    const fail = (reason: string): void => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      this.connecting = false;
      this.lastError = `connection to ${d.authority} failed: ${reason}`;
      const jitter = 1 + (Math.random() * 0.4 - 0.2);
      this.retryAt = Date.now() + Math.round(this.backoffMs * jitter);
      this.backoffMs = Math.min(opts.maxBackoffMs, this.backoffMs * 1.6);
      session.destroy();
      for (const c of this.queue.splice(0)) c.fail(new TransportError(Status.UNAVAILABLE, this.lastError));
    };
    session.once("remoteSettings", (s) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      this.connecting = false;
      this.ready = true;
      this.session = session;
      this.backoffMs = opts.initialBackoffMs;
      this.limit = Math.max(
        1,
        Math.min(opts.maxConcurrentStreams, s.maxConcurrentStreams ?? opts.maxConcurrentStreams),
      );
      try {
        session.setLocalWindowSize(opts.sessionWindowBytes);
      } catch {
        // Older peers: the default window works, only slower.
      }
      this.startKeepalive(session);
      if (this.active === 0) session.unref();
      this.pump();
    });
    session.on("remoteSettings", (s) => {
      if (session === this.session && s.maxConcurrentStreams !== undefined) {
        this.limit = Math.max(1, Math.min(opts.maxConcurrentStreams, s.maxConcurrentStreams));
      }
    });
    session.on("error", (err: Error) => {
      if (!settled) fail(err.message);
      else this.lastError = `connection to ${d.authority} failed: ${err.message}`;
    });
    session.on("goaway", (errorCode: number, lastStreamID: number, opaque?: Buffer) => {
      const debug =
        opaque && opaque.length > 0
          ? opaque
              .subarray(0, 100)
              .toString("latin1")
              .replace(/[^\x20-\x7e]/g, "?")
          : "";
      GOAWAYS.set(session, { errorCode, lastStreamID, debug });
      // Calls in flight finish on this session (or are refused and retried); new calls get a new one.
      this.retire(session);
    });
    session.on("close", () => {
      if (!settled) fail("connection closed before SETTINGS");
      this.retire(session);
      this.draining.delete(session);
    });
  }

  /** Stops using a session for new calls. */
  private retire(session: http2.ClientHttp2Session): void {
    if (session !== this.session) return;
    this.session = undefined;
    this.ready = false;
    this.active = 0;
    clearInterval(this.keepalive);
    if (!session.destroyed) {
      this.draining.add(session);
      session.ref();
      // Close once its streams are done (a GOAWAY'd session accepts no new ones).
      session.close();
    }
    if (this.queue.length > 0 && !this.closed) this.connect();
  }

  private startKeepalive(session: http2.ClientHttp2Session): void {
    const { keepaliveTimeMs, keepaliveTimeoutMs } = this.opts;
    this.keepalive = setInterval(() => {
      // grpc-go's default policy: no pings without calls in flight.
      if (this.active === 0 || session.destroyed) return;
      const t = setTimeout(() => session.destroy(new Error("keepalive ping unanswered")), keepaliveTimeoutMs);
      t.unref();
      session.ping((err) => {
        clearTimeout(t);
        if (err && !session.destroyed) session.destroy(err);
      });
    }, keepaliveTimeMs);
    this.keepalive.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.keepalive);
    for (const c of this.queue.splice(0)) c.fail(new TransportError(Status.UNAVAILABLE, "channel closed"));
    this.session?.close();
    for (const s of this.draining) s.close();
    this.session = undefined;
  }
}

/** A unary call's state: request out, reply in, status decided once. */
class UnaryCall implements PendingCall {
  private stream?: http2.ClientHttp2Stream;
  private done = false;
  private timer?: NodeJS.Timeout;
  private httpStatus = 0;
  private grpcStatus?: number;
  private grpcMessage = "";
  private statusHeaders?: http2.IncomingHttpHeaders;
  private localError?: ServiceErrorLike;
  /** Reply assembly (the size limit read from the prefix). */
  private readonly reply: UnaryFrameDecoder;
  private retried = false;
  private onAbort?: () => void;

  constructor(
    private readonly path: string,
    private readonly frame: Buffer,
    private readonly deadline: number,
    limit: number,
    private readonly metadata: grpc.Metadata | undefined,
    private readonly signal: AbortSignal | undefined,
    private readonly settle: (err: ServiceErrorLike | null, reply?: Buffer) => void,
    /** Where it waits for a stream (requeued there once when refused, withdrawn when cancelled). */
    private readonly channel: Channel,
  ) {
    this.reply = new UnaryFrameDecoder(limit);
    const left = deadline - Date.now();
    if (left <= 0) {
      this.finish(new TransportError(Status.DEADLINE_EXCEEDED, "deadline exceeded before the call started"));
      return;
    }
    this.timer = setTimeout(() => {
      this.cancel(new TransportError(Status.DEADLINE_EXCEEDED, `deadline exceeded after ${Math.round(left)} ms`));
    }, left);
    if (signal) {
      this.onAbort = () => this.cancel(new TransportError(Status.CANCELLED, "cancelled by caller"));
      signal.addEventListener("abort", this.onAbort, { once: true });
    }
  }

  get finished(): boolean {
    return this.done;
  }

  fail(err: TransportError): void {
    this.finish(err);
  }

  start(session: http2.ClientHttp2Session, channel: Channel): void {
    if (this.done) {
      channel.release(session);
      return;
    }
    const headers = requestHeaders(channel, this.path, this.deadline, this.metadata);
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: false });
    } catch (err) {
      channel.release(session);
      this.finish(new TransportError(Status.UNAVAILABLE, `cannot open a stream: ${(err as Error).message}`));
      return;
    }
    this.stream = stream;
    stream.on("response", (h, flags) => this.onHeaders(h, flags));
    stream.on("trailers", (h) => this.onTrailers(h));
    stream.on("data", (chunk: Buffer) => this.onData(chunk));
    stream.on("error", () => {
      // The outcome is decided on 'close' (rstCode, status or local error).
    });
    stream.on("close", () => this.onClose(stream, session, channel));
    stream.end(this.frame);
  }

  private onHeaders(h: http2.IncomingHttpHeaders, flags: number): void {
    this.httpStatus = Number(h[HTTP2_HEADER_STATUS]);
    if (h["grpc-status"] !== undefined) {
      // Trailers-only: the status is in the only HEADERS frame.
      this.onTrailers(h);
      return;
    }
    void flags;
    if (this.httpStatus !== 200) {
      return this.cancel(
        new TransportError(httpStatusToGrpc(this.httpStatus), `HTTP status ${this.httpStatus} from the Executor`),
      );
    }
    const ct = String(h["content-type"] ?? "");
    if (!ct.startsWith("application/grpc")) {
      this.cancel(new TransportError(Status.UNKNOWN, `reply content-type "${ct.slice(0, 60)}" is not gRPC`));
    }
  }

  private onTrailers(h: http2.IncomingHttpHeaders): void {
    const s = Number(h["grpc-status"]);
    this.grpcMessage = decodeGrpcMessage(String(h["grpc-message"] ?? ""));
    this.grpcStatus = statusFromPeer(Number.isInteger(s) && s >= 0 && s <= 16 ? s : Status.UNKNOWN, this.grpcMessage);
    this.statusHeaders = h;
  }

  private onData(chunk: Buffer): void {
    if (this.done) return;
    const problem = this.reply.push(chunk);
    if (problem === undefined) return;
    if (problem.kind === "second-message")
      return this.cancel(new TransportError(Status.INTERNAL, "more than one reply message in a unary call"));
    if (problem.kind === "compressed")
      return this.cancel(
        new TransportError(
          Status.INTERNAL,
          "compressed reply message refused (the gateway accepts only grpc-encoding identity)",
        ),
      );
    // Refused from the prefix: the message's bytes are never read.
    this.localError = new ResponseTooLargeError(
      `reply of ${problem.length} bytes exceeds the limit of ${problem.limit} bytes`,
    );
    return this.cancel(this.localError);
  }

  private onClose(stream: http2.ClientHttp2Stream, session: http2.ClientHttp2Session, channel: Channel): void {
    channel.release(session);
    if (this.done) return;
    if (this.localError) return this.finish(this.localError);
    if (this.grpcStatus !== undefined) {
      if (this.grpcStatus !== Status.OK) {
        return this.finish(
          new TransportError(
            this.grpcStatus,
            this.grpcMessage || Status[this.grpcStatus] || "error",
            headersToMetadata(this.statusHeaders ?? {}),
          ),
        );
      }
      const message = this.reply.result();
      if (message === "none")
        return this.finish(new TransportError(Status.UNIMPLEMENTED, "the reply carried no message"));
      if (message === "partial")
        return this.finish(new TransportError(Status.INTERNAL, "the reply message was cut short"));
      return this.finish(null, message);
    }
    const rst = stream.rstCode ?? 0;
    const away = GOAWAYS.get(session);
    // Never processed by the server (refused, or above the GOAWAY's last stream id): safe
    // to send again, once, on a fresh session.
    const refused =
      rst === NGHTTP2_REFUSED_STREAM ||
      (away !== undefined && stream.id !== undefined && stream.id > away.lastStreamID);
    if (refused && !this.retried && this.deadline > Date.now()) {
      this.retried = true;
      this.stream = undefined;
      this.channel.submit(this);
      return;
    }
    if (away !== undefined && away.errorCode !== http2.constants.NGHTTP2_NO_ERROR) {
      return this.finish(
        new TransportError(
          Status.UNAVAILABLE,
          `connection closed by the Executor: GOAWAY error ${away.errorCode}${away.debug ? ` (${away.debug})` : ""}`,
        ),
      );
    }
    if (rst !== 0 && Date.now() >= this.deadline) {
      // The server gave up on the deadline it was sent (before our own timer fired).
      return this.finish(
        new TransportError(Status.DEADLINE_EXCEEDED, "deadline exceeded (stream reset by the Executor)"),
      );
    }
    if (rst !== 0) {
      return this.finish(new TransportError(rstCodeToGrpc(rst), `stream reset by the Executor (HTTP/2 error ${rst})`));
    }
    if (this.httpStatus !== 0 && this.httpStatus !== 200) {
      return this.finish(new TransportError(httpStatusToGrpc(this.httpStatus), `HTTP status ${this.httpStatus}`));
    }
    this.finish(new TransportError(Status.UNAVAILABLE, "connection closed before the call completed"));
  }

  /** Ends the call locally: RST_STREAM(CANCEL) if it is on the wire, out of the queue otherwise. */
  private cancel(err: ServiceErrorLike): void {
    if (this.done) return;
    this.localError ??= err;
    if (this.stream && !this.stream.closed) {
      this.stream.close(NGHTTP2_CANCEL);
      // 'close' follows and settles with localError.
      return;
    }
    if (!this.stream) this.channel.withdraw(this);
    this.finish(this.localError);
  }

  private finish(err: ServiceErrorLike | null, reply?: Buffer): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    if (this.onAbort) this.signal?.removeEventListener("abort", this.onAbort);
    this.settle(err, reply);
  }
}

/** An upstream stream handed to the caller as it is (for relaying a reply under flow control). */
export interface UpstreamStream {
  /** The reply's headers (for a trailers-only answer they carry grpc-status). */
  headers: http2.IncomingHttpHeaders;
  /** The raw HTTP/2 stream: framed reply bytes, then 'trailers', then 'end'/'close'. */
  stream: http2.ClientHttp2Stream;
}

/** Opens a stream for one request and resolves when the reply's headers arrive. */
class StreamCall implements PendingCall {
  private done = false;
  private timer?: NodeJS.Timeout;
  private stream?: http2.ClientHttp2Stream;
  private onAbort?: () => void;

  constructor(
    private readonly path: string,
    private readonly frame: Buffer,
    private readonly deadline: number,
    private readonly metadata: grpc.Metadata | undefined,
    private readonly signal: AbortSignal | undefined,
    private readonly resolve: (s: UpstreamStream) => void,
    private readonly reject: (e: TransportError) => void,
    private readonly withdraw: (c: StreamCall) => void,
  ) {
    const left = deadline - Date.now();
    if (left <= 0) {
      this.fail(new TransportError(Status.DEADLINE_EXCEEDED, "deadline exceeded before the call started"));
      return;
    }
    // The deadline covers the whole relay, not only the headers.
    this.timer = setTimeout(() => this.cancel(new TransportError(Status.DEADLINE_EXCEEDED, "deadline exceeded")), left);
    if (signal) {
      this.onAbort = () => this.cancel(new TransportError(Status.CANCELLED, "cancelled by caller"));
      signal.addEventListener("abort", this.onAbort, { once: true });
    }
  }

  get finished(): boolean {
    return this.done;
  }

  fail(err: TransportError): void {
    if (this.done) return;
    this.done = true;
    this.cleanup();
    this.reject(err);
  }

  private cleanup(): void {
    if (this.stream === undefined || this.stream.closed) clearTimeout(this.timer);
    if (this.onAbort && (this.stream === undefined || this.stream.closed))
      this.signal?.removeEventListener("abort", this.onAbort);
  }

  private cancel(err: TransportError): void {
    if (this.stream && !this.stream.closed) this.stream.close(NGHTTP2_CANCEL);
    else if (!this.stream) this.withdraw(this);
    this.fail(err);
  }

  start(session: http2.ClientHttp2Session, channel: Channel): void {
    if (this.done) return channel.release(session);
    const headers = requestHeaders(channel, this.path, this.deadline, this.metadata);
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: false });
    } catch (err) {
      channel.release(session);
      return this.fail(new TransportError(Status.UNAVAILABLE, `cannot open a stream: ${(err as Error).message}`));
    }
    this.stream = stream;
    stream.on("error", () => {});
    stream.once("response", (h) => {
      if (this.done) return;
      this.done = true;
      this.resolve({ headers: h, stream });
    });
    stream.on("close", () => {
      channel.release(session);
      clearTimeout(this.timer);
      if (this.onAbort) this.signal?.removeEventListener("abort", this.onAbort);
      if (!this.done) {
        const rst = stream.rstCode ?? 0;
        this.fail(
          new TransportError(
            rst ? rstCodeToGrpc(rst) : Status.UNAVAILABLE,
            rst ? `stream reset by the Executor (HTTP/2 error ${rst})` : "connection closed before the reply",
          ),
        );
      }
    });
    stream.end(this.frame);
  }
}

/** Receive window of each upstream stream (SETTINGS_INITIAL_WINDOW_SIZE): what a paused relay lets its owner send ahead. */
export const UPSTREAM_STREAM_WINDOW_BYTES = 1024 * 1024;

const DEFAULTS = {
  maxQueuedCalls: 1024,
  maxConcurrentStreams: 1000,
  initialBackoffMs: 200,
  maxBackoffMs: 5000,
  connectTimeoutMs: 20_000,
  keepaliveTimeMs: 300_000,
  keepaliveTimeoutMs: 20_000,
  streamWindowBytes: UPSTREAM_STREAM_WINDOW_BYTES,
  sessionWindowBytes: 16 * 1024 * 1024,
};

/** Upstream calls over the gateway's own HTTP/2 transport: the call shape of UpstreamPool. */
export class Http2Transport implements UnaryTransport {
  private readonly channels = new Map<string, Channel>();
  private readonly observers: CallObserver[] = [];
  private readonly opts: Required<Omit<Http2TransportOptions, "connector">>;
  /** Connector answers that never change for an address (bounded like `channels`, dropped with it). */
  private readonly fixed = new Map<string, ConnectTarget>();

  constructor(private readonly options: Http2TransportOptions) {
    this.opts = { ...DEFAULTS, ...stripUndefined(options) } as Required<Omit<Http2TransportOptions, "connector">>;
  }

  observe(fn: CallObserver): void {
    this.observers.push(fn);
  }

  private channel(address: string, conn: ConnectTarget | undefined): Channel {
    const key = conn?.key ?? address;
    let ch = this.channels.get(address);
    if (ch !== undefined && ch.key !== key) {
      // The checked IP of a host name changed: dial the new one.
      ch.close();
      ch = undefined;
    }
    if (ch === undefined) {
      ch = new Channel(key, conn?.dial ?? plainDial(address), this.opts);
      this.channels.set(address, ch);
    }
    return ch;
  }

  drop(address: string): void {
    this.fixed.delete(address);
    const ch = this.channels.get(address);
    if (ch) {
      ch.close();
      this.channels.delete(address);
    }
  }

  get size(): number {
    return this.channels.size;
  }

  /** Sessions opened to `address` so far (1 = never reconnected). */
  connections(address: string): number {
    return this.channels.get(address)?.connections ?? 0;
  }

  /** One unary call with a deadline; rejects with a ServiceError-shaped TransportError. */
  async call(
    address: string,
    method: UpstreamMethod,
    request: Buffer,
    deadline: Date,
    opts: UnaryCallOptions = {},
  ): Promise<Buffer> {
    // Timed only when someone observes (no clock reads per call otherwise).
    const started = this.observers.length > 0 ? performance.now() : 0;
    if (opts.signal?.aborted) {
      this.notify(address, method, Status.CANCELLED, started);
      throw new TransportError(Status.CANCELLED, "cancelled by caller");
    }
    let conn = this.fixed.get(address);
    if (conn === undefined && this.options.connector) {
      try {
        conn = await this.options.connector.connect(address, deadline.getTime() - Date.now());
      } catch (err) {
        this.notify(address, method, Status.UNAVAILABLE, started);
        throw err;
      }
      // An IP literal in canonical spelling: the same answer every time, so it is not asked
      // again per call (parsing, TLS rules). Names are asked every call (DNS checks, trust).
      if (conn.target === address && net.isIP(conn.dial.host) !== 0) this.fixed.set(address, conn);
    }
    const ch = this.channel(address, conn);
    const limit = method === "getPredictResult" ? this.opts.maxPredictBytes : this.opts.maxResponseBytes;
    const frame = Buffer.allocUnsafe(5 + request.length);
    frame[0] = 0;
    frame.writeUInt32BE(request.length, 1);
    request.copy(frame, 5);
    return new Promise<Buffer>((resolve, reject) => {
      const call: UnaryCall = new UnaryCall(
        METHOD_PATHS[method],
        frame,
        deadline.getTime(),
        limit,
        opts.metadata,
        opts.signal,
        (err, reply) => {
          if (started !== 0) this.notify(address, method, err ? err.code : Status.OK, started);
          if (err) reject(err);
          else resolve(reply!);
        },
        ch,
      );
      if (!call.finished) ch.submit(call);
    });
  }

  private notify(address: string, method: UpstreamMethod, code: Status, started: number): void {
    if (this.observers.length === 0) return;
    const durationMs = performance.now() - started;
    for (const o of this.observers) o({ address, method, ok: code === Status.OK, code, durationMs });
  }

  /**
   * Opens one call and hands over its reply stream once the headers arrive, for a relay
   * that forwards the bytes under flow control (nothing is buffered here). The deadline
   * (a local timer, RST_STREAM when it passes) and the signal cover the whole stream.
   */
  async openStream(
    address: string,
    method: UpstreamMethod,
    request: Buffer,
    deadline: Date,
    opts: { metadata?: grpc.Metadata; signal?: AbortSignal } = {},
  ): Promise<UpstreamStream> {
    if (opts.signal?.aborted) throw new TransportError(Status.CANCELLED, "cancelled by caller");
    const conn = this.options.connector
      ? await this.options.connector.connect(address, deadline.getTime() - Date.now())
      : undefined;
    const ch = this.channel(address, conn);
    const frame = Buffer.allocUnsafe(5 + request.length);
    frame[0] = 0;
    frame.writeUInt32BE(request.length, 1);
    request.copy(frame, 5);
    return new Promise<UpstreamStream>((resolve, reject) => {
      const call: StreamCall = new StreamCall(
        METHOD_PATHS[method],
        frame,
        deadline.getTime(),
        opts.metadata,
        opts.signal,
        resolve,
        reject,
        (c) => ch.withdraw(c),
      );
      if (!call.finished) ch.submit(call);
    });
  }

  close(): void {
    for (const ch of this.channels.values()) ch.close();
    this.channels.clear();
    this.fixed.clear();
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Without a connector: plain text to the address itself. */
function plainDial(address: string): Dial {
  const m = /^\[(.+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (!m) throw new TransportError(Status.INVALID_ARGUMENT, `"${address}" is not host:port`);
  return { host: m[1]!, port: Number(m[2]), authority: address };
}
