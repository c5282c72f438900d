/**
 * The gateway's Task API methods on HTTP/2 framed in JavaScript (bench/lib/h2-connection.ts)
 * instead of node:http2: the same `unary` handlers, admission from the headers, deadlines,
 * client resets and the fair intake as the own server (src/transport/server.ts), so that
 * scenario 6 can measure what the serving transport costs the overload targets
 * (`BENCH_FRAMED=1`), and scenario 3 what it costs a 64 MiB prediction relay. A
 * measurement, not a server: no fallback for other methods, no TLS, no adaptive stream
 * limit, no drain, no stall cut-off for a relay's slow reader.
 */
import http2 from "node:http2";
import net from "node:net";
import type * as grpc from "@grpc/grpc-js";
import { FairIntake } from "../../src/transport/fair-intake";
import {
  FramedReply,
  INTAKE_SLICE_CALLS,
  RELAY_QUEUE_BYTES,
  type Http2GrpcServerOptions,
  type RelayReply,
  type ServerCall,
  type UnaryHandler,
  type UnaryReply,
} from "../../src/transport/server";
import {
  Status,
  decodeGrpcMessage,
  decodeTimeout,
  encodeGrpcMessage,
  headersToMetadata,
} from "../../src/transport/status";
import { FramedConnection, RESPONSE_BLOCK, headerBlock, type ConnectionHandler } from "./h2-connection";

/** A call between its headers and its answer. */
interface PendingCall {
  headers: Record<string, string>;
  handler: UnaryHandler;
  peer: string;
  admitted?: () => void;
  deadline?: Date;
  timer?: NodeJS.Timeout;
  ac?: AbortController;
  started: boolean;
  done: boolean;
  queued: boolean;
  /** A relay's: the client went (reset, or its connection closed). */
  onGone?: () => void;
}

const OK_TRAILERS = headerBlock([["grpc-status", "0"]]);
const trailerBlocks = new WeakMap<Record<string, string | Buffer>, Buffer>();
function okTrailers(t: Record<string, string | Buffer> | undefined): Buffer {
  if (t === undefined) return OK_TRAILERS;
  let block = trailerBlocks.get(t);
  if (block === undefined) {
    const fields: [string, string][] = [["grpc-status", "0"]];
    for (const [k, v] of Object.entries(t)) fields.push([k, Buffer.isBuffer(v) ? v.toString("base64") : v]);
    block = headerBlock(fields);
    trailerBlocks.set(t, block);
  }
  return block;
}

function statusBlock(code: Status, details: string, extra?: Record<string, string>, md?: grpc.Metadata): Buffer {
  const fields: [string, string][] = [
    ["grpc-status", String(code)],
    ["grpc-message", encodeGrpcMessage(details)],
  ];
  for (const [k, v] of Object.entries(extra ?? {})) fields.push([k, v]);
  if (md)
    for (const [k, v] of Object.entries(md.getMap())) fields.push([k, Buffer.isBuffer(v) ? v.toString("base64") : v]);
  return Buffer.concat([RESPONSE_BLOCK, headerBlock(fields)]);
}

