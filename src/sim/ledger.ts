/**
 * A generated, realistic task history for simulated Executors, deterministic from a
 * seed: several requesters, training and prediction tasks in every status,
 * nanosecond times, and prediction results on the label holders.
 */
import crypto from "node:crypto";
import { TaskType } from "../gen/common/common";
import { FLTask, type DataForTask } from "../gen/task/task";
import { keyPairFromPrivate, type KeyPair } from "../crypto/p256";

/** mulberry32: small, fast, deterministic. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A deterministic P-256 key pair derived from a label. */
export function deterministicKeyPair(label: string): KeyPair {
  for (let i = 0; ; i++) {
    const d = crypto.createHash("sha256").update(`${label}#${i}`).digest();
    try {
      return keyPairFromPrivate(d);
    } catch {
      // d >= n or 0: try the next one.
    }
  }
}

function uuid(rand: () => number): string {
  const b = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) b[i] = Math.floor(rand() * 256);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export interface SimExecutorIdentity {
  address: string;
  keys: KeyPair;
}

export interface SimLedger {
  requesters: KeyPair[];
  tasks: FLTask[];
  /** Executor index -> IDs of the tasks that Executor holds. */
  holdings: Map<number, Set<string>>;
  /** Prediction task ID -> result payload (JSON rows), kept on the label holder. */
  results: Map<string, Buffer>;
  /** Prediction task ID -> index of the Executor holding its result. */
  resultHolder: Map<string, number>;
}

export interface LedgerOptions {
  seed: number;
  /** Training tasks to generate; about half as many prediction tasks follow. */
  trainingTasks?: number;
  requesters?: number;
  /** Share of other tasks each Executor also holds, besides its own (0..1). */
  overlap?: number;
  /** Base publish time in ns. */
  baseTime?: bigint;
}

const NS_PER_SEC = 1_000_000_000n;
const STATUSES = ["Confirming", "Ready", "ToProcess", "Processing", "Finished", "Failed", "Rejected"] as const;

