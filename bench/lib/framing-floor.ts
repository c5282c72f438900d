/**
 * The framing floor: a fixed unary gRPC reply served over HTTP/2 framed in JavaScript on
 * a net.Socket, without node:http2 — what a cache hit would cost if the serving path
 * framed its own replies (compare bare-http2.ts: the own server on node:http2, and
 * bare.ts: grpc-js). A measurement, not a server: it answers every request on any path
 * with the same reply and keeps just enough of HTTP/2 for h2load, grpc-js and grpcio
 * clients (SETTINGS, PING, flow control both ways, HPACK with Huffman and a dynamic table,
 * CONTINUATION, padding); anything else ends the connection with GOAWAY.
 *
 * What it saves is node:http2's per-stream work: no ServerHttp2Stream (a Duplex) and no
 * header object per call, and no request header value as an old-space external string
 * (node:http2 makes one of every non-static value, and each must be finalized by a
 * mark-compact).
 */
import net from "node:net";
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
const SETTING = { HEADER_TABLE_SIZE: 1, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5 };
const PROTOCOL_ERROR = 1;
const FRAME_SIZE_ERROR = 6;
/** What this side announces: the largest frame it reads, the streams and the window it grants. */
const MAX_FRAME = 16_384;
const MAX_STREAMS = 100;
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

/** A literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2). */
function literal(name: string, value: string): Buffer {
  return Buffer.concat([
    Buffer.from([0, name.length]),
    Buffer.from(name),
    Buffer.from([value.length]),
    Buffer.from(value),
  ]);
}

/** `:status: 200` (static index 8) and `content-type: application/grpc` (name at static index 31). */
const RESPONSE_BLOCK = Buffer.concat([Buffer.from([0x88, 0x0f, 0x10, 16]), Buffer.from("application/grpc")]);
const TRAILERS_BLOCK = literal("grpc-status", "0");

interface Stream {
  sendWindow: number;
  /** Reply bytes written so far. */
  sent: number;
  answered: boolean;
}

class FloorConnection {
  private pending: Buffer | undefined;
  private prefaceSeen = false;
  private readonly hpack = new HpackDecoder();
  private readonly streams = new Map<number, Stream>();
  private peerMaxFrame = 16_384;
  private peerInitialWindow = 65_535;
  private connectionSendWindow = 65_535;
  private receivedUnacknowledged = 0;
  private headerBlock: { stream: number; endStream: boolean; parts: Buffer[]; bytes: number } | undefined;
  private corked = false;
  /** Streams whose reply waits for a WINDOW_UPDATE. */
  private blocked: number[] = [];

  constructor(
    private readonly socket: net.Socket,
    private readonly reply: Buffer,
  ) {
    socket.setNoDelay(true);
    socket.on("data", (d: Buffer) => this.read(d));
    socket.on("error", () => socket.destroy());
    const s = Buffer.alloc(12);
    s.writeUInt16BE(SETTING.MAX_CONCURRENT_STREAMS, 0);
    s.writeUInt32BE(MAX_STREAMS, 2);
    s.writeUInt16BE(SETTING.INITIAL_WINDOW_SIZE, 6);
    s.writeUInt32BE(STREAM_WINDOW, 8);
    this.write(frameHeader(12, FRAME.SETTINGS, 0, 0), s);
  }

