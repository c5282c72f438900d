/**
 * Conformance of the serving side of the gateway's own transport (src/transport/server.ts)
 * against real clients: grpc-js, Python grpcio (C core), h2load, and our own client; with
 * health checking and reflection served on the same port through the fallback server.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { GatewayHealth } from "../../src/observability/health";
import { addReflection } from "../../src/observability/reflection";
import { Http2Transport } from "../../src/transport/client";
import { FramedReply, Http2GrpcServer, type ServerCall } from "../../src/transport/server";
import { Status } from "../../src/transport/status";
import { makeTestPki, type TestPki } from "../helpers/certs";

jest.setTimeout(30_000);

const identity = (b: Buffer): Buffer => b;
const LIST = "/task.Task/ListTask";
const GET = "/task.Task/GetTaskById";

interface Seen {
  calls: ServerCall[];
  aborted: number;
}

/** Handlers: ListTask answers a precomputed reply; GetTaskById behaves as its request says. */
function makeServer(
  seen: Seen,
  opts: { fallback?: string; tls?: ConstructorParameters<typeof Http2GrpcServer>[0]["tls"] } = {},
) {
  const cached = new FramedReply(Buffer.from("cached reply bytes"));
  return new Http2GrpcServer({
    maxRequestBytes: 1024,
    fallback: opts.fallback,
    tls: opts.tls,
    maxConcurrentStreams: 50,
  })
    .unary(LIST, async (_req, call) => {
      seen.calls.push(call);
      return { reply: cached, trailers: { "dai-cache": "hit", "dai-key-bin": Buffer.from([1, 2, 255]) } };
    })
    .unary(GET, async (req, call) => {
      seen.calls.push(call);
      const what = req.toString();
      if (what === "error") {
        const md = new grpc.Metadata();
        md.set("x-trail-bin", Buffer.from([0, 0xfe]));
        throw { code: Status.NOT_FOUND, details: "naïve 100% ✓\n", metadata: md };
      }
      if (what === "crash") throw new Error("secret internals");
      if (what === "wait") {
        await new Promise<void>((resolve) => call.signal.addEventListener("abort", () => resolve(), { once: true }));
        seen.aborted++;
        return { reply: Buffer.from("too late") };
      }
      if (what.startsWith("slow")) await new Promise((r) => setTimeout(r, 300));
      return { reply: Buffer.concat([Buffer.from("echo:"), req]) };
    });
}

function grpcCall(
  address: string,
  method: string,
  req: Buffer,
  opts: {
    deadlineMs?: number;
    creds?: grpc.ChannelCredentials;
    channel?: grpc.ChannelOptions;
    cancelAfterMs?: number;
  } = {},
): Promise<{ err?: grpc.ServiceError; reply?: Buffer; trailers: grpc.Metadata }> {
  const client = new grpc.Client(address, opts.creds ?? grpc.credentials.createInsecure(), opts.channel ?? {});
  return new Promise((resolve) => {
    let trailers = new grpc.Metadata();
    let result: { err?: grpc.ServiceError; reply?: Buffer } | undefined;
    let gotStatus = false;
    const finish = (): void => {
      if (!result || !gotStatus) return;
      client.close();
      resolve({ ...result, trailers });
    };
    const call = client.makeUnaryRequest(
      method,
      identity,
      identity,
      req,
      new grpc.Metadata(),
      { deadline: new Date(Date.now() + (opts.deadlineMs ?? 5000)) },
      (err, reply) => {
        result = { err: err ?? undefined, reply };
        finish();
      },
    );
    // grpc-js emits 'status' (with the trailers) after the callback: wait for both.
    call.on("status", (s: grpc.StatusObject) => {
      trailers = s.metadata;
      gotStatus = true;
      finish();
    });
    if (opts.cancelAfterMs !== undefined) setTimeout(() => call.cancel(), opts.cancelAfterMs);
  });
}

