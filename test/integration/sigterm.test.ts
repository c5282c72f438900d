/**
 * Graceful stop of the built CLI (`node bin/dai-gateway.js serve`): under load, SIGTERM
 * turns readiness false and refuses new calls, lets every in-flight call finish, and
 * exits 0. Needs `npm run build` (test:all runs it first).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { stringify } from "yaml";
import { FLTasks } from "../../src/gen/task/task";
import { startSimCluster, type SimCluster } from "../../src/sim/cluster";
import { rawCall, rawClient, type RawReply } from "../helpers/resilience";
import { listAllBody } from "../helpers/requests";
import { withApiServer } from "../helpers/api-server";

const ROOT = path.join(__dirname, "..", "..");
const LATENCY_MS = 400;

let sim: SimCluster;
let dir: string;
let child: ChildProcess | undefined;

beforeAll(async () => {
  if (!existsSync(path.join(ROOT, "dist", "src", "cli", "main.js"))) {
    throw new Error("dist/ is missing: run `npm run build` first");
  }
  sim = await startSimCluster({ executors: 3, seed: 31, trainingTasks: 10, latencyMs: LATENCY_MS });
  dir = mkdtempSync(path.join(tmpdir(), "dai-sigterm-"));
});
afterAll(async () => {
  if (child && child.exitCode === null) child.kill("SIGKILL");
  await sim.stop();
  rmSync(dir, { recursive: true, force: true });
});

function httpStatus(port: number, p: string): Promise<number> {
  return new Promise((resolve) => {
    http
      .get({ host: "127.0.0.1", port, path: p, timeout: 2000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on("error", () => resolve(0));
  });
}

test("SIGTERM under load: in-flight calls finish, new calls are refused, readiness drops, exit 0", async () => {
  const config = path.join(dir, "gateway.yaml");
  writeFileSync(
    config,
    stringify(
      withApiServer({
        listen: "127.0.0.1:0",
        httpListen: "127.0.0.1:0",
        shutdownGraceMs: 5000,
        log: { level: "info" },
        // All 20 calls in flight at the gateway on the one client connection (beyond the
        // stream cap they would wait in the client, never started when SIGTERM comes).
        api: { maxStreamsPerConnection: 32 },
        executors: {
          seeds: sim.executors.map((e, i) => ({ address: e.address, pubKey: sim.keys[i]!.publicKey.toString("hex") })),
        },
      }),
    ),
  );
  child = spawn(process.execPath, [path.join(ROOT, "bin", "dai-gateway.js"), "serve", "--config", config], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child!.on("exit", (code) => resolve(code)));
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  const ports = await new Promise<{ grpc: number; http: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${out} ${stderr}`)), 15_000);
    child!.stdout!.on("data", () => {
      for (const line of out.split("\n")) {
        if (!line.includes("gateway listening")) continue;
        const rec = JSON.parse(line) as { grpc: string; http: string };
        clearTimeout(timer);
        resolve({ grpc: Number(rec.grpc.split(":").pop()), http: Number(rec.http.split(":").pop()) });
      }
    });
  });
  expect(await httpStatus(ports.http, "/readyz")).toBe(200);

  const client = rawClient(ports.grpc);
  const body = listAllBody(sim.ledger.requesters[0]!.publicKey);
  try {
    // Warm the channels, then put load on: 20 calls in flight when SIGTERM arrives.
    expect((await rawCall(client, "ListTask", body, { deadlineMs: 5000 })).err).toBeUndefined();
    // no-cache: otherwise the warm-up's cached answer serves them at once and nothing is in flight.
    const inFlight: Promise<RawReply>[] = Array.from({ length: 20 }, () =>
      rawCall(client, "ListTask", body, { deadlineMs: 10_000, metadata: { "dai-cache-control": "no-cache" } }),
    );
    await new Promise((r) => setTimeout(r, LATENCY_MS / 4));
    const signalledAt = Date.now();
    child.kill("SIGTERM");
    // The signal is handled when the gateway logs "stopping".
    while (!out.includes('"msg":"stopping"')) await new Promise((r) => setTimeout(r, 10));

    // While draining: not ready, and new calls are refused with UNAVAILABLE.
    const [ready, late] = await Promise.all([
      httpStatus(ports.http, "/readyz"),
      rawCall(client, "ListTask", body, { deadlineMs: 5000 }),
    ]);
    expect(ready).toBe(503);
    expect(late.err?.code).toBe(grpc.status.UNAVAILABLE);

    const replies = await Promise.all(inFlight);
    const failed = replies.filter((r) => r.err);
    expect(failed.map((r) => r.err?.message)).toEqual([]);
    for (const r of replies) expect(FLTasks.decode(r.body!).fLTasks.length).toBeGreaterThan(0);

    expect(await exited).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(5000);
  } finally {
    client.close();
  }
});
