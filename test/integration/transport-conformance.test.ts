/**
 * Conformance of the gateway's own gRPC client transport (src/transport/client.ts)
 * against real peers: a grpc-js server, a Python grpcio (C core) server, a grpc-go
 * server (keepalive enforcement, when go and grpc-go are installed), and a raw
 * node:http2 server for what well-behaved servers never do (compressed messages,
 * oversize length prefixes, RST_STREAM codes, GOAWAY, non-gRPC answers, pings counted).
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import http2 from "node:http2";
import net from "node:net";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { Http2Transport, type Http2TransportOptions } from "../../src/transport/client";
import { Status, TransportError, encodeGrpcMessage } from "../../src/transport/status";
import { UpstreamConnector } from "../../src/upstream/connect";
import { UpstreamPool } from "../../src/upstream/pool";
import { startSimCluster, type SimCluster } from "../../src/sim/cluster";
import { ListTaskRequest } from "../../src/gen/task/task";
import { makeTestPki, type TestPki } from "../helpers/certs";
import { buildGoPeer, hasGoPackage } from "../helpers/go-peer";

jest.setTimeout(30_000);

const MiB = 1024 * 1024;
const soon = (ms = 5000): Date => new Date(Date.now() + ms);
const md = (o: Record<string, string | Buffer>): grpc.Metadata => {
  const m = new grpc.Metadata();
  for (const [k, v] of Object.entries(o)) m.set(k, v);
  return m;
};

async function failure(p: Promise<unknown>): Promise<TransportError> {
  try {
    await p;
  } catch (err) {
    return err as TransportError;
  }
  throw new Error("the call succeeded");
}

function transport(o: Partial<Http2TransportOptions> = {}): Http2Transport {
  return new Http2Transport({ maxResponseBytes: 4 * MiB, maxPredictBytes: 64 * MiB, ...o });
}

// --- Peers -------------------------------------------------------------------------

interface PyPeer {
  address: string;
  stop(): Promise<void>;
}

async function startPython(args: string[] = []): Promise<PyPeer> {
  const proc: ChildProcessWithoutNullStreams = spawn(
    "/usr/bin/python3",
    [path.join(__dirname, "..", "peers", "grpcio_server.py"), ...args],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    let err = "";
    proc.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.stderr.on("data", (c: Buffer) => (err += c.toString()));
    proc.on("exit", (code) => reject(new Error(`python peer exited ${code}: ${err}`)));
  });
  return {
    address: `127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        proc.once("exit", () => resolve());
        proc.stdin.end();
        setTimeout(() => proc.kill("SIGKILL"), 3000).unref();
      }),
  };
}

interface GrpcJsPeer {
  address: string;
  port: number;
  cancelled: number;
  server: grpc.Server;
  stop(): Promise<void>;
}

const identity = (b: Buffer): Buffer => b;

/** A grpc-js server with the same behaviours as the Python peer. */
async function startGrpcJs(
  creds = grpc.ServerCredentials.createInsecure(),
  port = 0,
  options: grpc.ServerOptions = {},
): Promise<GrpcJsPeer> {
  const server = new grpc.Server({ "grpc.max_send_message_length": -1, ...options });
  const peer = { cancelled: 0 } as GrpcJsPeer;
  const handler: grpc.handleUnaryCall<Buffer, Buffer> = (call, cb) => {
    const get = (k: string): string => String(call.metadata.get(k)[0] ?? "");
    const b = get("x-behaviour") || "echo";
    if (b === "echo") return cb(null, call.request);
    if (b === "metadata") {
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(call.metadata.getMap()))
        out[k] = Buffer.isBuffer(v) ? `bin:${v.toString("hex")}` : v;
      return cb(null, Buffer.from(JSON.stringify(out)));
    }
    if (b === "error") {
      const trailers = md({ "x-trail": "plain", "x-trail-bin": Buffer.from([0, 1, 0xfe, 0xff]) });
      const code = Status[get("x-code") as keyof typeof Status] as unknown as Status;
      const message = (call.metadata.get("x-message-bin")[0] as Buffer).toString("utf8");
      return cb({ code, details: message, metadata: trailers });
    }
    if (b === "sleep") {
      const t = setTimeout(() => cb(null, call.request), Number(get("x-ms")));
      call.on("cancelled", () => {
        clearTimeout(t);
        peer.cancelled++;
      });
      return;
    }
    if (b === "big") return cb(null, Buffer.alloc(Number(get("x-bytes")), 0x78));
    if (b === "deadline") {
      const d = call.getDeadline();
      const left = d instanceof Date ? d.getTime() - Date.now() : Number(d) - Date.now();
      return cb(null, Buffer.from(String(Math.round(left))));
    }
    cb({ code: Status.INVALID_ARGUMENT, details: `unknown behaviour ${b}` });
  };
  server.register("/task.Task/ListTask", handler, identity, identity, "unary");
  server.register("/task.Task/GetTaskById", handler, identity, identity, "unary");
  server.register("/task.Task/GetPredictResult", handler, identity, identity, "unary");
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  peer.address = `127.0.0.1:${bound}`;
  peer.port = bound;
  peer.server = server;
  peer.stop = () => new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  return peer;
}

