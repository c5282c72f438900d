/**
 * The adaptive streams-per-connection limit on the own server (issue 14, item 3;
 * src/transport/stream-limit.ts), on loopback with real HTTP/2 clients: a flood that
 * keeps calls queued in the gateway's intake makes the server lower the busy connections'
 * SETTINGS_MAX_CONCURRENT_STREAMS, so the flood waits at its clients, while a light
 * connection (one call at a time) keeps the setting; it comes back once the flood is
 * over. With `queueTargetMs` 0 (the control, and the server before this change) the
 * setting never moves.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import os from "node:os";
import path from "node:path";
import { Http2GrpcServer } from "../../src/transport/server";
import { MIN_STREAMS } from "../../src/transport/stream-limit";
import { busy } from "../helpers/busy";

jest.setTimeout(60_000);

const PATH = "/t.T/Unary";
const CONNECTIONS = 24;
const STREAMS = 8;
const REQUEST = Buffer.from([0, 0, 0, 0, 0]);
const REPLY = Buffer.alloc(1024, 7);

async function until(what: string, cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The flood, from a process of its own (h2load, nghttp2: a compliant client that keeps
 * at most the server's current setting open on each connection): `CONNECTIONS` × `STREAMS`
 * calls closed loop for `sec` seconds. Resolves with its summary line.
 */
function flood(port: number, sec: number): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "dai-streams-"));
  const body = path.join(dir, "body");
  writeFileSync(body, REQUEST);
  return new Promise<string>((resolve, reject) =>
    execFile(
      "h2load",
      [
        ...["-c", String(CONNECTIONS), "-m", String(STREAMS), "-D", String(sec), "-d", body],
        ...["-H", "content-type: application/grpc", "-H", "te: trailers", `http://127.0.0.1:${port}${PATH}`],
      ],
      { timeout: (sec + 30) * 1000 },
      (err, stdout) => {
        rmSync(dir, { recursive: true, force: true });
        if (err) reject(err);
        else resolve(/requests: .*/.exec(stdout)?.[0] ?? stdout);
      },
    ),
  );
}

interface Run {
  server: Http2GrpcServer;
  port: number;
  /** A client connection of the test's own, to read what the server tells its clients. */
  connect(): Promise<http2.ClientHttp2Session>;
  close(): Promise<void>;
}

async function start(queueTargetMs: number): Promise<Run> {
  const server = new Http2GrpcServer({ maxRequestBytes: 1024, maxConcurrentStreams: STREAMS, queueTargetMs }).unary(
    PATH,
    async () => {
      busy(0.5);
      return { reply: REPLY };
    },
  );
  const port = await server.listen("127.0.0.1", 0);
  const sessions: http2.ClientHttp2Session[] = [];
  return {
    server,
    port,
    async connect() {
      const s = http2.connect(`http://127.0.0.1:${port}`);
      s.on("error", () => {});
      sessions.push(s);
      await new Promise<void>((resolve) => s.once("remoteSettings", () => resolve()));
      return s;
    },
    async close() {
      for (const s of sessions) s.destroy();
      await server.close(0);
    },
  };
}

/** One call on `session`; resolves when its stream closes, however it ended. */
function callOnce(session: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => {
    const s = session.request({ ":method": "POST", ":path": PATH, "content-type": "application/grpc", te: "trailers" });
    s.on("error", () => {});
    s.on("data", () => {});
    s.on("close", () => resolve());
    s.end(REQUEST);
  });
}

/** Keeps `n` calls going on `session`, closed loop, until `stop()`. */
function keepBusy(session: http2.ClientHttp2Session, n: number): { stop: () => Promise<void> } {
  let on = true;
  const loops = Array.from({ length: n }, async () => {
    while (on) await callOnce(session);
  });
  return {
    async stop() {
      on = false;
      await Promise.all(loops);
    },
  };
}

describe("adaptive streams per connection (own server)", () => {
  test("a standing queue lowers the busy connections' setting, not a light one's; it comes back when the queue is gone", async () => {
    const run = await start(5);
    try {
      const busyOne = await run.connect();
      const light = await run.connect();
      expect(run.server.streamsPerConnection).toBe(STREAMS);
      // 24 × 8 calls of 0.5 ms each from h2load, 8 more from a connection of the test's own:
      // turns of INTAKE_SLICE_CALLS (64) calls, the oldest waiting tens of ms. (How low the
      // setting goes depends on the clients: h2load, held under a setting below its -m, adds
      // its own delay and the queue in the server empties at 4; the benchmark's flood goes to
      // the floor.)
      const low = STREAMS / 2;
      const done = flood(run.port, 4);
      const mine = keepBusy(busyOne, STREAMS);
      // The light connection: one call at a time, never queued behind another of its own.
      let lightCalls = 0;
      let lightLeast = STREAMS;
      let lightOn = true;
      const lightLoop = (async () => {
        while (lightOn) {
          await callOnce(light);
          lightCalls++;
          lightLeast = Math.min(lightLeast, light.remoteSettings.maxConcurrentStreams ?? STREAMS);
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      await until("the server to lower the setting", () => run.server.streamsPerConnection <= low, 3_000);
      expect(run.server.streamsPerConnection).toBeGreaterThanOrEqual(MIN_STREAMS);
      // The busy connections are told; the test's own busy one sees it.
      await until("a busy client to see it", () => busyOne.remoteSettings.maxConcurrentStreams! <= low, 1_000);
      // Most of the flood's connections are held (each once it queued a call while the delay was over).
      expect(run.server.heldConnections).toBeGreaterThanOrEqual(CONNECTIONS / 2);
      const summary = await done;
      await mine.stop();
      // Streams the flood had opened past a new setting before it had it are refused
      // (REFUSED_STREAM: h2load counts them errored, gRPC clients retry them); a few per change.
      const m = /(\d+) succeeded, (\d+) failed/.exec(summary);
      expect(m).not.toBeNull();
      expect(Number(m![2])).toBeLessThan(Number(m![1]) / 10);
      // The queue is gone: after half a second of calm, one stream more a tenth of a second.
      await until("the setting to come back", () => run.server.streamsPerConnection === STREAMS, 4_000);
      await until("the busy client to see it", () => busyOne.remoteSettings.maxConcurrentStreams === STREAMS, 1_000);
      expect(run.server.heldConnections).toBe(0);
      lightOn = false;
      await lightLoop;
      // The light connection was never held back.
      expect(lightCalls).toBeGreaterThan(20);
      expect(lightLeast).toBe(STREAMS);
      expect(light.remoteSettings.maxConcurrentStreams).toBe(STREAMS);
    } finally {
      await run.close();
    }
  });

  test("control: with queueTargetMs 0 the same flood leaves the setting where it is", async () => {
    const run = await start(0);
    try {
      const busyOne = await run.connect();
      let least = STREAMS;
      const done = flood(run.port, 2);
      const mine = keepBusy(busyOne, STREAMS);
      const sampler = setInterval(() => (least = Math.min(least, busyOne.remoteSettings.maxConcurrentStreams!)), 20);
      const summary = await done;
      await mine.stop();
      clearInterval(sampler);
      expect(least).toBe(STREAMS);
      expect(run.server.streamsPerConnection).toBe(STREAMS);
      expect(summary).toMatch(/ 0 failed, 0 errored/);
    } finally {
      await run.close();
    }
  });
});
