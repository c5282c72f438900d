/**
 * Fair intake on the own server (issue 14, item 3; src/transport/fair-intake.ts), on
 * loopback with real HTTP/2 clients: 48 connections keep 8 calls each in flight
 * (closed loop, the server's stream cap), and a light client on a connection of its own
 * makes one call at a time. Measured in calls, not milliseconds: how many handler runs
 * happen between the light client sending its request and having its whole reply. A
 * handler that runs as each request is read makes the light call wait for every call
 * that arrived in the same poll phase and the next (≈ the 384 in flight); the intake
 * starts it in the first slice. The clients share the server's event loop, so each hop
 * of the light call (its request written, read and started, its reply written, read) is
 * a turn, and the intake starts a slice every turn: about 4 slices pass.
 */
import http2 from "node:http2";
import { Http2GrpcServer } from "../../src/transport/server";
import { busy } from "../helpers/busy";

jest.setTimeout(60_000);

const PATH = "/t.T/Unary";
const FLOOD_CONNECTIONS = 48;
const STREAMS = 8;
const SLICE = 32;
const REQUEST = Buffer.from([0, 0, 0, 0, 0]);
const REPLY = Buffer.alloc(2048, 7);

/** One call's grpc-status (trailers-only answers carry it in the headers). */
function statusOf(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = session.request({
      ":method": "POST",
      ":path": PATH,
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    let code: string | undefined;
    s.on("response", (h) => (code ??= h["grpc-status"] as string | undefined));
    s.on("trailers", (t) => (code ??= t["grpc-status"] as string | undefined));
    s.on("error", reject);
    s.on("data", () => {});
    s.on("close", () => resolve(code ?? "none"));
    s.end(REQUEST);
  });
}

function call(session: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = session.request({ ":method": "POST", ":path": PATH, "content-type": "application/grpc", te: "trailers" });
    s.on("error", reject);
    s.on("data", () => {});
    s.on("end", () => resolve());
    s.end(REQUEST);
  });
}

async function measure(intakeSliceCalls: number): Promise<number[]> {
  let runs = 0;
  const server = new Http2GrpcServer({ maxRequestBytes: 1024, maxConcurrentStreams: STREAMS, intakeSliceCalls }).unary(
    PATH,
    async () => {
      runs++;
      busy(0.2);
      return { reply: REPLY };
    },
  );
  const port = await server.listen("127.0.0.1", 0);
  const sessions: http2.ClientHttp2Session[] = [];
  const connect = async (): Promise<http2.ClientHttp2Session> => {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    s.on("error", () => {});
    sessions.push(s);
    await new Promise<void>((resolve) => s.once("remoteSettings", () => resolve()));
    return s;
  };
  let flooding = true;
  const floods: Promise<void>[] = [];
  try {
    for (let c = 0; c < FLOOD_CONNECTIONS; c++) {
      const s = await connect();
      for (let i = 0; i < STREAMS; i++) {
        floods.push(
          (async () => {
            while (flooding) await call(s).catch(() => undefined);
          })(),
        );
      }
    }
    const light = await connect();
    // Let the flood reach its steady state.
    while (runs < 2000) await new Promise((r) => setTimeout(r, 20));
    const waited: number[] = [];
    for (let i = 0; i < 25; i++) {
      const before = runs;
      await call(light);
      // Its own run is not a wait.
      waited.push(runs - before - 1);
      await new Promise((r) => setTimeout(r, 5));
    }
    return waited.sort((a, b) => a - b);
  } finally {
    flooding = false;
    for (const s of sessions) s.destroy();
    await Promise.allSettled(floods);
    await server.close(100);
  }
}

const median = (xs: number[]): number => xs[Math.floor(xs.length / 2)]!;

describe("fair intake under a flood over many connections", () => {
  test("a light client's call waits behind a few slices of other calls, not the flood's 384 in flight", async () => {
    const waited = await measure(SLICE);
    // Measured: 127 (4 slices, one per hop), wherever it arrived.
    expect(median(waited)).toBeLessThanOrEqual(5 * SLICE);
  });

  test("control: started as each request is read, the same call waits behind most of the flood", async () => {
    const waited = await measure(0);
    // Measured: 456.
    expect(median(waited)).toBeGreaterThan(FLOOD_CONNECTIONS * STREAMS * 0.75);
  });
});

describe("a queued call", () => {
  test("whose deadline passed while the calls before it ran is answered DEADLINE_EXCEEDED and never started", async () => {
    let runs = 0;
    const server = new Http2GrpcServer({ maxRequestBytes: 1024, maxConcurrentStreams: STREAMS }).unary(
      PATH,
      async () => {
        runs++;
        // The first call holds the loop past the second one's deadline.
        if (runs === 1) busy(300);
        return { reply: REPLY };
      },
    );
    const port = await server.listen("127.0.0.1", 0);
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    try {
      await new Promise<void>((resolve) => session.once("remoteSettings", () => resolve()));
      // Both in one write: read in one poll phase, the second queued behind the first.
      const [first, second] = await Promise.all([statusOf(session), statusOf(session, { "grpc-timeout": "100m" })]);
      expect(first).toBe("0");
      expect(second).toBe("4");
      expect(runs).toBe(1);
    } finally {
      session.destroy();
      await server.close(100);
    }
  });
});