/** A raw node:http2 server answering each stream with `respond`. */
async function startRaw(
  respond: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, n: number) => void,
  settings: http2.Settings = {},
): Promise<{ address: string; sessions: number; pings: number; close(): Promise<void> }> {
  const server = http2.createServer({ settings });
  const state = { address: "", sessions: 0, pings: 0, close: async () => {} };
  let n = 0;
  const live = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    state.sessions++;
    live.add(s);
    s.on("close", () => live.delete(s));
    s.on("ping", () => state.pings++);
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    respond(stream, headers, n++);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  state.address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const s of live) s.destroy();
      server.close(() => resolve());
    });
  return state;
}

function framed(msg: Buffer, flag = 0): Buffer {
  const h = Buffer.alloc(5);
  h[0] = flag;
  h.writeUInt32BE(msg.length, 1);
  return Buffer.concat([h, msg]);
}

function okReply(stream: http2.ServerHttp2Stream, body: Buffer): void {
  stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
  stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
  stream.end(framed(body));
}

// --- Both real peers: the same expectations -----------------------------------------

const peers: { name: string; start: () => Promise<{ address: string; stop(): Promise<void> }> }[] = [
  { name: "grpc-js server", start: () => startGrpcJs() },
  { name: "Python grpcio server", start: () => startPython() },
];

