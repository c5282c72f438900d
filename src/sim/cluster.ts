/** Starts K simulated Executors sharing one generated ledger, each holding its share. */
import { FLTask } from "../gen/task/task";
import { generateLedger, lagged, deterministicKeyPair, type SimLedger } from "./ledger";
import { SimExecutor } from "./executor";
import type { KeyPair } from "../crypto/p256";
import { DEFAULT_EXECUTOR_VERSION, type ExecutorVersion } from "./version";

export interface SimClusterOptions {
  executors: number;
  seed?: number;
  host?: string;
  /** First port; Executors take consecutive ports. 0: any free ports. */
  basePort?: number;
  trainingTasks?: number;
  overlap?: number;
  /** Indexes of Executors that lag: they hold an older status of each task that has one. */
  lagging?: number[];
  latencyMs?: number;
  /** Which Executor release every Executor behaves like (default v2). */
  version?: ExecutorVersion;
  /** Per Executor (by index), a release other than `version` (e.g. v3 for a mixed cluster). */
  versions?: (ExecutorVersion | undefined)[];
}

export interface SimCluster {
  executors: SimExecutor[];
  keys: KeyPair[];
  ledger: SimLedger;
  stop(): Promise<void>;
}

function encode(t: FLTask): Buffer {
  return Buffer.from(FLTask.encode(t).finish());
}

export async function startSimCluster(opts: SimClusterOptions): Promise<SimCluster> {
  const seed = opts.seed ?? 1;
  const executors = Array.from(
    { length: opts.executors },
    (_, i) => new SimExecutor(opts.host ?? "127.0.0.1", `executor-${i}`),
  );
  // Bind first: the ledger records each Executor's real address.
  for (const [i, e] of executors.entries()) await e.start(opts.basePort ? opts.basePort + i : 0);
  const keys = executors.map((_, i) => deterministicKeyPair(`executor-${seed}-${i}`));
  const ledger = generateLedger(
    executors.map((e, i) => ({ address: e.address, keys: keys[i]! })),
    { seed, trainingTasks: opts.trainingTasks, overlap: opts.overlap },
  );
  const byId = new Map(ledger.tasks.map((t) => [t.iD, t]));
  for (const [i, e] of executors.entries()) {
    e.latencyMs = opts.latencyMs ?? 0;
    e.version = opts.versions?.[i] ?? opts.version ?? DEFAULT_EXECUTOR_VERSION;
    const lag = opts.lagging?.includes(i) ?? false;
    for (const id of ledger.holdings.get(i)!) {
      const t = byId.get(id)!;
      e.putRaw(encode(lag ? (lagged(t) ?? t) : t));
    }
  }
  for (const [id, holder] of ledger.resultHolder) executors[holder]!.setResult(id, ledger.results.get(id)!);
  return {
    executors,
    keys,
    ledger,
    async stop() {
      await Promise.all(executors.map((e) => e.stop()));
    },
  };
}
