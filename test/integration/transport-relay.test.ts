/**
 * Streaming relay on the own transport (Http2Transport.openStream → Http2GrpcServer relay):
 * a large reply flows from the owner to the client under flow control, never held whole;
 * trailers-only answers pass through (and allow a fallback to another owner); the size
 * limit, cancellation both ways and a stalled reader's cut-off hold.
 */
import http2 from "node:http2";
import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { Http2Transport } from "../../src/transport/client";
import { Http2GrpcServer, type RelayOutcome, type RelayReply } from "../../src/transport/server";
import { Status } from "../../src/transport/status";

jest.setTimeout(30_000);

const MiB = 1024 * 1024;
const PREDICT = "/task.Task/GetPredictResult";
const identity = (b: Buffer): Buffer => b;

/** An owner that writes a `size`-byte reply in 64 KiB chunks, respecting backpressure, counting what it got rid of. */
async function startOwner(
  size: number,
  opts: { notFound?: boolean } = {},
): Promise<{ address: string; accepted: () => number; closed: () => number; stop(): Promise<void> }> {
  let accepted = 0;
  let closed = 0;
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  server.on("stream", (stream) => {
    stream.on("error", () => {});
    stream.on("close", () => closed++);
    stream.resume();
    if (opts.notFound) {
      stream.respond(
        { ":status": 200, "content-type": "application/grpc", "grpc-status": "5", "grpc-message": "no result here" },
        { endStream: true },
      );
      return;
    }
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0", "x-owner": "yes" }));
    const head = Buffer.alloc(5);
    head.writeUInt32BE(size, 1);
    stream.write(head);
    let sent = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    const pump = (): void => {
      while (sent < size && !stream.destroyed) {
        const n = Math.min(chunk.length, size - sent);
        sent += n;
        const ok = stream.write(n === chunk.length ? chunk : chunk.subarray(0, n), () => (accepted += n));
        if (!ok) return void stream.once("drain", pump);
      }
      if (sent >= size) stream.end();
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    accepted: () => accepted,
    closed: () => closed,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function startRelay(
  owners: string[],
  t: Http2Transport,
  extra: Partial<RelayReply> = {},
): Promise<{ address: string; done: RelayOutcome[]; server: Http2GrpcServer }> {
  const done: RelayOutcome[] = [];
  const server = new Http2GrpcServer({ maxRequestBytes: 1024 }).unary(PREDICT, async (req, call) => {
    const deadline = call.deadline ?? new Date(Date.now() + 20_000);
    // The first owner that has the result: a trailers-only NOT_FOUND falls back to the next.
    for (const [i, owner] of owners.entries()) {
      const upstream = await t.openStream(owner, "getPredictResult", req, deadline, { signal: call.signal });
      if (upstream.headers["grpc-status"] === "5" && i < owners.length - 1) {
        upstream.stream.close(http2.constants.NGHTTP2_CANCEL);
        continue;
      }
      return { upstream, maxBytes: 64 * MiB, onDone: (o) => done.push(o), ...extra };
    }
    throw { code: Status.NOT_FOUND, details: "no owner" };
  });
  const port = await server.listen("127.0.0.1", 0);
  return { address: `127.0.0.1:${port}`, done, server };
}

function grpcJsCall(address: string): Promise<{ err?: grpc.ServiceError; reply?: Buffer }> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": -1,
  });
  return new Promise((resolve) =>
    client.makeUnaryRequest(
      PREDICT,
      identity,
      identity,
      Buffer.from("req"),
      new grpc.Metadata(),
      { deadline: new Date(Date.now() + 20_000) },
      (err, reply) => {
        client.close();
        resolve({ err: err ?? undefined, reply });
      },
    ),
  );
}

/** A raw GetPredictResult on `session`, its one-byte request sent. */
function rawCall(session: http2.ClientHttp2Session): http2.ClientHttp2Stream {
  const st = session.request({
    ":method": "POST",
    ":path": PREDICT,
    "content-type": "application/grpc",
    te: "trailers",
  });
  st.on("error", () => {});
  st.end(Buffer.from([0, 0, 0, 0, 1, 0x72]));
  return st;
}

function transport(): Http2Transport {
  return new Http2Transport({ maxResponseBytes: MiB, maxPredictBytes: 64 * MiB });
}

test("a 24 MiB reply relayed to a grpc-js client byte for byte, trailers passed on", async () => {
  const owner = await startOwner(24 * MiB);
  const t = transport();
  const relay = await startRelay([owner.address], t);
  try {
    const r = await grpcJsCall(relay.address);
    expect(r.err).toBeUndefined();
    expect(r.reply!.length).toBe(24 * MiB);
    expect(r.reply!.every((b) => b === 0x62)).toBe(true);
    await new Promise((res) => setTimeout(res, 50));
    expect(relay.done).toEqual([
      { ok: true, bytes: 24 * MiB + 5, code: 0, details: "", pushbacks: expect.any(Number) as number },
    ]);
    // A reader that keeps up is not pushed back after every 16 KiB DATA frame (1,536 of them):
    // each pause stalls the owner for a window round trip.
    expect(relay.done[0]!.pushbacks).toBeLessThan(100);
  } finally {
    await relay.server.close();
    t.close();
    await owner.stop();
  }
});

test("a trailers-only NOT_FOUND falls back to the next owner; from the last it reaches the client", async () => {
  const empty = await startOwner(0, { notFound: true });
  const owner = await startOwner(MiB);
  const t = transport();
  const relay = await startRelay([empty.address, owner.address], t);
  const onlyEmpty = await startRelay([empty.address], t);
  try {
    const r = await grpcJsCall(relay.address);
    expect(r.err).toBeUndefined();
    expect(r.reply!.length).toBe(MiB);
    const nf = await grpcJsCall(onlyEmpty.address);
    expect(nf.err!.code).toBe(Status.NOT_FOUND);
    expect(nf.err!.details).toBe("no result here");
  } finally {
    await relay.server.close();
    await onlyEmpty.server.close();
    t.close();
    await owner.stop();
    await empty.stop();
  }
});

test("over the size limit: RESOURCE_EXHAUSTED from the length prefix, the owner's stream cancelled", async () => {
  const owner = await startOwner(8 * MiB);
  const t = transport();
  const relay = await startRelay([owner.address], t, { maxBytes: MiB });
  try {
    const r = await grpcJsCall(relay.address);
    expect(r.err!.code).toBe(Status.RESOURCE_EXHAUSTED);
    await new Promise((res) => setTimeout(res, 100));
    expect(owner.closed()).toBe(1);
    expect(owner.accepted()).toBeLessThan(8 * MiB);
  } finally {
    await relay.server.close();
    t.close();
    await owner.stop();
  }
});

test("flow control: a client that does not read holds the owner back; reading later gets every byte", async () => {
  const owner = await startOwner(64 * MiB);
  const t = transport();
  const relay = await startRelay([owner.address], t);
  const session = http2.connect(`http://${relay.address}`, { settings: { initialWindowSize: 65535 } });
  try {
    const st = session.request({
      ":method": "POST",
      ":path": PREDICT,
      "content-type": "application/grpc",
      te: "trailers",
    });
    st.end(Buffer.from([0, 0, 0, 0, 1, 0x72]));
    st.pause();
    await new Promise((res) => setTimeout(res, 1500));
    // Windows (client 64 KiB, relay upstream 1 MiB) and socket buffers: nowhere near 64 MiB.
    expect(owner.accepted()).toBeLessThan(12 * MiB);
    let got = 0;
    const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => st.on("trailers", resolve));
    const ended = new Promise<void>((resolve) => st.on("end", () => resolve()));
    st.on("data", (c: Buffer) => (got += c.length));
    st.resume();
    const tr = await trailers;
    await ended;
    expect(got).toBe(64 * MiB + 5);
    expect(tr["grpc-status"]).toBe("0");
    expect(tr["x-owner"]).toBe("yes");
    await new Promise((res) => setTimeout(res, 50));
    // The reader that did not read pushed back: the owner was paused with RELAY_QUEUE_BYTES waiting.
    expect(relay.done[0]!.pushbacks).toBeGreaterThan(0);
  } finally {
    session.destroy();
    await relay.server.close();
    t.close();
    await owner.stop();
  }
});