describe("served to a grpc-js client", () => {
  const seen: Seen = { calls: [], aborted: 0 };
  let server: Http2GrpcServer;
  let fallback: grpc.Server;
  let address: string;
  beforeAll(async () => {
    // The fallback: health and reflection, as the gateway's grpc-js server has them.
    fallback = new grpc.Server();
    const health = new GatewayHealth(() => ({ known: 1, healthy: 1 }));
    health.addToServer(fallback);
    health.markServing();
    addReflection(fallback);
    const fport = await new Promise<number>((resolve, reject) =>
      fallback.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    server = makeServer(seen, { fallback: `127.0.0.1:${fport}` });
    address = `127.0.0.1:${await server.listen("127.0.0.1", 0)}`;
  });
  afterAll(async () => {
    await server.close();
    fallback.forceShutdown();
  });

  test("precomputed reply bytes and trailers (text and -bin)", async () => {
    const r = await grpcCall(address, LIST, Buffer.from("q"));
    expect(r.err).toBeUndefined();
    expect(r.reply!.toString()).toBe("cached reply bytes");
    expect(r.trailers.get("dai-cache")).toEqual(["hit"]);
    expect(r.trailers.get("dai-key-bin")).toEqual([Buffer.from([1, 2, 255])]);
  });

  test("an error: trailers-only, status, percent-decoded message, -bin trailers", async () => {
    const r = await grpcCall(address, GET, Buffer.from("error"));
    expect(r.err!.code).toBe(Status.NOT_FOUND);
    expect(r.err!.details).toBe("naïve 100% ✓\n");
    expect(r.err!.metadata.get("x-trail-bin")).toEqual([Buffer.from([0, 0xfe])]);
  });

  test("a handler's own crash is INTERNAL without its message", async () => {
    const r = await grpcCall(address, GET, Buffer.from("crash"));
    expect(r.err!.code).toBe(Status.INTERNAL);
    expect(r.err!.details).not.toMatch(/secret/);
  });

  test("grpc-timeout in: the handler sees the deadline; when it passes, DEADLINE_EXCEEDED and its signal aborts", async () => {
    const before = seen.aborted;
    const t0 = Date.now();
    const r = await grpcCall(address, GET, Buffer.from("wait"), { deadlineMs: 300 });
    expect(r.err!.code).toBe(Status.DEADLINE_EXCEEDED);
    expect(Date.now() - t0).toBeLessThan(2000);
    const call = seen.calls[seen.calls.length - 1]!;
    expect(call.deadline!.getTime() - t0).toBeGreaterThan(100);
    expect(call.deadline!.getTime() - t0).toBeLessThanOrEqual(400);
    await new Promise((r) => setTimeout(r, 50));
    expect(seen.aborted).toBe(before + 1);
  });

  test("a client's cancellation (RST_STREAM) aborts the handler", async () => {
    const before = seen.aborted;
    const r = await grpcCall(address, GET, Buffer.from("wait"), { cancelAfterMs: 100 });
    expect(r.err!.code).toBe(Status.CANCELLED);
    await new Promise((r) => setTimeout(r, 100));
    expect(seen.aborted).toBe(before + 1);
  });

  test("a request over the limit: RESOURCE_EXHAUSTED from its length prefix", async () => {
    const r = await grpcCall(address, GET, Buffer.alloc(2 * 1024 * 1024, 0x61));
    expect(r.err!.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(r.err!.details).toMatch(/exceeds the limit of 1024/);
  });

  test("a compressed request is refused with UNIMPLEMENTED", async () => {
    const r = await grpcCall(address, GET, Buffer.alloc(600, 0x61), {
      channel: { "grpc.default_compression_algorithm": 2 },
    });
    expect(r.err!.code).toBe(Status.UNIMPLEMENTED);
    expect(r.err!.details).toMatch(/compressed/);
  });

  test("health checking on the same port (through the fallback)", async () => {
    const r = await grpcCall(address, "/grpc.health.v1.Health/Check", Buffer.alloc(0));
    expect(r.err).toBeUndefined();
    expect(r.reply).toEqual(Buffer.from([0x08, 0x01])); // SERVING
  });

  test("reflection on the same port (through the fallback, a bidi stream)", async () => {
    const client = new grpc.Client(address, grpc.credentials.createInsecure());
    try {
      const reply = await new Promise<Buffer>((resolve, reject) => {
        const call = client.makeBidiStreamRequest(
          "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
          identity,
          identity,
        );
        call.on("data", (b: Buffer) => {
          resolve(b);
          call.end();
        });
        call.on("error", reject);
        call.write(Buffer.from([0x3a, 0x00])); // list_services: ""
      });
      expect(reply.includes(Buffer.from("task.Task"))).toBe(true);
    } finally {
      client.close();
    }
  });

  test("many concurrent calls over one connection, also through our own client", async () => {
    const t = new Http2Transport({ maxResponseBytes: 1 << 20, maxPredictBytes: 1 << 20 });
    try {
      const replies = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          t.call(address, "getTaskById", Buffer.from(`n${i}`), new Date(Date.now() + 5000)),
        ),
      );
      expect(replies.map((r) => r.toString())).toEqual(Array.from({ length: 200 }, (_, i) => `echo:n${i}`));
    } finally {
      t.close();
    }
  });

  test("h2load: every request answered with the whole framed reply", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "dai-h2load-"));
    try {
      const body = path.join(dir, "body");
      writeFileSync(body, Buffer.from([0, 0, 0, 0, 1, 0x71]));
      const out = await new Promise<string>((resolve, reject) =>
        execFile(
          "h2load",
          [
            "-n",
            "2000",
            "-c",
            "4",
            "-m",
            "16",
            "-d",
            body,
            "-H",
            "content-type: application/grpc",
            "-H",
            "te: trailers",
            `http://${address}${LIST}`,
          ],
          { timeout: 60_000 },
          (err, stdout) => (err ? reject(err) : resolve(stdout)),
        ),
      );
      expect(out).toMatch(/2000 succeeded, 0 failed, 0 errored/);
      const data = Number(/\((\d+)\) data/.exec(out)![1]);
      expect(data).toBe(2000 * (5 + "cached reply bytes".length));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("served to a Python grpcio client", () => {
  const seen: Seen = { calls: [], aborted: 0 };
  let server: Http2GrpcServer;
  let address: string;
  beforeAll(async () => {
    server = makeServer(seen);
    address = `127.0.0.1:${await server.listen("127.0.0.1", 0)}`;
  });
  afterAll(() => server.close());

  function py(
    args: string[],
  ): Promise<{ code: string; details: string; reply: string; trailers: Record<string, string> }> {
    return new Promise((resolve, reject) => {
      const p = spawn("/usr/bin/python3", [path.join(__dirname, "..", "peers", "grpcio_client.py"), ...args]);
      let out = "";
      let err = "";
      p.stdout.on("data", (c: Buffer) => (out += c.toString()));
      p.stderr.on("data", (c: Buffer) => (err += c.toString()));
      p.on("exit", () => {
        try {
          resolve(JSON.parse(out.trim().split("\n").pop()!));
        } catch {
          reject(new Error(`python client: ${out} ${err}`));
        }
      });
    });
  }

  test("reply, trailers, errors, deadline and cancellation", async () => {
    const [ok, bad, late, cancelled] = await Promise.all([
      py([address, LIST, "71", "5"]),
      py([address, GET, Buffer.from("error").toString("hex"), "5"]),
      py([address, GET, Buffer.from("wait").toString("hex"), "0.3"]),
      py(["--cancel-after", "0.5", address, GET, Buffer.from("wait").toString("hex"), "5"]),
    ]);
    expect(ok.code).toBe("OK");
    expect(Buffer.from(ok.reply, "hex").toString()).toBe("cached reply bytes");
    expect(ok.trailers["dai-cache"]).toBe("hit");
    expect(ok.trailers["dai-key-bin"]).toBe("0102ff");
    expect(bad.code).toBe("NOT_FOUND");
    expect(bad.details).toBe("naïve 100% ✓\n");
    expect(bad.trailers["x-trail-bin"]).toBe("00fe");
    expect(late.code).toBe("DEADLINE_EXCEEDED");
    expect(cancelled.code).toBe("CANCELLED");
    await new Promise((r) => setTimeout(r, 200));
    expect(seen.aborted).toBe(2);
  });
});

describe("shutdown and TLS", () => {
  test("close(): GOAWAY, the call in flight finishes, new connections are refused", async () => {
    const seen: Seen = { calls: [], aborted: 0 };
    const server = makeServer(seen);
    const address = `127.0.0.1:${await server.listen("127.0.0.1", 0)}`;
    const client = new grpc.Client(address, grpc.credentials.createInsecure());
    const inflight = new Promise<Buffer | undefined>((resolve) =>
      client.makeUnaryRequest(GET, identity, identity, Buffer.from("slow"), new grpc.Metadata(), {}, (e, r) =>
        resolve(e ? undefined : r),
      ),
    );
    await new Promise((r) => setTimeout(r, 100));
    await server.close(3000);
    expect((await inflight)?.toString()).toBe("echo:slow");
    client.close();
    const after = await grpcCall(address, GET, Buffer.from("x"), { deadlineMs: 1000 });
    expect(after.err!.code).toBe(Status.UNAVAILABLE);
  });

  describe("TLS", () => {
    let pki: TestPki;
    beforeAll(() => {
      pki = makeTestPki();
    });
    afterAll(() => pki.cleanup());

    test("TLS, and mTLS refusing a client without a certificate", async () => {
      const seen: Seen = { calls: [], aborted: 0 };
      const server = makeServer(seen, {
        tls: { cert: pki.read(pki.serverCert), key: pki.read(pki.serverKey), ca: pki.read(pki.ca), requestCert: true },
      });
      const address = `127.0.0.1:${await server.listen("127.0.0.1", 0)}`;
      try {
        const withCert = grpc.credentials.createSsl(
          pki.read(pki.ca),
          pki.read(pki.clientKey),
          pki.read(pki.clientCert),
        );
        const ok = await grpcCall(address, LIST, Buffer.from("q"), { creds: withCert });
        expect(ok.err).toBeUndefined();
        expect(ok.reply!.toString()).toBe("cached reply bytes");
        const without = await grpcCall(address, LIST, Buffer.from("q"), {
          creds: grpc.credentials.createSsl(pki.read(pki.ca)),
          deadlineMs: 2000,
        });
        expect(without.err!.code).toBe(Status.UNAVAILABLE);
      } finally {
        await server.close();
      }
    });
  });
});
