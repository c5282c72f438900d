/**
 * The framing floor (bench/lib/framing-floor.ts), the benchmarks' measure of what a reply
 * costs framed in JavaScript without node:http2, is only a floor if real clients accept
 * its replies: grpc-js (64 KiB windows, so a 300 KB reply crosses WINDOW_UPDATEs),
 * grpcio (C core) and node:http2, on loopback; and a peer that does not speak HTTP/2 is
 * shut out, not answered.
 */
import { spawn } from "node:child_process";
import http2 from "node:http2";
import net from "node:net";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { startFramingFloor } from "../../bench/lib/framing-floor";

jest.setTimeout(30_000);

const MESSAGE = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251));
const identity = (b: Buffer): Buffer => b;

describe("bench framing floor", () => {
  let floor: Awaited<ReturnType<typeof startFramingFloor>>;
  let address = "";

  beforeAll(async () => {
    floor = await startFramingFloor(MESSAGE);
    address = `127.0.0.1:${floor.port}`;
  });
  afterAll(() => floor.close());

  it("answers grpc-js calls, many in flight on one connection, across flow-control windows", async () => {
    const client = new grpc.Client(address, grpc.credentials.createInsecure());
    try {
      const call = (): Promise<Buffer> =>
        new Promise((resolve, reject) =>
          client.makeUnaryRequest(
            "/task.Task/ListTask",
            identity,
            identity,
            Buffer.from([8, 1]),
            new grpc.Metadata(),
            { deadline: Date.now() + 10_000 },
            (err, reply) => (err ? reject(err) : resolve(reply!)),
          ),
        );
      const replies = await Promise.all(Array.from({ length: 20 }, call));
      for (const r of replies) expect(r.equals(MESSAGE)).toBe(true);
    } finally {
      client.close();
    }
  });

  it("takes a request larger than the stream's first window (1 MiB), giving the window back", async () => {
    const client = new grpc.Client(address, grpc.credentials.createInsecure());
    try {
      const reply = await new Promise<Buffer>((resolve, reject) =>
        client.makeUnaryRequest(
          "/task.Task/ListTask",
          identity,
          identity,
          Buffer.alloc(3 * 1024 * 1024, 1),
          new grpc.Metadata(),
          { deadline: Date.now() + 10_000 },
          (err, r) => (err ? reject(err) : resolve(r!)),
        ),
      );
      expect(reply.equals(MESSAGE)).toBe(true);
    } finally {
      client.close();
    }
  });

  it("answers a grpcio (C core) client", async () => {
    const out = await new Promise<string>((resolve, reject) => {
      const p = spawn("/usr/bin/python3", [
        path.join(__dirname, "..", "peers", "grpcio_client.py"),
        address,
        "/task.Task/ListTask",
        "0801",
        "5",
      ]);
      let text = "";
      p.stdout.on("data", (c: Buffer) => (text += c.toString()));
      p.on("error", reject);
      p.on("exit", () => resolve(text.trim().split("\n").pop() ?? ""));
    });
    const r = JSON.parse(out) as { code: string; reply: string };
    expect(r.code).toBe("OK");
    expect(Buffer.from(r.reply, "hex").equals(MESSAGE)).toBe(true);
  });

  it("answers node:http2 with the gRPC frame and grpc-status 0 in trailers", async () => {
    const session = http2.connect(`http://${address}`);
    try {
      const { body, trailers } = await new Promise<{ body: Buffer; trailers: http2.IncomingHttpHeaders }>(
        (resolve, reject) => {
          const req = session.request({ ":method": "POST", ":path": "/t.T/U", "content-type": "application/grpc" });
          const chunks: Buffer[] = [];
          let got: http2.IncomingHttpHeaders = {};
          req.on("data", (c: Buffer) => chunks.push(c));
          req.on("trailers", (t) => (got = t));
          req.on("end", () => resolve({ body: Buffer.concat(chunks), trailers: got }));
          req.on("error", reject);
          req.end(Buffer.from([0, 0, 0, 0, 0]));
        },
      );
      expect(body.readUInt32BE(1)).toBe(MESSAGE.length);
      expect(body.subarray(5).equals(MESSAGE)).toBe(true);
      expect(trailers["grpc-status"]).toBe("0");
    } finally {
      session.destroy();
    }
  });

  it("closes a connection that does not open with the HTTP/2 preface", async () => {
    const closed = await new Promise<boolean>((resolve) => {
      const s = net.connect(floor.port, "127.0.0.1", () => s.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
      s.on("data", () => {});
      s.on("close", () => resolve(true));
      s.on("error", () => resolve(true));
      setTimeout(() => resolve(false), 5000).unref();
    });
    expect(closed).toBe(true);
  });
});