describe.each(peers)("against a $name", ({ start }) => {
  let peer: { address: string; stop(): Promise<void> };
  let t: Http2Transport;
  beforeAll(async () => {
    peer = await start();
  });
  afterAll(async () => {
    await peer.stop();
  });
  beforeEach(() => {
    t = transport();
  });
  afterEach(() => t.close());

  test("a unary call returns the reply bytes exactly", async () => {
    const req = Buffer.from([0x0a, 0x03, 1, 2, 3, 0xff, 0x00]);
    expect(await t.call(peer.address, "listTask", req, soon())).toEqual(req);
  });

  test("an empty reply message is a reply (zero bytes)", async () => {
    expect((await t.call(peer.address, "listTask", Buffer.alloc(0), soon())).length).toBe(0);
  });

  test("status, percent-encoded message and -bin trailers reach the caller", async () => {
    const message = 'naïve 100% ✓ {"code":"XDAT0004"}\n';
    const err = await failure(
      t.call(peer.address, "getTaskById", Buffer.alloc(1), soon(), {
        // -bin: the message's UTF-8 bytes travel as they are (a text value could not carry them).
        metadata: md({ "x-behaviour": "error", "x-code": "NOT_FOUND", "x-message-bin": Buffer.from(message) }),
      }),
    );
    expect(err.code).toBe(Status.NOT_FOUND);
    expect(err.details).toBe(message);
    expect(err.metadata.get("x-trail")).toEqual(["plain"]);
    expect(err.metadata.get("x-trail-bin")).toEqual([Buffer.from([0, 1, 0xfe, 0xff])]);
  });

  test("grpc-timeout tells the server the deadline", async () => {
    const left = Number(
      (
        await t.call(peer.address, "listTask", Buffer.alloc(0), soon(3000), {
          metadata: md({ "x-behaviour": "deadline" }),
        })
      ).toString(),
    );
    expect(left).toBeGreaterThan(2000);
    expect(left).toBeLessThanOrEqual(3000);
  });

  test("the local deadline ends a slow call with DEADLINE_EXCEEDED", async () => {
    const t0 = Date.now();
    const err = await failure(
      t.call(peer.address, "listTask", Buffer.alloc(0), soon(300), {
        metadata: md({ "x-behaviour": "sleep", "x-ms": "5000" }),
      }),
    );
    expect(err.code).toBe(Status.DEADLINE_EXCEEDED);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  test("an AbortSignal cancels the call (RST_STREAM)", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 150);
    const err = await failure(
      t.call(peer.address, "listTask", Buffer.alloc(0), soon(), {
        signal: ac.signal,
        metadata: md({ "x-behaviour": "sleep", "x-ms": "5000" }),
      }),
    );
    expect(err.code).toBe(Status.CANCELLED);
  });

  test("a reply over the limit is refused with RESOURCE_EXHAUSTED", async () => {
    const small = transport({ maxResponseBytes: 64 * 1024 });
    try {
      const err = await failure(
        small.call(peer.address, "listTask", Buffer.alloc(0), soon(), {
          metadata: md({ "x-behaviour": "big", "x-bytes": String(8 * MiB) }),
        }),
      );
      expect(err.code).toBe(Status.RESOURCE_EXHAUSTED);
      expect(err.details).toMatch(/8388608 bytes exceeds the limit of 65536/);
      // The session survives the reset stream.
      expect((await small.call(peer.address, "listTask", Buffer.from("ok"), soon())).toString()).toBe("ok");
    } finally {
      small.close();
    }
  });

  test("large replies flow through the windows intact", async () => {
    const reply = await t.call(peer.address, "getPredictResult", Buffer.alloc(0), soon(10_000), {
      metadata: md({ "x-behaviour": "big", "x-bytes": String(20 * MiB) }),
    });
    expect(reply.length).toBe(20 * MiB);
    expect(reply.every((b) => b === 0x78)).toBe(true);
  });

  test("many concurrent calls share one session", async () => {
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        t.call(peer.address, "listTask", Buffer.from(`r${i}`), soon(), {
          metadata: md({ "x-behaviour": "sleep", "x-ms": "100" }),
        }),
      ),
    );
    expect(replies.map((r) => r.toString())).toEqual(Array.from({ length: 50 }, (_, i) => `r${i}`));
    expect(t.size).toBe(1);
  });
});

// --- Specific peers and edge cases ---------------------------------------------------

