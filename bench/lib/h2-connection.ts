/**
 * One HTTP/2 server connection framed in JavaScript on a socket, for the benchmarks'
 * measurements of what node:http2 costs (bench/lib/framing-floor.ts, the fixed reply;
 * bench/lib/framed-server.ts, the gateway's Task API on it). It keeps what h2load,
 * grpc-js and grpcio clients need: SETTINGS, PING, flow control both ways, HPACK with
 * Huffman and a dynamic table, CONTINUATION, padding, RST_STREAM; anything else ends the
 * connection with GOAWAY. Not a server for production: no TLS, no SETTINGS changes after
 * the first, no priorities, no push, no limit on header list size but the block's.
 */
import type net from "node:net";
import { HpackDecoder, HpackError } from "./hpack";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const FRAME = {
  DATA: 0,
  HEADERS: 1,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
};
const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 };
const SETTING = { MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5 };
const PROTOCOL_ERROR = 1;
const FRAME_SIZE_ERROR = 6;
const REFUSED_STREAM = 7;
/** The largest frame this side reads, and the window it grants each stream. */
const MAX_FRAME = 16_384;
const STREAM_WINDOW = 1 << 20;
/** A header block (HEADERS and its CONTINUATIONs) larger than this ends the connection. */
const MAX_HEADER_BLOCK = 64 * 1024;

function frameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  const h = Buffer.allocUnsafe(9);
  h[0] = length >>> 16;
  h[1] = (length >>> 8) & 0xff;
  h[2] = length & 0xff;
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return h;
}

/** An HPACK integer with an n-bit prefix (RFC 7541 5.1), the prefix's high bits `first`. */
function hpackInteger(v: number, prefixBits: number, first: number, out: number[]): void {
  const max = (1 << prefixBits) - 1;
  if (v < max) {
    out.push(first | v);
    return;
  }
  out.push(first | max);
  v -= max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

/** A header block of literals without indexing, new names, no Huffman (RFC 7541 6.2.2): nothing for the peer to track. */
export function headerBlock(fields: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    const n = Buffer.from(name, "latin1");
    const v = Buffer.from(value, "latin1");
    const a: number[] = [0];
    hpackInteger(n.length, 7, 0, a);
    const b: number[] = [];
    hpackInteger(v.length, 7, 0, b);
    parts.push(Buffer.from(a), n, Buffer.from(b), v);
  }
  return Buffer.concat(parts);
}

/** `:status: 200` (static index 8) and `content-type: application/grpc` (name at static index 31). */
export const RESPONSE_BLOCK = Buffer.concat([Buffer.from([0x88, 0x0f, 0x10, 16]), Buffer.from("application/grpc")]);

interface Stream {
  sendWindow: number;
  /** Whether the response headers are out; the reply bytes waiting (the head chunk from `sentOfHead`), and the trailers after them once known. */
  responding: boolean;
  out: Buffer[];
  sentOfHead: number;
  outBytes: number;
  trailers?: Buffer;
  /** Called once the stream's queue is empty and the socket takes writes again (a relay resumes its upstream). */
  drained?: () => void;
  /** Request DATA so far, and how much of it the stream's window has not been given back. */
  body: Buffer[];
  bodyBytes: number;
  unacknowledged: number;
  headers?: string[];
  ended: boolean;
}

export interface ConnectionHandler {
  /** A stream's request headers ([name, value, …], lower-case names) and, once its END_STREAM came, its body. */
  request(conn: FramedConnection, id: number, headers: string[], body: Buffer | undefined): void;
  /** The client reset the stream or the connection went. */
  reset?(conn: FramedConnection, id: number): void;
}

export class FramedConnection {
  private pending: Buffer | undefined;
  private prefaceSeen = false;
  private readonly hpack = new HpackDecoder();
  private readonly streams = new Map<number, Stream>();
  private peerMaxFrame = 16_384;
  private peerInitialWindow = 65_535;
  private connectionSendWindow = 65_535;
  private receivedUnacknowledged = 0;
  private continuing: { stream: number; endStream: boolean; parts: Buffer[]; bytes: number } | undefined;
  private corked = false;
  /** Streams whose reply waits for a WINDOW_UPDATE. */
  private blocked: number[] = [];
  closed = false;