  /** Everything written in one turn leaves in one writev. */
  private write(...chunks: Buffer[]): void {
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

  private fail(code: number): void {
    const g = Buffer.alloc(8);
    g.writeUInt32BE(0, 0);
    g.writeUInt32BE(code, 4);
    this.write(frameHeader(8, FRAME.GOAWAY, 0, 0), g);
    this.socket.end();
    this.socket.removeAllListeners("data");
  }

  private read(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let p = 0;
    if (!this.prefaceSeen) {
      if (buf.length < PREFACE.length) {
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
        this.frame(buf[p + 3]!, buf[p + 4]!, stream, buf, p + 9, p + 9 + length);
        p += 9 + length;
      }
    } catch (err) {
      if (err instanceof HpackError || err instanceof RangeError) return this.fail(PROTOCOL_ERROR);
      throw err;
    }
    // A partial frame is copied: the chunk it came in is not held for the rest of it.
    this.pending = p < buf.length ? Buffer.from(buf.subarray(p)) : undefined;
  }

  private frame(type: number, flags: number, id: number, b: Buffer, start: number, end: number): void {
    if (this.headerBlock && type !== FRAME.CONTINUATION) return this.fail(PROTOCOL_ERROR);
    switch (type) {
      case FRAME.DATA: {
        this.receivedUnacknowledged += end - start;
        const s = this.streams.get(id);
        if (s && flags & FLAG.END_STREAM) this.answer(id, s);
        if (this.receivedUnacknowledged >= 32_768) {
          // The connection's window; each stream's 1 MiB outlasts any request here.
          const w = Buffer.allocUnsafe(4);
          w.writeUInt32BE(this.receivedUnacknowledged, 0);
          this.write(frameHeader(4, FRAME.WINDOW_UPDATE, 0, 0), w);
          this.receivedUnacknowledged = 0;
        }
        return;
      }
      case FRAME.HEADERS: {
        if (id === 0 || id % 2 === 0) return this.fail(PROTOCOL_ERROR);
        let s = start;
        let e = end;
        if (flags & FLAG.PADDED) {
          e -= b[s]! + 1;
          s += 1;
        }
        if (flags & FLAG.PRIORITY) s += 5;
        if (s > e) return this.fail(PROTOCOL_ERROR);
        if (this.streams.size >= MAX_STREAMS) return this.fail(PROTOCOL_ERROR);
        this.streams.set(id, { sendWindow: this.peerInitialWindow, sent: 0, answered: false });
        if (flags & FLAG.END_HEADERS) this.headers(id, flags & FLAG.END_STREAM, b, s, e);
        else {
          const part = Buffer.from(b.subarray(s, e));
          this.headerBlock = {
            stream: id,
            endStream: (flags & FLAG.END_STREAM) !== 0,
            parts: [part],
            bytes: part.length,
          };
        }
        return;
      }
      case FRAME.CONTINUATION: {
        const hb = this.headerBlock;
        if (!hb || hb.stream !== id) return this.fail(PROTOCOL_ERROR);
        hb.parts.push(Buffer.from(b.subarray(start, end)));
        hb.bytes += end - start;
        if (hb.bytes > MAX_HEADER_BLOCK) return this.fail(PROTOCOL_ERROR);
        if (flags & FLAG.END_HEADERS) {
          this.headerBlock = undefined;
          const block = Buffer.concat(hb.parts);
          this.headers(id, hb.endStream ? 1 : 0, block, 0, block.length);
        }
        return;
      }
      case FRAME.RST_STREAM:
        this.streams.delete(id);
        return;
      case FRAME.SETTINGS: {
        if (flags & FLAG.ACK) return;
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
        return;
      }
      case FRAME.PING:
        if (!(flags & FLAG.ACK))
          this.write(frameHeader(8, FRAME.PING, FLAG.ACK, 0), Buffer.from(b.subarray(start, end)));
        return;
      case FRAME.GOAWAY:
        this.socket.end();
        return;
      case FRAME.WINDOW_UPDATE: {
        const increment = b.readUInt32BE(start) & 0x7fffffff;
        if (id === 0) this.connectionSendWindow += increment;
        else {
          const s = this.streams.get(id);
          if (s) s.sendWindow += increment;
        }
        this.unblock();
        return;
      }
      default:
      // PRIORITY and unknown frame types are ignored (RFC 9113 5.5).
    }
  }

  private headers(id: number, endStream: number, b: Buffer, start: number, end: number): void {
    // Decoded for the dynamic table's sake (and what a server would route on); the floor answers any path.
    this.hpack.decode(b, start, end);
    const s = this.streams.get(id);
    if (s && endStream) this.answer(id, s);
  }

  private answer(id: number, s: Stream): void {
    if (s.answered) return;
    s.answered = true;
    this.write(frameHeader(RESPONSE_BLOCK.length, FRAME.HEADERS, FLAG.END_HEADERS, id), RESPONSE_BLOCK);
    this.send(id, s);
  }

  /** Writes what the windows allow of the reply, then its trailers. */
  private send(id: number, s: Stream): void {
    const reply = this.reply;
    while (s.sent < reply.length) {
      const n = Math.min(reply.length - s.sent, this.peerMaxFrame, s.sendWindow, this.connectionSendWindow);
      if (n <= 0) {
        if (!this.blocked.includes(id)) this.blocked.push(id);
        return;
      }
      this.write(frameHeader(n, FRAME.DATA, 0, id), reply.subarray(s.sent, s.sent + n));
      s.sent += n;
      s.sendWindow -= n;
      this.connectionSendWindow -= n;
    }
    this.write(
      frameHeader(TRAILERS_BLOCK.length, FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id),
      TRAILERS_BLOCK,
    );
    this.streams.delete(id);
  }

  private unblock(): void {
    const waiting = this.blocked;
    this.blocked = [];
    for (const id of waiting) {
      const s = this.streams.get(id);
      if (s) this.send(id, s);
    }
  }
}

/** Serves `message` (an encoded reply) to every request on 127.0.0.1, on a port of its own. */
export async function startFramingFloor(message: Buffer): Promise<{ port: number; close(): Promise<void> }> {
  const reply = Buffer.alloc(5 + message.length);
  reply.writeUInt32BE(message.length, 1);
  message.copy(reply, 5);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    new FloorConnection(socket, reply);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