describe("metadata and concurrency", () => {
  test("-bin and text metadata arrive at a grpc-js server", async () => {
    const peer = await startGrpcJs();
    const t = transport();
    try {
      const reply = await t.call(peer.address, "listTask", Buffer.alloc(0), soon(), {
        metadata: md({ "x-behaviour": "metadata", "x-text": "hello", "x-key-bin": Buffer.from([0, 0xff, 7]) }),
      });
      const got = JSON.parse(reply.toString()) as Record<string, string>;
      expect(got["x-text"]).toBe("hello");
      expect(got["x-key-bin"]).toBe("bin:00ff07");
      expect(got["grpc-accept-encoding"]).toBeUndefined(); // transport headers are not metadata
    } finally {
      t.close();
      await peer.stop();
    }
  });

  test("the server's max concurrent streams is respected: calls beyond it wait, none is refused", async () => {
    // The Python peer allows 8 streams at once.
    const py = await startPython();
    const t = transport();
    try {
      const t0 = Date.now();
      const replies = await Promise.all(
        Array.from({ length: 24 }, () =>
          t.call(py.address, "listTask", Buffer.from("x"), soon(), {
            metadata: md({ "x-behaviour": "sleep", "x-ms": "200" }),
          }),
        ),
      );
      expect(replies).toHaveLength(24);
      // 24 calls at 8 at a time take at least 3 rounds of 200 ms.
      expect(Date.now() - t0).toBeGreaterThanOrEqual(550);
    } finally {
      t.close();
      await py.stop();
    }
  });

  test("the wait queue is bounded: beyond it calls fail at once with RESOURCE_EXHAUSTED", async () => {
    const raw = await startRaw((stream) => setTimeout(() => okReply(stream, Buffer.from("ok")), 200), {
      maxConcurrentStreams: 2,
    });
    const t = transport({ maxQueuedCalls: 3 });
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, () => t.call(raw.address, "listTask", Buffer.alloc(0), soon())),
      );
      const ok = results.filter((r) => r.status === "fulfilled").length;
      const refused = results.filter(
        (r) => r.status === "rejected" && (r.reason as TransportError).code === Status.RESOURCE_EXHAUSTED,
      ).length;
      expect(ok + refused).toBe(10);
      expect(ok).toBeGreaterThanOrEqual(3);
      expect(refused).toBeGreaterThan(0);
    } finally {
      t.close();
      await raw.close();
    }
  });
});

describe("cancellation and deadlines reach the server", () => {
  test("grpc-js server sees the RST_STREAM of a cancelled and of a timed-out call", async () => {
    const peer = await startGrpcJs();
    const t = transport();
    try {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 100);
      const slow = md({ "x-behaviour": "sleep", "x-ms": "5000" });
      await failure(t.call(peer.address, "listTask", Buffer.alloc(0), soon(), { signal: ac.signal, metadata: slow }));
      await failure(t.call(peer.address, "listTask", Buffer.alloc(0), soon(200), { metadata: slow }));
      await new Promise((r) => setTimeout(r, 200));
      expect(peer.cancelled).toBe(2);
    } finally {
      t.close();
      await peer.stop();
    }
  });

  test("the Python grpcio server sees the RST_STREAM of a cancelled call", async () => {
    const py = await startPython();
    const t = transport();
    try {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 100);
      await failure(
        t.call(py.address, "listTask", Buffer.alloc(0), soon(), {
          signal: ac.signal,
          metadata: md({ "x-behaviour": "sleep", "x-ms": "3000" }),
        }),
      );
      await new Promise((r) => setTimeout(r, 200));
      const seen = await t.call(py.address, "getTaskById", Buffer.alloc(0), soon(), {
        metadata: md({ "x-behaviour": "stats" }),
      });
      expect(seen.toString()).toBe("1");
    } finally {
      t.close();
      await py.stop();
    }
  });

  test("a deadline already passed fails without sending anything", async () => {
    const raw = await startRaw((stream) => okReply(stream, Buffer.from("ok")));
    const t = transport();
    try {
      const err = await failure(t.call(raw.address, "listTask", Buffer.alloc(0), new Date(Date.now() - 1)));
      expect(err.code).toBe(Status.DEADLINE_EXCEEDED);
      expect(raw.sessions).toBe(0);
    } finally {
      t.close();
      await raw.close();
    }
  });
});

