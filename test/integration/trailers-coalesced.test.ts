/**
 * A unary reply leaves the gateway's own server in one write: response HEADERS, DATA and
 * trailers together (src/transport/trailers.ts). Before, node:http2 wrote the trailers a
 * loop turn after the data, so each call cost its connection two writes.
 *
 * Seen from the wire: a TCP proxy in this process records which frames arrive in each
 * chunk read from the server. Two writes a turn apart arrive as two chunks (the proxy
 * reads between the server's turns); one write arrives as one. And the stream, closed by
 * its trailers before its write completes, builds no error for that write.
 */
import http2 from "node:http2";
import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { FramedReply, Http2GrpcServer } from "../../src/transport/server";
import { coalescesTrailers, replyWithTrailers } from "../../src/transport/trailers";
import { FrameReader, startTcpRelay, type TcpRelay } from "../helpers/frame-relay";

jest.setTimeout(30_000);

const LIST = "/task.Task/ListTask";
const GET = "/task.Task/GetTaskById";
const FRAME_DATA = 0x0;
const FRAME_HEADERS = 0x1;
const END_STREAM = 0x1;

interface Frame {
  type: number;
  flags: number;
  stream: number;
}

/** The server's frames through a TCP relay, grouped by the chunk they were read in. */
class FrameRecorder {
  readonly chunks: Frame[][] = [];
  private relay?: TcpRelay;

  async listen(target: number): Promise<number> {
    this.relay = await startTcpRelay(target, {
      onConnection: () => {
        let chunk: Frame[] = [];
        const reader = new FrameReader(false, (type, flags, _payload, stream) => chunk.push({ type, flags, stream }));
        return {
          fromServer: (d) => {
            chunk = [];
            reader.push(d);
            this.chunks.push(chunk);
          },
        };
      },
    });
    return this.relay.port;
  }

  /** For each stream that got DATA: whether its closing trailers came in the same chunk. */
  sameChunk(): Map<number, boolean> {
    const out = new Map<number, boolean>();
    for (const frames of this.chunks) {
      for (const f of frames) {
        if (f.type !== FRAME_DATA || f.stream === 0) continue;
        const trailers = frames.some(
          (t) => t.type === FRAME_HEADERS && t.stream === f.stream && (t.flags & END_STREAM) !== 0,
        );
        out.set(f.stream, trailers);
      }
    }
    return out;
  }

  close(): Promise<void> {
    return this.relay?.close() ?? Promise.resolve();
  }
}

function unary(client: grpc.Client, method: string, req: Buffer): Promise<{ reply: Buffer; trailers: grpc.Metadata }> {
  return new Promise((resolve, reject) => {
    let trailers = new grpc.Metadata();
    const call = client.makeUnaryRequest(
      method,
      (b: Buffer) => b,
      (b: Buffer) => b,
      req,
      (err, reply) => (err ? reject(err) : setImmediate(() => resolve({ reply: reply!, trailers }))),
    );
    call.on("status", (s: grpc.StatusObject) => (trailers = s.metadata));
  });
}

describe("a unary reply in one write", () => {
  let server: Http2GrpcServer;
  let recorder: FrameRecorder;
  let client: grpc.Client;

  beforeAll(async () => {
    const cached = new FramedReply(Buffer.from("cached reply bytes"));
    server = new Http2GrpcServer({ maxRequestBytes: 1024, maxConcurrentStreams: 50 })
      .unary(LIST, async () => ({
        reply: cached,
        trailers: { "dai-cache": "hit", "dai-key-bin": Buffer.from([1, 255]) },
      }))
      .unary(GET, async (req) => ({ reply: Buffer.concat([Buffer.from("echo:"), req]) }));
    const port = await server.listen("127.0.0.1", 0);
    recorder = new FrameRecorder();
    client = new grpc.Client(`127.0.0.1:${await recorder.listen(port)}`, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    client.close();
    await recorder.close();
    await server.close();
  });

  test("HEADERS, DATA and trailers of each reply arrive together, with every byte and trailer intact", async () => {
    for (let i = 0; i < 30; i++) {
      const hit = await unary(client, LIST, Buffer.alloc(0));
      expect(hit.reply.toString()).toBe("cached reply bytes");
      expect(hit.trailers.get("dai-cache")).toEqual(["hit"]);
      expect(hit.trailers.get("dai-key-bin")).toEqual([Buffer.from([1, 255])]);
      const echo = await unary(client, GET, Buffer.from(`n${i}`));
      expect(echo.reply.toString()).toBe(`echo:n${i}`);
    }
    const seen = recorder.sameChunk();
    expect(seen.size).toBe(60);
    const split = [...seen].filter(([, together]) => !together).map(([id]) => id);
    expect(split).toEqual([]);
  });

  test("replies to concurrent calls are all complete", async () => {
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) => unary(client, GET, Buffer.from(String(i)))),
    );
    expect(replies.map((r) => r.reply.toString())).toEqual(Array.from({ length: 200 }, (_, i) => `echo:${i}`));
  });
});

// Node 20 (package.json engines, the Dockerfile's image) has the internals the one-write path needs.
test("coalescesTrailers is true for a stream of this Node's server", async () => {
  const srv = http2.createServer();
  const result = new Promise<boolean>((resolve) =>
    srv.on("stream", (stream) => {
      resolve(coalescesTrailers(stream));
      stream.respond({ ":status": 200 }, { endStream: true });
    }),
  );
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const session = http2.connect(`http://127.0.0.1:${(srv.address() as net.AddressInfo).port}`);
  session.request({ ":path": "/" }).end();
  expect(await result).toBe(true);
  session.close();
  srv.close();
});

// The trailers close the stream before the data's write completes. Destroyed then, the
// stream's write used to end in an ERR_STREAM_DESTROYED, built per call and handed to the
// stream's end callbacks (none, in the server); one registered here shows what is built.
test("a reply builds no ERR_STREAM_DESTROYED", async () => {
  const srv = http2.createServer();
  const ended: (string | null)[] = [];
  srv.on("stream", (stream) => {
    stream.resume();
    stream.on("end", () => {
      replyWithTrailers(
        stream,
        { ":status": 200, "content-type": "application/grpc" },
        Buffer.from([0, 0, 0, 0, 1, 7]),
        { "grpc-status": "0" },
      );
      stream.end((err?: Error | null) => ended.push((err as { code?: string } | null | undefined)?.code ?? null));
    });
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const session = http2.connect(`http://127.0.0.1:${(srv.address() as net.AddressInfo).port}`);
  for (let i = 0; i < 20; i++) {
    await new Promise<void>((resolve) => {
      const req = session.request({ ":method": "POST", ":path": "/x", "content-type": "application/grpc" });
      req.resume();
      req.on("close", () => resolve());
      req.end(Buffer.from([0, 0, 0, 0, 0]));
    });
  }
  await new Promise((r) => setTimeout(r, 20));
  expect(ended).toHaveLength(20);
  expect(ended.filter((code) => code === "ERR_STREAM_DESTROYED")).toEqual([]);
  session.close();
  srv.close();
});
