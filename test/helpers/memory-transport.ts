/**
 * An in-memory UnaryTransport (the seam under ExecutorClient), for unit tests: each
 * address answers through a function of ours — reply bytes, a ServiceError-shaped
 * error, or a call that waits until it is cancelled. No sockets, no timers of its own.
 */
import * as grpc from "@grpc/grpc-js";
import pino from "pino";
import { TaskFanout, type FanoutOptions } from "../../src/fanout/task-fanout";
import { FLTask, FLTasks } from "../../src/gen/task/task";
import { ExecutorClients } from "../../src/upstream/executor-client";
import { ExecutorHealth } from "../../src/upstream/health";
import { cancelledError, type UnaryTransport } from "../../src/upstream/transport";
import type { UpstreamMethod } from "../../src/wire/facts";
import type { TaskView } from "../../src/wire/task-view";

export type Answer = Buffer | { code: grpc.status; details: string } | "hang";
export type Behaviour = (method: UpstreamMethod, request: Buffer) => Answer | Promise<Answer>;

export interface SentCall {
  address: string;
  method: UpstreamMethod;
  request: Buffer;
  deadline: Date;
}

export function serviceError(
  code: grpc.status,
  details: string,
): Error & { code: grpc.status; details: string; metadata: grpc.Metadata } {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}

/** An Executor's plain error: UNKNOWN with the code embedded in JSON (spec §7). */
export function executorError(code: string, message: string): { code: grpc.status; details: string } {
  return { code: grpc.status.UNKNOWN, details: `failed: {"code":"${code}","message":"${message}"}` };
}

export class MemoryTransport implements UnaryTransport {
  readonly behaviours = new Map<string, Behaviour>();
  readonly calls: SentCall[] = [];
  closed = false;

  on(address: string, b: Behaviour): this {
    this.behaviours.set(address, b);
    return this;
  }

  async call(
    address: string,
    method: UpstreamMethod,
    request: Buffer,
    deadline: Date,
    opts: { signal?: AbortSignal } = {},
  ): Promise<Buffer> {
    this.calls.push({ address, method, request, deadline });
    const b = this.behaviours.get(address);
    if (!b) throw serviceError(grpc.status.UNAVAILABLE, `no route to ${address}`);
    const a = await b(method, request);
    if (a === "hang") {
      return new Promise<Buffer>((_, reject) => {
        if (opts.signal?.aborted) return reject(cancelledError());
        opts.signal?.addEventListener("abort", () => reject(cancelledError()), { once: true });
      });
    }
    if (Buffer.isBuffer(a)) return a;
    throw serviceError(a.code, a.details);
  }

  close(): void {
    this.closed = true;
  }

  asked(method?: UpstreamMethod): string[] {
    return this.calls.filter((c) => method === undefined || c.method === method).map((c) => c.address);
  }
}

export const KEY = (n: number): Buffer => Buffer.alloc(64, n);

/** A plausible task (passes the sanity screen). */
export function task(
  id: string,
  o: {
    status?: string;
    publishTime?: bigint;
    requester?: number;
    executors?: { key: number; address: string }[];
    endTime?: bigint;
  } = {},
): FLTask {
  return FLTask.fromPartial({
    iD: id,
    name: id,
    requester: KEY(o.requester ?? 1),
    status: o.status ?? "Finished",
    publishTime: o.publishTime ?? 1_000n,
    endTime: o.endTime ?? 0n,
    dataSets: (o.executors ?? []).map((e) => ({ executor: KEY(e.key), address: e.address })),
  });
}

export const listReply = (tasks: FLTask[]): Buffer => Buffer.from(FLTasks.encode({ fLTasks: tasks }).finish());
export const taskReply = (t: FLTask): Buffer => Buffer.from(FLTask.encode(t).finish());

export const silent = pino({ level: "silent" });

export interface MemoryCluster {
  transport: MemoryTransport;
  clients: ExecutorClients;
  members: { address: string; pubKey?: Buffer }[];
  fanout: TaskFanout;
  discovered: TaskView[];
  /** The Executor each discovered batch was charged to, in order. */
  discoveredFrom: string[];
}

/** A fan-out over in-memory ExecutorClients; `discover` adds any new address (with its key) to the set. */
export function memoryCluster(
  members: { address: string; pubKey?: Buffer }[],
  opts: Partial<FanoutOptions> & { circuitFailures?: number; maxUpstreamCalls?: number; callTimeoutMs?: number } = {},
): MemoryCluster {
  const transport = new MemoryTransport();
  const health = new ExecutorHealth({
    failures: opts.circuitFailures ?? 5,
    halfOpenAfterMs: 60_000,
    maxHalfOpenAfterMs: 60_000,
  });
  const timeout = opts.callTimeoutMs ?? 1000;
  const clients = new ExecutorClients(transport, health, {
    callTimeoutMs: { listTask: timeout, getTaskById: timeout, getPredictResult: timeout },
    maxUpstreamCalls: opts.maxUpstreamCalls ?? 64,
  });
  const set = [...members];
  const discovered: TaskView[] = [];
  const discoveredFrom: string[] = [];
  const fanout = new TaskFanout(
    () => set.map((m) => ({ ...m, client: clients.get(m.address), live: true })),
    (tasks, from) => {
      discoveredFrom.push(from);
      for (const t of tasks) {
        discovered.push(t);
        for (const ds of t.dataSets) {
          const known = set.find((m) => m.address === ds.address);
          if (!known) set.push({ address: ds.address, pubKey: Buffer.from(ds.executor) });
          else if (!known.pubKey) known.pubKey = Buffer.from(ds.executor);
        }
      }
    },
    {
      discoveryRounds: opts.discoveryRounds ?? 3,
      concurrency: opts.concurrency ?? 0,
      hedgeDelayMs: opts.hedgeDelayMs ?? 0,
      discoveryPass: opts.discoveryPass,
    },
    silent,
  );
  return { transport, clients, members: set, fanout, discovered, discoveredFrom };
}