describe("what a raw HTTP/2 server can send", () => {
  const cases: {
    name: string;
    respond: (s: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders, n: number) => void;
    code: Status;
    details?: RegExp;
  }[] = [
    {
      name: "a trailers-only answer",
      respond: (s) =>
        s.respond(
          {
            ":status": 200,
            "content-type": "application/grpc",
            "grpc-status": "5",
            "grpc-message": encodeGrpcMessage("task 100% gone ✓"),
          },
          { endStream: true },
        ),
      code: Status.NOT_FOUND,
      details: /^task 100% gone ✓$/,
    },
    {
      name: "older grpc-go's UNKNOWN for a handler that returned ctx.Err() after the deadline",
      respond: (s) =>
        s.respond(
          {
            ":status": 200,
            "content-type": "application/grpc",
            "grpc-status": "2",
            "grpc-message": "context deadline exceeded",
          },
          { endStream: true },
        ),
      code: Status.DEADLINE_EXCEEDED,
      details: /^context deadline exceeded$/,
    },
    {
      name: "older grpc-go's UNKNOWN for a handler that returned ctx.Err() after a cancel",
      respond: (s) =>
        s.respond(
          {
            ":status": 200,
            "content-type": "application/grpc",
            "grpc-status": "2",
            "grpc-message": "context canceled",
          },
          { endStream: true },
        ),
      code: Status.CANCELLED,
    },
    {
      name: "any other UNKNOWN stays UNKNOWN",
      respond: (s) =>
        s.respond(
          { ":status": 200, "content-type": "application/grpc", "grpc-status": "2", "grpc-message": "boom" },
          { endStream: true },
        ),
      code: Status.UNKNOWN,
      details: /^boom$/,
    },
    {
      name: "a compressed message (flag 1) we never asked for",
      respond: (s) => {
        s.respond(
          { ":status": 200, "content-type": "application/grpc", "grpc-encoding": "gzip" },
          { waitForTrailers: true },
        );
        s.on("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
        s.end(framed(Buffer.from("not really gzip"), 1));
      },
      code: Status.INTERNAL,
      details: /compressed/,
    },
    {
      name: "an HTTP 503 from a proxy",
      respond: (s) => s.respond({ ":status": 503, "content-type": "text/plain" }, { endStream: true }),
      code: Status.UNAVAILABLE,
    },
    {
      name: "a non-gRPC content type",
      respond: (s) => {
        s.respond({ ":status": 200, "content-type": "text/html" });
        s.end("<html>");
      },
      code: Status.UNKNOWN,
      details: /content-type/,
    },
    {
      name: "RST_STREAM(ENHANCE_YOUR_CALM)",
      respond: (s) => s.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM),
      code: Status.RESOURCE_EXHAUSTED,
    },
    {
      name: "a stream that ends without grpc-status",
      respond: (s) => {
        s.respond({ ":status": 200, "content-type": "application/grpc" });
        s.end(framed(Buffer.from("x")));
      },
      code: Status.UNAVAILABLE,
    },
    {
      name: "two messages in a unary reply",
      respond: (s) => {
        s.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        s.on("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
        s.end(Buffer.concat([framed(Buffer.from("a")), framed(Buffer.from("b"))]));
      },
      code: Status.INTERNAL,
      details: /more than one/,
    },
    {
      name: "OK with no message",
      respond: (s) =>
        s.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "0" }, { endStream: true }),
      code: Status.UNIMPLEMENTED,
    },
  ];

  test.each(cases)("$name", async ({ respond, code, details }) => {
    const raw = await startRaw(respond);
    const t = transport();
    try {
      const err = await failure(t.call(raw.address, "listTask", Buffer.alloc(0), soon()));
      expect(err.code).toBe(code);
      if (details) expect(err.details).toMatch(details);
    } finally {
      t.close();
      await raw.close();
    }
  });

  test("an oversize length prefix is refused before its bytes: a 200 MiB reply that never ends", async () => {
    let sent = 0;
    let stopped = false;
    const raw = await startRaw((s) => {
      s.respond({ ":status": 200, "content-type": "application/grpc" });
      const head = Buffer.alloc(5);
      head.writeUInt32BE(200 * MiB, 1);
      s.write(head);
      const chunk = Buffer.alloc(64 * 1024, 1);
      const pump = (): void => {
        while (!s.destroyed && !s.closed && sent < 200 * MiB) {
          sent += chunk.length;
          if (!s.write(chunk)) return void s.once("drain", pump);
        }
      };
      s.on("close", () => (stopped = true));
      setTimeout(pump, 50);
    });
    const t = transport({ maxResponseBytes: MiB });
    try {
      const t0 = Date.now();
      const err = await failure(t.call(raw.address, "listTask", Buffer.alloc(0), soon(20_000)));
      expect(err.code).toBe(Status.RESOURCE_EXHAUSTED);
      expect(Date.now() - t0).toBeLessThan(2000);
      await new Promise((r) => setTimeout(r, 300));
      expect(stopped).toBe(true); // the server saw the RST_STREAM
      expect(sent).toBeLessThan(32 * MiB); // nowhere near the whole reply was sent
    } finally {
      t.close();
      await raw.close();
    }
  });

  test("REFUSED_STREAM is retried once (the server never processed it)", async () => {
    const raw = await startRaw((s, _h, n) =>
      n === 0 ? s.close(http2.constants.NGHTTP2_REFUSED_STREAM) : okReply(s, Buffer.from("second")),
    );
    const t = transport();
    try {
      expect((await t.call(raw.address, "listTask", Buffer.alloc(0), soon())).toString()).toBe("second");
    } finally {
      t.close();
      await raw.close();
    }
  });

  test("GOAWAY: the call in flight completes, the next call opens a new session", async () => {
    const raw = await startRaw((s, _h, n) => {
      if (n === 0) {
        s.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, s.id!);
        setTimeout(() => okReply(s, Buffer.from("first")), 100);
      } else okReply(s, Buffer.from(`call ${n}`));
    });
    const t = transport();
    try {
      expect((await t.call(raw.address, "listTask", Buffer.alloc(0), soon())).toString()).toBe("first");
      expect((await t.call(raw.address, "listTask", Buffer.alloc(0), soon())).toString()).toBe("call 1");
      expect(raw.sessions).toBe(2);
    } finally {
      t.close();
      await raw.close();
    }
  });

  test("keepalive: no PING while idle; PINGs only while a call is in flight", async () => {
    const raw = await startRaw((s) => setTimeout(() => okReply(s, Buffer.from("late")), 700));
    const t = transport({ keepaliveTimeMs: 100 });
    try {
      await t.call(raw.address, "getTaskById", Buffer.alloc(0), soon()); // connects, 700 ms in flight
      await new Promise((r) => setTimeout(r, 150)); // a PING sent just before the reply lands
      const during = raw.pings;
      expect(during).toBeGreaterThanOrEqual(3);
      await new Promise((r) => setTimeout(r, 600)); // idle
      expect(raw.pings).toBe(during);
    } finally {
      t.close();
      await raw.close();
    }
  });

  test("keepalive by default is within grpc-go's enforcement (no PING sooner than 5 min)", async () => {
    const raw = await startRaw((s) => setTimeout(() => okReply(s, Buffer.from("x")), 500));
    const t = transport();
    try {
      await t.call(raw.address, "listTask", Buffer.alloc(0), soon());
      expect(raw.pings).toBe(0);
    } finally {
      t.close();
      await raw.close();
    }
  });
});