export class FramedGrpcServer implements ConnectionHandler {
  private readonly handlers = new Map<string, UnaryHandler>();
  private readonly calls = new WeakMap<FramedConnection, Map<number, PendingCall>>();
  private readonly peers = new WeakMap<FramedConnection, string>();
  private readonly intake: FairIntake<FramedConnection>;
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly opts: Http2GrpcServerOptions) {
    this.intake = new FairIntake<FramedConnection>({ sliceCalls: opts.intakeSliceCalls ?? INTAKE_SLICE_CALLS });
  }

  unary(path: string, handler: UnaryHandler): this {
    this.handlers.set(path, handler);
    return this;
  }

  async listen(host: string, port: number): Promise<number> {
    const server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      const conn = new FramedConnection(
        socket,
        this,
        this.opts.maxConcurrentStreams ?? 100,
        this.opts.maxRequestBytes + 5,
      );
      this.calls.set(conn, new Map());
      this.peers.set(conn, `${socket.remoteAddress}:${socket.remotePort}`);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    return (server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  request(conn: FramedConnection, id: number, fields: string[], body: Buffer | undefined): void {
    const calls = this.calls.get(conn)!;
    if (body === undefined) return this.headers(conn, calls, id, fields);
    const c = calls.get(id);
    if (!c || c.done) return;
    if (body.length < 5) return this.fail(conn, id, c, Status.INTERNAL, "no request message");
    if (body[0] !== 0)
      return this.fail(conn, id, c, Status.UNIMPLEMENTED, "compressed requests are not supported", {
        "grpc-accept-encoding": "identity",
      });
    const length = body.readUInt32BE(1);
    if (length > this.opts.maxRequestBytes)
      return this.fail(
        conn,
        id,
        c,
        Status.RESOURCE_EXHAUSTED,
        `request of ${length} bytes exceeds the limit of ${this.opts.maxRequestBytes}`,
      );
    if (body.length !== 5 + length) return this.fail(conn, id, c, Status.INTERNAL, "request message cut short");
    c.queued = true;
    this.intake.push(conn, () => this.start(conn, id, c, body.subarray(5)));
  }

  reset(conn: FramedConnection, id: number): void {
    const calls = this.calls.get(conn);
    const c = calls?.get(id);
    if (!c) return;
    calls!.delete(id);
    this.finish(conn, id, c);
    c.ac?.abort();
    c.onGone?.();
  }

  private headers(conn: FramedConnection, calls: Map<number, PendingCall>, id: number, fields: string[]): void {
    const headers: Record<string, string> = {};
    for (let i = 0; i < fields.length; i += 2) headers[fields[i]!] ??= fields[i + 1]!;
    const path = headers[":path"] ?? "";
    const handler = this.handlers.get(path);
    const c: PendingCall = {
      headers,
      handler: handler!,
      peer: this.peers.get(conn)!,
      started: false,
      done: false,
      queued: false,
    };
    calls.set(id, c);
    if (!handler) return this.fail(conn, id, c, Status.UNIMPLEMENTED, `method ${path.slice(0, 100)} not served`);
    if (this.opts.admit) {
      const a = this.opts.admit(path, headers, c.peer);
      if ("refuse" in a) return this.fail(conn, id, c, a.refuse.code, a.refuse.details, a.refuse.trailers);
      c.admitted = a.release;
    }
    const t = headers["grpc-timeout"];
    if (t !== undefined) {
      const ms = decodeTimeout(t);
      if (ms === undefined) return this.fail(conn, id, c, Status.INTERNAL, "malformed grpc-timeout");
      c.deadline = new Date(Date.now() + ms);
      c.timer = setTimeout(() => this.fail(conn, id, c, Status.DEADLINE_EXCEEDED, "deadline exceeded"), ms);
    }
  }

  private start(conn: FramedConnection, id: number, c: PendingCall, message: Buffer): void {
    if (c.done) return;
    if (c.deadline !== undefined && Date.now() >= c.deadline.getTime())
      return this.fail(conn, id, c, Status.DEADLINE_EXCEEDED, "deadline exceeded before the call started");
    c.started = true;
    const call: ServerCall = {
      get metadata() {
        return headersToMetadata(c.headers);
      },
      headers: c.headers,
      deadline: c.deadline,
      get signal() {
        if (c.ac === undefined) {
          c.ac = new AbortController();
          if (c.done) c.ac.abort();
        }
        return c.ac.signal;
      },
      peer: c.peer,
      admitted: c.admitted,
    };
    let p: Promise<unknown>;
    try {
      p = c.handler(message, call);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (r) => {
        if ("upstream" in (r as object)) return this.relay(conn, id, c, r as RelayReply);
        if (c.done) return;
        const u = r as UnaryReply;
        const framed = u.reply instanceof FramedReply ? u.reply.bytes : new FramedReply(u.reply).bytes;
        this.finish(conn, id, c);
        conn.respond(id, framed, okTrailers(u.trailers));
      },
      (err: { code?: number; details?: string; message?: string; metadata?: grpc.Metadata }) => {
        const code = typeof err?.code === "number" && err.code >= 0 && err.code <= 16 ? err.code : Status.INTERNAL;
        this.fail(
          conn,
          id,
          c,
          code,
          String(err?.details ?? err?.message ?? "internal error"),
          undefined,
          err?.metadata,
        );
      },
    );
  }

  /**
   * Forwards an upstream reply as it arrives, as the own server's relay does: a
   * trailers-only upstream answer passed on, the length prefix checked before any byte is
   * sent, the upstream paused while RELAY_QUEUE_BYTES wait for the client, its trailers
   * passed on, and `onDone` told how it ended.
   */
  private relay(conn: FramedConnection, id: number, c: PendingCall, r: RelayReply): void {
    const up = r.upstream.stream;
    let bytes = 0;
    let pushbacks = 0;
    let over = false;
    const end = (code: Status, details: string): void => {
      if (over) return;
      over = true;
      this.calls.get(conn)?.delete(id);
      r.onDone?.({ ok: code === Status.OK, bytes, code, details, pushbacks });
    };
    const trailersOf = (h: http2.IncomingHttpHeaders): [string, string][] =>
      Object.entries(h)
        .filter(([k]) => !k.startsWith(":"))
        .map(([k, v]) => [k, String(v)]);
    const passStatus = (h: http2.IncomingHttpHeaders): void => {
      const code = Number(h["grpc-status"] ?? Status.UNKNOWN) as Status;
      const details = decodeGrpcMessage(String(h["grpc-message"] ?? ""));
      end(code, details);
      if (!up.closed) up.close(http2.constants.NGHTTP2_CANCEL);
      if (!c.done) {
        this.finish(conn, id, c);
        conn.respondTrailersOnly(id, Buffer.concat([RESPONSE_BLOCK, headerBlock(trailersOf(h))]));
      }
    };
    /** Ends the relay early: a trailers-only answer before the headers, RST_STREAM INTERNAL_ERROR after. */
    const stop = (code: Status, details: string): void => {
      end(code, details);
      if (!up.closed) up.close(http2.constants.NGHTTP2_CANCEL);
      if (!c.done) this.fail(conn, id, c, code, details);
      else conn.reset(id, 2);
    };
    if (c.done || conn.closed) {
      if (!up.closed) up.close(http2.constants.NGHTTP2_CANCEL);
      return end(Status.CANCELLED, "the client went away before the relay started");
    }
    const h = r.upstream.headers;
    if (h["grpc-status"] !== undefined) return passStatus(h);
    let upTrailers: http2.IncomingHttpHeaders | undefined;
    up.on("trailers", (t) => (upTrailers = t));
    // The client went (its reset, or the connection): the upstream is cancelled with it.
    c.onGone = () => {
      if (!up.closed) up.close(http2.constants.NGHTTP2_CANCEL);
      end(Status.CANCELLED, "the client went away during the relay");
    };
    let prefix: Buffer | undefined = Buffer.alloc(0);
    up.on("data", (chunk: Buffer) => {
      if (over) return;
      if (prefix !== undefined) {
        prefix = prefix.length ? Buffer.concat([prefix, chunk]) : chunk;
        if (prefix.length < 5) return;
        if (prefix[0] !== 0) return stop(Status.INTERNAL, "compressed reply from upstream refused");
        const len = prefix.readUInt32BE(1);
        if (len > r.maxBytes)
          return stop(Status.RESOURCE_EXHAUSTED, r.tooLarge?.(len) ?? `reply of ${len} bytes exceeds ${r.maxBytes}`);
        chunk = prefix;
        prefix = undefined;
        // Headers only now: a refusal above can still be a trailers-only answer.
        this.finish(conn, id, c, true);
        conn.startResponse(id);
      }
      bytes += chunk.length;
      if (conn.pushData(id, chunk) >= RELAY_QUEUE_BYTES) {
        pushbacks++;
        up.pause();
        conn.whenDrained(id, () => up.resume());
      }
    });
    up.on("end", () => {
      if (over) return;
      if (!upTrailers) return stop(Status.UNAVAILABLE, "upstream stream ended without a status");
      if (prefix !== undefined) return passStatus(upTrailers);
      conn.endResponse(id, headerBlock(trailersOf(upTrailers)));
      end(
        Number(upTrailers["grpc-status"] ?? Status.UNKNOWN) as Status,
        decodeGrpcMessage(String(upTrailers["grpc-message"] ?? "")),
      );
    });
    up.on("close", () => {
      if (!over && up.rstCode) stop(Status.UNAVAILABLE, "upstream stream closed before its status");
    });
  }

  /** The call's bookkeeping ends once: its timer, its intake count, its admission slot if its handler never ran. */
  private finish(conn: FramedConnection, id: number, c: PendingCall, relaying = false): void {
    if (c.done) return;
    c.done = true;
    clearTimeout(c.timer);
    if (c.queued) this.intake.finish(conn);
    if (!c.started) c.admitted?.();
    // A relay's record stays until its stream ends, so that a client's reset reaches it.
    if (!relaying) this.calls.get(conn)?.delete(id);
  }

  private fail(
    conn: FramedConnection,
    id: number,
    c: PendingCall,
    code: Status,
    details: string,
    extra?: Record<string, string>,
    md?: grpc.Metadata,
  ): void {
    if (c.done) return;
    this.finish(conn, id, c);
    c.ac?.abort();
    conn.respondTrailersOnly(id, statusBlock(code, details, extra, md));
  }
}