  constructor(
    readonly socket: net.Socket,
    private readonly handler: ConnectionHandler,
    private readonly maxStreams = 100,
    /** Largest request body a stream may send before it is reset. */
    private readonly maxBody = 4 * 1024 * 1024,
  ) {
    socket.setNoDelay(true);
    socket.on("data", (d: Buffer) => this.read(d));
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      this.closed = true;
      for (const id of this.streams.keys()) this.handler.reset?.(this, id);
      this.streams.clear();
    });
    const s = Buffer.alloc(12);
    s.writeUInt16BE(SETTING.MAX_CONCURRENT_STREAMS, 0);
    s.writeUInt32BE(maxStreams, 2);
    s.writeUInt16BE(SETTING.INITIAL_WINDOW_SIZE, 6);
    s.writeUInt32BE(STREAM_WINDOW, 8);
    this.write(frameHeader(12, FRAME.SETTINGS, 0, 0), s);
  }

  /** Everything written in one turn leaves in one writev. */
  private write(...chunks: Buffer[]): void {
    if (this.closed) return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    for (const c of chunks) this.socket.write(c);
  }

  /** Answers stream `id`: response headers, the framed reply (under flow control), then `trailers` (a header block). */
  respond(id: number, framed: Buffer, trailers: Buffer): void {
    if (!this.startResponse(id)) return;
    const s = this.streams.get(id)!;
    s.out.push(framed);
    s.outBytes += framed.length;
    s.trailers = trailers;
    this.send(id, s);
  }

  /** Writes stream `id`'s response headers; its reply follows by `pushData` and `endResponse`. False if the stream is gone or answered. */
  startResponse(id: number): boolean {
    const s = this.streams.get(id);
    if (!s || s.responding) return false;
    s.responding = true;
    this.write(frameHeader(RESPONSE_BLOCK.length, FRAME.HEADERS, FLAG.END_HEADERS, id), RESPONSE_BLOCK);
    return true;
  }

  /** Queues reply bytes on a started response; returns the bytes not yet handed to the kernel (the stream's and the socket's). */
  pushData(id: number, chunk: Buffer): number {
    const s = this.streams.get(id);
    if (!s?.responding || s.trailers) return 0;
    s.out.push(chunk);
    s.outBytes += chunk.length;
    this.send(id, s);
    return s.outBytes + this.socket.writableLength;
  }

  /** Ends a started response with `trailers` (a header block) once its queued bytes are out. */
  endResponse(id: number, trailers: Buffer): void {
    const s = this.streams.get(id);
    if (!s?.responding || s.trailers) return;
    s.trailers = trailers;
    this.send(id, s);
  }

  /** Calls `fn` once stream `id`'s queue is empty and the socket takes writes again. */
  whenDrained(id: number, fn: () => void): void {
    const s = this.streams.get(id);
    if (!s) return;
    s.drained = fn;
    this.send(id, s);
  }

  /** A trailers-only answer: one HEADERS frame with END_STREAM (`block` holds :status, content-type and the status). */
  respondTrailersOnly(id: number, block: Buffer): void {
    const s = this.streams.get(id);
    if (!s || s.responding) return;
    this.streams.delete(id);
    this.write(frameHeader(block.length, FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id), block);
  }

  /** Ends stream `id` with RST_STREAM (a relay cut short: `code` 2 INTERNAL_ERROR, 8 CANCEL). */
  reset(id: number, code: number): void {
    if (this.streams.has(id)) this.resetStream(id, code);
  }

  private fail(code: number): void {
    const g = Buffer.alloc(8);
    g.writeUInt32BE(0, 0);
    g.writeUInt32BE(code, 4);
    this.write(frameHeader(8, FRAME.GOAWAY, 0, 0), g);
    this.socket.removeAllListeners("data");
    this.socket.end();
  }

  private resetStream(id: number, code: number): void {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(code, 0);
    this.write(frameHeader(4, FRAME.RST_STREAM, 0, id), b);
    if (this.streams.delete(id)) this.handler.reset?.(this, id);
  }

  private read(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let p = 0;
    if (!this.prefaceSeen) {
      if (buf.length < PREFACE.length) {
        if (!PREFACE.subarray(0, buf.length).equals(buf)) return this.fail(PROTOCOL_ERROR);
        this.pending = buf;
        return;
      }
      if (!buf.subarray(0, PREFACE.length).equals(PREFACE)) return this.fail(PROTOCOL_ERROR);
      this.prefaceSeen = true;
      p = PREFACE.length;
    }
    try {
      while (buf.length - p >= 9) {
        const length = (buf[p]! << 16) | (buf[p + 1]! << 8) | buf[p + 2]!;
        if (length > MAX_FRAME) return this.fail(FRAME_SIZE_ERROR);
        if (buf.length - p < 9 + length) break;
        const stream = buf.readUInt32BE(p + 5) & 0x7fffffff;
        if (!this.frame(buf[p + 3]!, buf[p + 4]!, stream, buf, p + 9, p + 9 + length)) return;
        p += 9 + length;
      }
    } catch (err) {
      if (err instanceof HpackError || err instanceof RangeError) return this.fail(PROTOCOL_ERROR);
      throw err;
    }
    // A partial frame is copied: the chunk it came in is not held for the rest of it.
    this.pending = p < buf.length ? Buffer.from(buf.subarray(p)) : undefined;
  }

  /** Handles one frame; false when the connection was failed. */
  private frame(type: number, flags: number, id: number, b: Buffer, start: number, end: number): boolean {
    if (this.continuing && type !== FRAME.CONTINUATION) return this.failed();
    switch (type) {
      case FRAME.DATA: {
        this.receivedUnacknowledged += end - start;
        let s0 = start;
        let e0 = end;
        if (flags & FLAG.PADDED) {
          e0 -= b[s0]! + 1;
          s0 += 1;
          if (s0 > e0) return this.failed();
        }
        const s = this.streams.get(id);
        if (s && !s.ended) {
          if (e0 > s0) {
            s.body.push(Buffer.from(b.subarray(s0, e0)));
            s.bodyBytes += e0 - s0;
          }
          s.unacknowledged += end - start;
          if (s.bodyBytes > this.maxBody) this.resetStream(id, REFUSED_STREAM);
          else if (flags & FLAG.END_STREAM) this.ended(id, s);
          else if (s.unacknowledged >= 32_768) {
            // The stream's window back as its body is taken in: a request up to maxBody never stalls.
            this.windowUpdate(id, s.unacknowledged);
            s.unacknowledged = 0;
          }
        }
        if (this.receivedUnacknowledged >= 32_768) {
          this.windowUpdate(0, this.receivedUnacknowledged);
          this.receivedUnacknowledged = 0;
        }
        return true;
      }
      case FRAME.HEADERS: {
        if (id === 0 || id % 2 === 0) return this.failed();
        let s = start;
        let e = end;
        if (flags & FLAG.PADDED) {
          e -= b[s]! + 1;
          s += 1;
        }
        if (flags & FLAG.PRIORITY) s += 5;
        if (s > e) return this.failed();
        const endStream = (flags & FLAG.END_STREAM) !== 0;
        if (flags & FLAG.END_HEADERS) this.headers(id, endStream, b, s, e);
        else {
          const part = Buffer.from(b.subarray(s, e));
          this.continuing = { stream: id, endStream, parts: [part], bytes: part.length };
        }
        return true;
      }
      case FRAME.CONTINUATION: {
        const c = this.continuing;
        if (!c || c.stream !== id) return this.failed();
        c.parts.push(Buffer.from(b.subarray(start, end)));
        c.bytes += end - start;
        if (c.bytes > MAX_HEADER_BLOCK) return this.failed();
        if (flags & FLAG.END_HEADERS) {
          this.continuing = undefined;
          const block = Buffer.concat(c.parts);
          this.headers(id, c.endStream, block, 0, block.length);
        }
        return true;
      }
      case FRAME.RST_STREAM:
        if (this.streams.delete(id)) this.handler.reset?.(this, id);
        return true;
      case FRAME.SETTINGS: {
        if (flags & FLAG.ACK) return true;
        for (let i = start; i + 6 <= end; i += 6) {
          const key = b.readUInt16BE(i);
          const value = b.readUInt32BE(i + 2);
          if (key === SETTING.INITIAL_WINDOW_SIZE) {
            const delta = value - this.peerInitialWindow;
            this.peerInitialWindow = value;
            for (const s of this.streams.values()) s.sendWindow += delta;
          } else if (key === SETTING.MAX_FRAME_SIZE) this.peerMaxFrame = value;
          // HEADER_TABLE_SIZE bounds the peer's decoder; this side's encoder never indexes.
        }
        this.write(frameHeader(0, FRAME.SETTINGS, FLAG.ACK, 0));
        this.unblock();
        return true;
      }
      case FRAME.PING:
        if (!(flags & FLAG.ACK))
          this.write(frameHeader(8, FRAME.PING, FLAG.ACK, 0), Buffer.from(b.subarray(start, end)));
        return true;
      case FRAME.GOAWAY:
        this.socket.end();
        return false;
      case FRAME.WINDOW_UPDATE: {
        const increment = b.readUInt32BE(start) & 0x7fffffff;
        if (id === 0) this.connectionSendWindow += increment;
        else {
          const s = this.streams.get(id);
          if (s) s.sendWindow += increment;
        }
        this.unblock();
        return true;
      }
      default:
        // PRIORITY and unknown frame types are ignored (RFC 9113 5.5).
        return true;
    }
  }

  private windowUpdate(id: number, increment: number): void {
    const w = Buffer.allocUnsafe(4);
    w.writeUInt32BE(increment, 0);
    this.write(frameHeader(4, FRAME.WINDOW_UPDATE, 0, id), w);
  }

  private failed(): false {
    this.fail(PROTOCOL_ERROR);
    return false;
  }

  private headers(id: number, endStream: boolean, b: Buffer, start: number, end: number): void {
    // Decoded whatever happens to the stream: the dynamic table must follow the peer's encoder.
    const fields = this.hpack.decode(b, start, end);
    const known = this.streams.get(id);
    if (known) {
      // Trailers from the client: the request is over.
      if (endStream && !known.ended) this.ended(id, known);
      return;
    }
    if (this.streams.size >= this.maxStreams) return this.resetStream(id, REFUSED_STREAM);
    const s: Stream = {
      sendWindow: this.peerInitialWindow,
      responding: false,
      out: [],
      sentOfHead: 0,
      outBytes: 0,
      body: [],
      bodyBytes: 0,
      unacknowledged: 0,
      headers: fields,
      ended: false,
    };
    this.streams.set(id, s);
    this.handler.request(this, id, fields, undefined);
    if (endStream && this.streams.get(id) === s) this.ended(id, s);
  }

  private ended(id: number, s: Stream): void {
    s.ended = true;
    const body = s.body.length === 1 ? s.body[0]! : Buffer.concat(s.body, s.bodyBytes);
    s.body = [];
    this.handler.request(this, id, s.headers!, body);
  }

  /** Writes what the windows allow of the queued reply bytes, then the trailers once they are known and nothing is left. */
  private send(id: number, s: Stream): void {
    while (s.out.length > 0) {
      const head = s.out[0]!;
      const n = Math.min(head.length - s.sentOfHead, this.peerMaxFrame, s.sendWindow, this.connectionSendWindow);
      if (n <= 0) {
        if (!this.blocked.includes(id)) this.blocked.push(id);
        return;
      }
      this.write(frameHeader(n, FRAME.DATA, 0, id), head.subarray(s.sentOfHead, s.sentOfHead + n));
      s.sentOfHead += n;
      s.outBytes -= n;
      s.sendWindow -= n;
      this.connectionSendWindow -= n;
      if (s.sentOfHead === head.length) {
        s.out.shift();
        s.sentOfHead = 0;
      }
    }
    if (s.trailers) {
      const t = s.trailers;
      this.write(frameHeader(t.length, FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id), t);
      this.streams.delete(id);
      return;
    }
    const fn = s.drained;
    if (fn) {
      s.drained = undefined;
      if (this.socket.writableNeedDrain) this.socket.once("drain", fn);
      else queueMicrotask(fn);
    }
  }

  private unblock(): void {
    const waiting = this.blocked;
    this.blocked = [];
    for (const id of waiting) {
      const s = this.streams.get(id);
      if (s?.responding) this.send(id, s);
    }
  }
}