describe("connection failures and reconnection", () => {
  test("nothing listening: UNAVAILABLE; during the back-off calls fail fast; then it reconnects", async () => {
    const first = await startGrpcJs();
    const port = first.port;
    await first.stop();
    const t = transport({ initialBackoffMs: 300, maxBackoffMs: 300 });
    let peer: GrpcJsPeer | undefined;
    try {
      const e1 = await failure(t.call(`127.0.0.1:${port}`, "listTask", Buffer.alloc(0), soon()));
      expect(e1.code).toBe(Status.UNAVAILABLE);
      const t0 = Date.now();
      const e2 = await failure(t.call(`127.0.0.1:${port}`, "listTask", Buffer.alloc(0), soon()));
      expect(e2.code).toBe(Status.UNAVAILABLE);
      expect(e2.details).toMatch(/reconnecting in/);
      expect(Date.now() - t0).toBeLessThan(250);
      peer = await startGrpcJs(undefined, port);
      await new Promise((r) => setTimeout(r, 450));
      expect((await t.call(peer.address, "listTask", Buffer.from("back"), soon())).toString()).toBe("back");
    } finally {
      t.close();
      await peer?.stop();
    }
  });

  test("the server going away mid-call: UNAVAILABLE, and the next call reconnects", async () => {
    const peer = await startGrpcJs();
    const t = transport({ initialBackoffMs: 50, maxBackoffMs: 50 });
    try {
      expect((await t.call(peer.address, "listTask", Buffer.from("a"), soon())).toString()).toBe("a");
      const slow = t.call(peer.address, "listTask", Buffer.alloc(0), soon(), {
        metadata: md({ "x-behaviour": "sleep", "x-ms": "3000" }),
      });
      await new Promise((r) => setTimeout(r, 100));
      peer.server.forceShutdown();
      const err = await failure(slow);
      expect([Status.UNAVAILABLE, Status.CANCELLED, Status.INTERNAL]).toContain(err.code);
    } finally {
      t.close();
    }
  });
});

