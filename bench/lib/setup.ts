/** Starting the processes a scenario needs: simulated Executors, the gateway, baselines. */
import path from "node:path";
import { Worker } from "./child";

export interface ExecutorInfo {
  address: string;
  pubKey: string;
}

export interface ExecutorsProc {
  worker: Worker;
  executors: ExecutorInfo[];
  tasks: number;
  predictRequest?: Buffer;
  predictOwner?: string;
}

export async function startExecutors(opts: {
  executors: number;
  trainingTasks?: number;
  latencyMs?: number;
  overlap?: number;
  seed?: number;
}): Promise<ExecutorsProc> {
  const worker = Worker.start("executors");
  const r = await worker.request<{
    type: string;
    executors: ExecutorInfo[];
    tasks: number;
    predictRequest?: string;
    predictOwner?: string;
  }>({ type: "start", ...opts }, 300_000);
  return {
    worker,
    executors: r.executors,
    tasks: r.tasks,
    predictRequest: r.predictRequest ? Buffer.from(r.predictRequest, "base64") : undefined,
    predictOwner: r.predictOwner,
  };
}

export interface GatewayProc {
  worker: Worker;
  address: string;
}

export interface BenchOptions {
  quick: boolean;
  /** Directory for --cpu-prof output; undefined: no profiling. */
  profileDir?: string;
  log(msg: string): void;
}

/** The gateway on loopback with the given Executors as seeds (keys known: the cluster-wide view works). */
export async function startGatewayProc(
  executors: ExecutorInfo[],
  extra: {
    executors?: Record<string, unknown>;
    predict?: Record<string, unknown>;
    api?: Record<string, unknown>;
    runtime?: Record<string, unknown>;
  } = {},
  profile?: { dir: string; name: string },
): Promise<GatewayProc> {
  // BENCH_GATEWAY_FLAGS: extra node flags for the gateway's process alone (e.g. --trace-gc, for diagnosis).
  const execArgv = ["--expose-gc", ...(process.env.BENCH_GATEWAY_FLAGS?.split(/\s+/).filter(Boolean) ?? [])];
  if (profile) {
    execArgv.push("--cpu-prof", "--cpu-prof-dir", profile.dir, "--cpu-prof-name", `${profile.name}.cpuprofile`);
  }
  const worker = Worker.start("gateway", execArgv);
  const config: Record<string, unknown> = {
    listen: "127.0.0.1:0",
    httpListen: "127.0.0.1:0",
    log: { level: "info" },
    executors: {
      seeds: executors.map((e) => ({ address: e.address, pubKey: e.pubKey })),
      maxExecutors: Math.max(256, executors.length),
      ...extra.executors,
    },
    ...(extra.predict ? { predict: extra.predict } : {}),
    ...(extra.runtime ? { runtime: extra.runtime } : {}),
    // BENCH_API_SERVER=grpc-js|http2: which server answers the Task API (api.server).
    ...(extra.api || process.env.BENCH_API_SERVER
      ? { api: { ...extra.api, ...(process.env.BENCH_API_SERVER ? { server: process.env.BENCH_API_SERVER } : {}) } }
      : {}),
  };
  const r = await worker.request<{ type: string; grpcPort: number }>({ type: "start", config });
  return { worker, address: `127.0.0.1:${r.grpcPort}` };
}

export function resultsPath(...parts: string[]): string {
  return path.join(__dirname, "..", "..", "..", "bench", "results", ...parts);
}
