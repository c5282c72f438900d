/**
 * The gateway's channels to Executors ping as an Executor's grpc-go server allows
 * (spec §9): never more often than MinTime, never with no call in flight. Checked
 * against a real enforcing server — grpcio's C core (test/helpers/enforcing_executor.py)
 * with the same policy, times scaled down — through a TCP relay that reads the HTTP/2
 * frames both ways and records every PING and GOAWAY.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import path from "node:path";
import { status as Status } from "@grpc/grpc-js";
import { testConfig } from "../helpers/test-config";
import { startGateway, type RunningGateway } from "../../src/gateway";
import { ListTaskRequest } from "../../src/gen/task/task";
import { createLogger } from "../../src/log";
import { DEFAULT_KEEPALIVE_TIME_MS, GRPC_GO_MIN_PING_INTERVAL_MS } from "../../src/upstream/pool";
import { FrameReader, startTcpRelay } from "../helpers/frame-relay";
import { RawClient } from "../helpers/raw-client";

const PYTHON = "/usr/bin/python3";
/** The server's MinTime, scaled down from grpc-go's 5 minutes. */
const MIN_PING_MS = 1000;
/** Each call: the server sends nothing for this long, so only the keepalive policy decides. */
const CALL_MS = 3000;
const IDLE_MS = 2500;

const FRAME_PING = 0x6;
const FRAME_GOAWAY = 0x7;

interface Relay {
  port: number;
  pings: number[];
  goaways: string[];
  connections: number;
  close(): Promise<void>;
}

async function frameRelay(targetPort: number): Promise<Relay> {
  const relay: Relay = { port: 0, pings: [], goaways: [], connections: 0, close: async () => {} };
  const tcp = await startTcpRelay(targetPort, {
    onConnection: () => {
      relay.connections++;
      const fromClient = new FrameReader(true, (type, flags) => {
        if (type === FRAME_PING && (flags & 0x1) === 0) relay.pings.push(Date.now());
      });
      const fromServer = new FrameReader(false, (type, _flags, payload) => {
        if (type === FRAME_GOAWAY) relay.goaways.push(payload.subarray(8).toString("latin1"));
      });
      return { fromClient: (d) => fromClient.push(d), fromServer: (d) => fromServer.push(d) };
    },
  });
  relay.port = tcp.port;
  relay.close = () => tcp.close();
  return relay;
}

async function startEnforcingExecutor(): Promise<{ port: number; proc: ChildProcessWithoutNullStreams }> {
  const proc = spawn(PYTHON, [
    path.join(__dirname, "..", "helpers", "enforcing_executor.py"),
    `${MIN_PING_MS}`,
    `${CALL_MS}`,
  ]);
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    let err = "";
    proc.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /^(\d+)\n/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.stderr.on("data", (d: Buffer) => (err += d.toString()));
    proc.on("exit", (code) => reject(new Error(`enforcing executor exited (${code}): ${err}`)));
  });
  return { port, proc };
}

const KEY = Buffer.alloc(64, 7);
const listBody = Buffer.from(
  ListTaskRequest.encode({ pubKey: KEY, status: "", timeStart: 0n, timeEnd: 0n, limit: 0n }).finish(),
);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Rig {
  relay: Relay;
  gw: RunningGateway;
  raw: RawClient;
  close(): Promise<void>;
}

async function rig(keepaliveTimeMs: number): Promise<Rig> {
  const exec = await startEnforcingExecutor();
  const relay = await frameRelay(exec.port);
  const gw = await startGateway(
    testConfig({
      listen: "127.0.0.1:0",
      httpListen: "127.0.0.1:0",
      executors: {
        seeds: [`127.0.0.1:${relay.port}`],
        callTimeoutMs: CALL_MS * 3,
        keepaliveTimeMs,
        keepaliveTimeoutMs: 5000,
      },
      log: { level: "silent" },
    }),
    createLogger("silent"),
  );
  const raw = new RawClient(`127.0.0.1:${gw.grpcPort}`);
  return {
    relay,
    gw,
    raw,
    async close() {
      raw.close();
      await gw.stop();
      await relay.close();
      exec.proc.stdin.end();
      exec.proc.kill();
    },
  };
}

/** A busy phase: `n` concurrent ListTask calls, each holding the Executor for CALL_MS with no data sent. */
async function busy(r: Rig, n: number): Promise<void> {
  const replies = await Promise.all(
    Array.from({ length: n }, () => r.raw.call("ListTask", listBody, { "dai-cache-control": "no-cache" }, CALL_MS * 4)),
  );
  for (const reply of replies) {
    expect([Status[reply.code], reply.trailers["dai-executors-failed"]]).toEqual(["OK", undefined]);
  }
}

describe("keepalive toward an enforcing Executor", () => {
  test("the default ping interval respects grpc-go's MinTime", () => {
    expect(DEFAULT_KEEPALIVE_TIME_MS).toBeGreaterThan(GRPC_GO_MIN_PING_INTERVAL_MS);
    expect(testConfig({}).executors.keepaliveTimeMs).toBe(DEFAULT_KEEPALIVE_TIME_MS);
  });

  test("busy, idle, busy, idle, busy: the server never sends GOAWAY, one connection throughout", async () => {
    // The same ratio as the defaults: a little over MinTime.
    const r = await rig(Math.round(MIN_PING_MS * (DEFAULT_KEEPALIVE_TIME_MS / GRPC_GO_MIN_PING_INTERVAL_MS)));
    try {
      for (let cycle = 0; cycle < 3; cycle++) {
        await busy(r, 3);
        await sleep(IDLE_MS);
      }
      expect(r.relay.pings.length).toBeGreaterThan(2); // keepalive was exercised, not off
      for (let i = 1; i < r.relay.pings.length; i++) {
        expect(r.relay.pings[i]! - r.relay.pings[i - 1]!).toBeGreaterThanOrEqual(MIN_PING_MS - 50);
      }
      expect(r.relay.goaways).toEqual([]);
      expect(r.relay.connections).toBe(1);
    } finally {
      await r.close();
    }
  }, 60_000);

  test("the test has teeth: pinging faster than MinTime (as every 30 s against 5 min did) gets GOAWAY", async () => {
    const r = await rig(Math.round((MIN_PING_MS * 30_000) / GRPC_GO_MIN_PING_INTERVAL_MS));
    try {
      await Promise.all(
        Array.from({ length: 2 }, () =>
          r.raw.call("ListTask", listBody, { "dai-cache-control": "no-cache" }, CALL_MS * 4),
        ),
      );
      expect(r.relay.goaways.join(" ")).toMatch(/too_many_pings/);
    } finally {
      await r.close();
    }
  }, 60_000);
});