describe("TLS and mutual TLS (same connector as the grpc-js pool)", () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = makeTestPki();
  });
  afterAll(() => pki.cleanup());

  const certs = (): grpc.KeyCertPair[] => [
    { private_key: pki.read(pki.serverKey), cert_chain: pki.read(pki.serverCert) },
  ];

  test("TLS to a grpc-js server, server name from the rule", async () => {
    const peer = await startGrpcJs(grpc.ServerCredentials.createSsl(null, certs(), false));
    const connector = new UpstreamConnector(
      [{ match: peer.address, ca: pki.ca, serverName: "executor.test" }],
      undefined,
    );
    const t = transport({ connector });
    try {
      expect((await t.call(peer.address, "listTask", Buffer.from("tls"), soon())).toString()).toBe("tls");
    } finally {
      t.close();
      await peer.stop();
    }
  });

  test("TLS with the wrong server name fails UNAVAILABLE", async () => {
    const peer = await startGrpcJs(grpc.ServerCredentials.createSsl(null, certs(), false));
    const connector = new UpstreamConnector([{ match: peer.address, ca: pki.ca, serverName: "wrong.test" }], undefined);
    const t = transport({ connector });
    try {
      const err = await failure(t.call(peer.address, "listTask", Buffer.from("tls"), soon()));
      expect(err.code).toBe(Status.UNAVAILABLE);
    } finally {
      t.close();
      await peer.stop();
    }
  });

  test("mTLS to a Python grpcio server: with the client certificate OK, without it refused", async () => {
    const py = await startPython(["--tls", pki.serverCert, pki.serverKey, pki.ca]);
    const withCert = transport({
      connector: new UpstreamConnector(
        [{ match: py.address, ca: pki.ca, cert: pki.clientCert, key: pki.clientKey }],
        undefined,
      ),
    });
    const without = transport({ connector: new UpstreamConnector([{ match: py.address, ca: pki.ca }], undefined) });
    try {
      expect((await withCert.call(py.address, "listTask", Buffer.from("mtls"), soon())).toString()).toBe("mtls");
      const err = await failure(without.call(py.address, "listTask", Buffer.from("mtls"), soon()));
      expect(err.code).toBe(Status.UNAVAILABLE);
    } finally {
      withCert.close();
      without.close();
      await py.stop();
    }
  });
});

