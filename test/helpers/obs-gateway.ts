/** A simulated cluster behind a real gateway, with a typed client (observability tests). */
import { createChannel, createClient, Metadata, type Channel } from "nice-grpc";
import type { Logger } from "pino";
import { testConfig } from "./test-config";
import type { ConfigInput } from "../../src/config/schema";
import { startGateway, type RunningGateway } from "../../src/gateway";
import { TaskDefinition } from "../../src/gen/task/task";
import { createLogger } from "../../src/log";
import { startSimCluster, type SimCluster } from "../../src/sim/cluster";

export interface ObsRig {
  sim: SimCluster;
  gw: RunningGateway;
  channel: Channel;
  client: ReturnType<typeof createClient<typeof TaskDefinition>>;
  httpUrl: string;
  stop(): Promise<void>;
}

export async function startRig(
  opts: { executors?: number; log?: Logger; config?: Partial<ConfigInput> } = {},
): Promise<ObsRig> {
  const sim = await startSimCluster({ executors: opts.executors ?? 3, seed: 7, trainingTasks: 6 });
  const seeds = sim.executors.map((e, i) => ({ address: e.address, pubKey: sim.keys[i]!.publicKey.toString("hex") }));
  const config = testConfig({
    listen: "127.0.0.1:0",
    httpListen: "127.0.0.1:0",
    ...opts.config,
    executors: { seeds, callTimeoutMs: 5000, ...opts.config?.executors },
    // These tests compare each scrape with the traffic just before it: render every scrape;
    // no lag shedding (a loaded CI machine must not turn a route test into a 503).
    http: { metricsRenderMs: 0, ...opts.config?.http },
  });
  const gw = await startGateway(config, opts.log ?? createLogger("silent"));
  const channel = createChannel(`127.0.0.1:${gw.grpcPort}`);
  const client = createClient(TaskDefinition, channel);
  return {
    sim,
    gw,
    channel,
    client,
    httpUrl: `http://127.0.0.1:${gw.httpPort}`,
    async stop() {
      channel.close();
      await gw.stop();
      await sim.stop();
    },
  };
}

/** Collects trailers of one call. */
export function trailers(): { onTrailer(t: Metadata): void; get(name: string): string | undefined } {
  let md: Metadata | undefined;
  return {
    onTrailer: (t) => (md = t),
    get: (name) => md?.get(name) as string | undefined,
  };
}