export function generateLedger(executors: readonly SimExecutorIdentity[], opts: LedgerOptions): SimLedger {
  if (executors.length < 2) throw new Error("a simulated cluster needs at least 2 Executors");
  const rand = prng(opts.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const requesters = Array.from({ length: opts.requesters ?? 3 }, (_, i) =>
    deterministicKeyPair(`requester-${opts.seed}-${i}`),
  );
  const owners = executors.map((_, i) => deterministicKeyPair(`owner-${opts.seed}-${i}`));
  const base = opts.baseTime ?? 1_764_316_800_000_000_000n;
  const tasks: FLTask[] = [];
  const participants = new Map<string, number[]>();
  const results = new Map<string, Buffer>();
  const resultHolder = new Map<string, number>();
  let clock = base;

  const tick = (): bigint => {
    // Mostly minutes apart, sometimes the same nanosecond (ties are ordered by ID).
    if (rand() > 0.1) clock += BigInt(30 + Math.floor(rand() * 600)) * NS_PER_SEC + BigInt(Math.floor(rand() * 1e9));
    return clock;
  };

  const lifecycle = (status: string, publish: bigint, ds: DataForTask[]): Partial<FLTask> => {
    const decided = status !== "Confirming";
    ds.forEach((d, i) => {
      if (status === "Rejected" && i === ds.length - 1) d.rejectedAt = publish + BigInt(i + 1) * NS_PER_SEC;
      else if (decided || rand() < 0.5) d.confirmedAt = publish + BigInt(i + 1) * NS_PER_SEC;
    });
    const started = ["ToProcess", "Processing", "Finished", "Failed"].includes(status);
    const ended = status === "Finished" || status === "Failed" || status === "Rejected";
    return {
      status,
      startTime: started && status !== "ToProcess" ? publish + 30n * NS_PER_SEC : 0n,
      endTime: ended ? publish + 300n * NS_PER_SEC : 0n,
      errMessage:
        status === "Failed"
          ? "training diverged: loss is NaN"
          : status === "Rejected"
            ? "executor rejected: data owner refused"
            : "",
    };
  };

  const nTrain = opts.trainingTasks ?? 24;
  for (let i = 0; i < nTrain; i++) {
    const requester = pick(requesters);
    const n = Math.min(executors.length, 2 + Math.floor(rand() * 2));
    const chosen = [...executors.keys()].sort(() => rand() - 0.5).slice(0, n);
    const tagIndex = Math.floor(rand() * n);
    const publish = tick();
    const ds: DataForTask[] = chosen.map((e, j) => ({
      owner: owners[e]!.publicKey,
      executor: executors[e]!.keys.publicKey,
      dataID: uuid(rand),
      PSILabel: "id",
      confirmedAt: 0n,
      rejectedAt: 0n,
      address: executors[e]!.address,
      // Entries after the label holder inherit the flag (spec §6); the first one holds the labels.
      isTagPart: j >= tagIndex,
    }));
    // Make every status appear, and Finished the most common.
    const status = i < STATUSES.length ? STATUSES[i]! : rand() < 0.5 ? "Finished" : pick(STATUSES);
    const id = uuid(rand);
    tasks.push(
      FLTask.fromPartial({
        iD: id,
        name: `train-${i}`,
        description: "vertical linear regression",
        requester: requester.publicKey,
        dataSets: ds,
        algoParam: {
          algo: rand() < 0.5 ? 0 : 1,
          taskType: TaskType.LEARN,
          trainParams: {
            label: "MEDV",
            regMode: 2,
            regParam: 0.1,
            alpha: 0.1,
            amplitude: 0.0001,
            accuracy: 10n,
            idName: "id",
            BatchSize: 4n,
          },
        },
        publishTime: publish,
        result: status === "Finished" ? "model trained" : "",
        ...lifecycle(status, publish, ds),
      }),
    );
    participants.set(id, chosen);
    if (status !== "Finished") continue;

    // Prediction tasks use finished models; their results live on the label holder.
    const predictions = rand() < 0.7 ? 1 + Math.floor(rand() * 2) : 0;
    for (let p = 0; p < predictions; p++) {
      const pPublish = tick();
      const pds: DataForTask[] = chosen.map((e) => ({
        owner: owners[e]!.publicKey,
        executor: executors[e]!.keys.publicKey,
        dataID: uuid(rand),
        PSILabel: "id",
        confirmedAt: 0n,
        rejectedAt: 0n,
        address: executors[e]!.address,
        isTagPart: false,
      }));
      const pStatus = rand() < 0.75 ? "Finished" : pick(["Processing", "Failed", "Confirming"]);
      const pid = uuid(rand);
      tasks.push(
        FLTask.fromPartial({
          iD: pid,
          name: `predict-${i}-${p}`,
          description: "batch prediction",
          requester: requester.publicKey,
          dataSets: pds,
          algoParam: {
            taskType: TaskType.PREDICT,
            modelTaskID: id,
            modelParams: {
              thetas: { RM: 2.75, CRIM: -0.101 },
              xbars: { RM: 6.28 },
              sigmas: { RM: 0.7 },
              label: "MEDV",
              idName: "id",
            },
          },
          publishTime: pPublish,
          ...lifecycle(pStatus, pPublish, pds),
        }),
      );
      participants.set(pid, chosen);
      if (pStatus === "Finished") {
        const rows = [["id", "prediction"]];
        for (let r = 0; r < 3 + Math.floor(rand() * 5); r++) rows.push([String(1000 + r), (rand() * 50).toFixed(2)]);
        results.set(pid, Buffer.from(JSON.stringify(rows)));
        resultHolder.set(pid, chosen[tagIndex]!);
      }
    }
  }

  const holdings = new Map<number, Set<string>>(executors.map((_, i) => [i, new Set<string>()]));
  const overlap = opts.overlap ?? 0.2;
  for (const t of tasks) {
    const own = participants.get(t.iD) ?? [];
    for (let e = 0; e < executors.length; e++) {
      if (own.includes(e) || rand() < overlap) holdings.get(e)!.add(t.iD);
    }
  }
  return { requesters, tasks, holdings, results, resultHolder };
}

/** The copy a lagging Executor still holds: one step back in the lifecycle. */
export function lagged(task: FLTask): FLTask | undefined {
  const back: Record<string, string> = {
    Finished: "Processing",
    Failed: "Processing",
    Processing: "ToProcess",
    Ready: "Confirming",
  };
  const prev = back[task.status];
  if (prev === undefined) return undefined;
  return {
    ...task,
    status: prev,
    endTime: 0n,
    result: "",
    errMessage: "",
    startTime: prev === "Processing" ? task.startTime : 0n,
  };
}