describe("drop-in for UpstreamPool against simulated Executors", () => {
  let sim: SimCluster;
  beforeAll(async () => {
    sim = await startSimCluster({ executors: 2, trainingTasks: 30 });
  });
  afterAll(async () => {
    await sim.stop();
  });

  test("same reply bytes and same errors as the grpc-js pool", async () => {
    const pool = new UpstreamPool({ maxResponseBytes: 4 * MiB, maxPredictBytes: 64 * MiB });
    const t = transport();
    try {
      const req = Buffer.from(
        ListTaskRequest.encode({
          pubKey: sim.keys[0]!.publicKey,
          status: "",
          timeStart: 0n,
          timeEnd: 9_223_372_036_854_775_807n,
          limit: 100n,
        }).finish(),
      );
      const a = await pool.call(sim.executors[0]!.address, "listTask", req, soon());
      const b = await t.call(sim.executors[0]!.address, "listTask", req, soon());
      expect(b.length).toBeGreaterThan(1000);
      expect(b.equals(a)).toBe(true);
      const missing = Buffer.from([0x0a, 0x03, 0x61, 0x62, 0x63]);
      const ea = await failure(pool.call(sim.executors[0]!.address, "getTaskById", missing, soon()));
      const eb = await failure(t.call(sim.executors[0]!.address, "getTaskById", missing, soon()));
      expect(eb.code).toBe(ea.code);
      expect(eb.details).toBe(ea.details);
    } finally {
      pool.close();
      t.close();
    }
  });
});

// --- grpc-go: keepalive within its enforcement policy --------------------------------

async function startGo(bin: string, minTime: string): Promise<PyPeer> {
  const proc = spawn(bin, ["-min-time", minTime], { stdio: ["pipe", "pipe", "pipe"] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    proc.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.on("exit", (code) => reject(new Error(`go peer exited ${code}`)));
  });
  return {
    address: `127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        proc.once("exit", () => resolve());
        proc.stdin.end();
        setTimeout(() => proc.kill("SIGKILL"), 3000).unref();
      }),
  };
}

const hasGo = hasGoPackage("google.golang.org/grpc");

(hasGo ? describe : describe.skip)("against a grpc-go server (keepalive enforcement)", () => {
  let bin: string;
  beforeAll(() => {
    bin = buildGoPeer("grpcgo_server.go");
  }, 180_000);

  test("PINGs no more often than MinTime, none while idle: no too_many_pings, one session throughout", async () => {
    const go = await startGo(bin, "200ms");
    const t = transport({ keepaliveTimeMs: 300 });
    try {
      expect((await t.call(go.address, "listTask", Buffer.from("a"), soon())).toString()).toBe("a");
      // Idle: a client that pinged now would collect strikes (PermitWithoutStream false).
      await new Promise((r) => setTimeout(r, 1500));
      const slow = md({ "x-ms": "1600" });
      expect((await t.call(go.address, "listTask", Buffer.from("b"), soon(), { metadata: slow })).toString()).toBe("b");
      expect((await t.call(go.address, "listTask", Buffer.from("c"), soon())).toString()).toBe("c");
      expect(t.connections(go.address)).toBe(1);
    } finally {
      t.close();
      await go.stop();
    }
  });

  test("the peer does enforce: PINGs faster than MinTime are answered with GOAWAY too_many_pings", async () => {
    const go = await startGo(bin, "1s");
    const t = transport({ keepaliveTimeMs: 50 });
    try {
      const err = await failure(
        t.call(go.address, "listTask", Buffer.from("a"), soon(), { metadata: md({ "x-ms": "2000" }) }),
      );
      expect(err.code).toBe(Status.UNAVAILABLE);
      expect(err.details).toMatch(/too_many_pings/);
    } finally {
      t.close();
      await go.stop();
    }
  });

  test("grpc-go sees our deadline and our cancellation", async () => {
    const go = await startGo(bin, "5m");
    const t = transport();
    try {
      const t0 = Date.now();
      const err = await failure(
        t.call(go.address, "listTask", Buffer.from("a"), soon(300), { metadata: md({ "x-ms": "5000" }) }),
      );
      expect(err.code).toBe(Status.DEADLINE_EXCEEDED);
      expect(Date.now() - t0).toBeLessThan(2000);
      expect((await t.call(go.address, "getTaskById", Buffer.from("ok"), soon())).toString()).toBe("ok");
    } finally {
      t.close();
      await go.stop();
    }
  });
});