test("the client cancelling mid-relay cancels the owner's stream", async () => {
  const owner = await startOwner(64 * MiB);
  const t = transport();
  const relay = await startRelay([owner.address], t);
  const session = http2.connect(`http://${relay.address}`);
  try {
    const st = rawCall(session);
    await new Promise<void>((resolve) => st.once("data", () => resolve()));
    st.close(http2.constants.NGHTTP2_CANCEL);
    await new Promise((res) => setTimeout(res, 300));
    expect(owner.closed()).toBe(1);
    expect(relay.done).toHaveLength(1);
    expect(relay.done[0]!.ok).toBe(false);
  } finally {
    session.destroy();
    await relay.server.close();
    t.close();
    await owner.stop();
  }
});

test("a client that stops reading is cut off after stallMs; the owner is cancelled", async () => {
  const owner = await startOwner(64 * MiB);
  const t = transport();
  const relay = await startRelay([owner.address], t, { stallMs: 300 });
  const session = http2.connect(`http://${relay.address}`, { settings: { initialWindowSize: 65535 } });
  try {
    const st = rawCall(session);
    st.pause();
    const closed = new Promise<number>((resolve) => st.on("close", () => resolve(st.rstCode ?? 0)));
    expect(await closed).not.toBe(0);
    await new Promise((res) => setTimeout(res, 200));
    expect(owner.closed()).toBe(1);
    expect(relay.done[0]!.ok).toBe(false);
  } finally {
    session.destroy();
    await relay.server.close();
    t.close();
    await owner.stop();
  }
});
