/** A gateway in front of a simulated cluster, and an independent expected answer from the ledger. */
import { createChannel, createClient, Metadata, type Client } from "nice-grpc";
import pino from "pino";
import { testConfig } from "./test-config";
import type { ConfigInput } from "../../src/config/schema";
import { startGateway, type RunningGateway } from "../../src/gateway";
import { FLTask, TaskDefinition, type ListTaskRequest } from "../../src/gen/task/task";
import { selectForList } from "../../src/merge/filter";
import { mergeCopies } from "../../src/merge/merge";
import type { SimCluster } from "../../src/sim/cluster";
import { decodeTaskView, type TaskView } from "../../src/wire/task-view";

export interface GatewayHandle {
  gw: RunningGateway;
  client: Client<typeof TaskDefinition>;
  close(): Promise<void>;
}

/** Seeded with executor-0 only (with its key); the rest are discovered on loopback. */
export async function startCachedGateway(sim: SimCluster, input: ConfigInput = {}): Promise<GatewayHandle> {
  const seed = sim.executors[0]!;
  const config = testConfig({
    listen: "127.0.0.1:0",
    httpListen: "127.0.0.1:0",
    ...input,
    executors: {
      seeds: [{ address: seed.address, pubKey: sim.keys[0]!.publicKey.toString("hex") }],
      discoveryAllow: ["127.0.0.1/32"],
      ...input.executors,
    },
    log: { level: "silent" },
  });
  const gw = await startGateway(config, pino({ level: "silent" }));
  const channel = createChannel(`127.0.0.1:${gw.grpcPort}`);
  const client = createClient(TaskDefinition, channel);
  return {
    gw,
    client,
    async close() {
      channel.close();
      await gw.stop();
    },
  };
}

/** ListTask through the gateway, with its trailers. */
export async function listWithTrailers(
  client: Client<typeof TaskDefinition>,
  req: ListTaskRequest,
  headers: Record<string, string> = {},
): Promise<{ tasks: FLTask[]; trailers: Metadata }> {
  let trailers = new Metadata();
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
  const reply = await client.listTask(req, {
    metadata,
    onTrailer: (t) => {
      trailers = t;
    },
  });
  return { tasks: reply.fLTasks, trailers };
}

/** What one Executor holding the union of the simulated Executors' current ledgers answers. */
export function expectedList(sim: SimCluster, req: ListTaskRequest): TaskView[] {
  const copies: TaskView[] = [];
  for (const e of sim.executors) copies.push(...e.taskViews());
  const { tasks } = mergeCopies(copies);
  return selectForList(tasks.values(), {
    pubKey: Buffer.from(req.pubKey),
    status: req.status,
    timeStart: req.timeStart,
    timeEnd: req.timeEnd,
    limit: req.limit,
  });
}

export function sameTasks(got: FLTask[], want: TaskView[]): boolean {
  return (
    got.length === want.length &&
    got.every((t, i) => t.iD === want[i]!.id && t.status === want[i]!.status && t.publishTime === want[i]!.publishTime)
  );
}

export const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

/** Total ListTask / GetTaskById calls the simulated Executors received. */
export function upstreamCalls(sim: SimCluster, method: "ListTask" | "GetTaskById"): number {
  return sim.executors.reduce((n, e) => n + (e.calls[method] ?? 0), 0);
}

export function decodeRaw(t: FLTask): TaskView {
  return decodeTaskView(Buffer.from(FLTask.encode(t).finish()));
}
