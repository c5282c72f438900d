/**
 * A live cluster for the person-facing tests: simulated Executors (real gRPC servers)
 * and a real gateway with its HTTP side on free loopback ports.
 */
import { createChannel, createClient } from "nice-grpc";
import { testConfig } from "./test-config";
import type { ConfigInput } from "../../src/config/schema";
import { startGateway, type RunningGateway } from "../../src/gateway";
import { TaskDefinition } from "../../src/gen/task/task";
import { createLogger } from "../../src/log";
import { startSimCluster, type SimCluster } from "../../src/sim/cluster";

export interface PeopleCluster {
  sim: SimCluster;
  gw: RunningGateway;
  grpcAddress: string;
  httpBase: string;
  client: ReturnType<typeof createClient<typeof TaskDefinition>>;
  stop(): Promise<void>;
}

export async function startPeopleCluster(
  opts: { executors?: number; seed?: number; trainingTasks?: number; config?: Partial<ConfigInput> } = {},
): Promise<PeopleCluster> {
  const sim = await startSimCluster({
    executors: opts.executors ?? 4,
    seed: opts.seed ?? 11,
    trainingTasks: opts.trainingTasks ?? 12,
  });
  const config = testConfig({
    listen: "127.0.0.1:0",
    httpListen: "127.0.0.1:0",
    ...opts.config,
    executors: {
      // Every Executor is a seed with its key: the cluster-wide view sees all of them at once.
      seeds: sim.executors.map((e, i) => ({
        address: e.address,
        pubKey: sim.keys[i]!.publicKey.toString("hex"),
        name: e.name,
      })),
      discoveryAllow: ["127.0.0.1/32"],
      callTimeoutMs: 2000,
      ...opts.config?.executors,
    },
    // Tests compare a scrape with the calls just before it: render every scrape; no lag
    // shedding (a loaded CI machine must not turn a route test into a 503).
    http: { metricsRenderMs: 0, ...opts.config?.http },
    log: { level: "silent" },
  });
  const gw = await startGateway(config, createLogger("silent"));
  const grpcAddress = `127.0.0.1:${gw.grpcPort}`;
  const channel = createChannel(grpcAddress);
  return {
    sim,
    gw,
    grpcAddress,
    httpBase: `http://127.0.0.1:${gw.httpPort}`,
    client: createClient(TaskDefinition, channel),
    async stop() {
      channel.close();
      await gw.stop();
      await sim.stop();
    },
  };
}

/** Now in Unix ns, as the stock client sends for timeEnd. */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

export interface JsonReply {
  status: number;
  headers: Headers;
  body: {
    code: string;
    message: string;
    data: unknown;
    executors?: { asked: number; answered: number; failed: { address: string; reason: string }[] };
    cache?: string;
    holders?: string[];
  };
}

export async function postJson(
  base: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<JsonReply> {
  const res = await fetch(base + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as JsonReply["body"] };
}
