/**
 * Random ledgers for property tests: tasks with a consistent lifecycle (spec §3),
 * spread over Executors that may hold an older snapshot of a task (ledger lag).
 *
 * Every snapshot carries, besides its encoding, the plain facts a reference
 * implementation needs, so tests never have to trust the gateway's decoder.
 */
import fc from "fast-check";
import { FLTask } from "../../src/gen/task/task";

export const BASE_NS = 1_764_316_800_000_000_000n;
/** Publish times are BASE_NS + slot * STEP_NS: few slots, so equal times (ties) are common. */
export const STEP_NS = 1_000_000_007n;

export const STATUSES = ["Confirming", "Ready", "ToProcess", "Processing", "Finished", "Failed", "Rejected"] as const;
export type Status = (typeof STATUSES)[number];

/** A 64-byte key that is easy to tell apart in failures. */
export function fakeKey(tag: number): Buffer {
  const b = Buffer.alloc(64, tag);
  b.writeUInt32BE(tag, 0);
  return b;
}

export interface Snapshot {
  id: string;
  status: string;
  publishTime: bigint;
  startTime: bigint;
  endTime: bigint;
  /** Data sets with confirmedAt or rejectedAt set. */
  decisions: number;
  requester: Buffer;
  executors: Buffer[];
  raw: Buffer;
}

export interface TaskSpec {
  id: string;
  slot: number;
  requester: Buffer;
  /** Indexes of the Executors taking part (dataSets order). */
  participants: number[];
  final: Status;
  /** For Confirming/Rejected: how many data sets confirmed before the end. */
  confirmed: number;
}

export interface Executor {
  key: Buffer;
  address: string;
}

/** All snapshots of a task's life, least to most advanced. */
export function lifecycle(spec: TaskSpec, executors: readonly Executor[]): Snapshot[] {
  const publish = BASE_NS + BigInt(spec.slot) * STEP_NS;
  const n = spec.participants.length;
  const stages: { status: string; confirmed: number; rejected: boolean; start: boolean; end: boolean }[] = [];
  const lastConfirm = spec.final === "Confirming" || spec.final === "Rejected" ? Math.min(spec.confirmed, n - 1) : n;
  for (let c = 0; c <= lastConfirm; c++) {
    stages.push({ status: "Confirming", confirmed: c, rejected: false, start: false, end: false });
  }
  const after: Record<Status, string[]> = {
    Confirming: [],
    Rejected: ["Rejected"],
    Ready: ["Ready"],
    ToProcess: ["Ready", "ToProcess"],
    Processing: ["Ready", "ToProcess", "Processing"],
    Finished: ["Ready", "ToProcess", "Processing", "Finished"],
    Failed: ["Ready", "ToProcess", "Processing", "Failed"],
  };
  for (const status of after[spec.final]) {
    stages.push({
      status,
      confirmed: lastConfirm,
      rejected: status === "Rejected",
      start: ["Processing", "Finished", "Failed"].includes(status),
      end: ["Finished", "Failed", "Rejected"].includes(status),
    });
  }
  return stages.map((s) => {
    const dataSets = spec.participants.map((e, i) => ({
      owner: fakeKey(150 + e),
      executor: executors[e]!.key,
      dataID: `data-${e}`,
      PSILabel: "id",
      confirmedAt: i < s.confirmed ? publish + BigInt(i + 1) : 0n,
      rejectedAt: s.rejected && i === s.confirmed ? publish + 99n : 0n,
      address: executors[e]!.address,
      isTagPart: i === 0,
    }));
    const task = FLTask.fromPartial({
      iD: spec.id,
      name: `task ${spec.id}`,
      requester: spec.requester,
      dataSets,
      algoParam: { taskType: 0, trainParams: { label: "y", isTagPart: true } },
      status: s.status,
      errMessage: s.status === "Failed" || s.status === "Rejected" ? "it went wrong" : "",
      result: s.status === "Finished" ? "ok" : "",
      publishTime: publish,
      startTime: s.start ? publish + 1_000n : 0n,
      endTime: s.end ? publish + 2_000n : 0n,
    });
    return {
      id: spec.id,
      status: s.status,
      publishTime: publish,
      startTime: task.startTime,
      endTime: task.endTime,
      decisions: dataSets.filter((d) => d.confirmedAt !== 0n || d.rejectedAt !== 0n).length,
      requester: spec.requester,
      executors: dataSets.map((d) => d.executor),
      raw: Buffer.from(FLTask.encode(task).finish()),
    };
  });
}

/** Task IDs: UUIDs, and short strings whose UTF-8 byte order differs from JS string order. */
export const taskIdArb = fc.oneof(
  fc.uuid(),
  fc.string({ unit: fc.constantFrom("a", "B", "0", "-", "é", "\uffff", "😀"), minLength: 1, maxLength: 3 }),
);

export interface RandomLedger {
  executors: Executor[];
  requesters: Buffer[];
  tasks: TaskSpec[];
  /** holdings[e] = snapshots Executor e holds (possibly lagging). */
  holdings: Snapshot[][];
  /** The most advanced snapshot of every task that some Executor holds. */
  truth: Map<string, Snapshot>;
}

export const ledgerArb: fc.Arbitrary<RandomLedger> = fc
  .record({
    nExec: fc.integer({ min: 2, max: 5 }),
    nReq: fc.integer({ min: 1, max: 3 }),
    ids: fc.uniqueArray(taskIdArb, { minLength: 0, maxLength: 14 }),
  })
  .chain(({ nExec, nReq, ids }) => {
    const executors = Array.from({ length: nExec }, (_, i) => ({
      key: fakeKey(1 + i),
      address: `10.0.0.${i + 1}:8184`,
    }));
    const requesters = Array.from({ length: nReq }, (_, i) => fakeKey(101 + i));
    // An Executor can publish tasks too: its key is then both requester and executor.
    const requesterArb = fc.constantFrom(...requesters, executors[0]!.key);
    const taskArb = (id: string) =>
      fc.record({
        id: fc.constant(id),
        slot: fc.integer({ min: 0, max: 6 }),
        requester: requesterArb,
        participants: fc.shuffledSubarray([...executors.keys()], { minLength: 1 }),
        final: fc.constantFrom(...STATUSES),
        confirmed: fc.integer({ min: 0, max: 4 }),
        // Per Executor: not held (-1), or held at a stage counted back from the newest.
        lag: fc.array(fc.integer({ min: -1, max: 3 }), { minLength: nExec, maxLength: nExec }),
      });
    return fc.tuple(fc.constant(executors), fc.constant(requesters), fc.tuple(...ids.map(taskArb)));
  })
  .map(([executors, requesters, specs]) => {
    const holdings: Snapshot[][] = executors.map(() => []);
    const truth = new Map<string, Snapshot>();
    const tasks: TaskSpec[] = [];
    for (const { lag, ...spec } of specs) {
      tasks.push(spec);
      const life = lifecycle(spec, executors);
      let best = -1;
      lag.forEach((back, e) => {
        if (back < 0) return;
        const stage = Math.max(0, life.length - 1 - back);
        holdings[e]!.push(life[stage]!);
        best = Math.max(best, stage);
      });
      if (best >= 0) truth.set(spec.id, life[best]!);
    }
    return { executors, requesters, tasks, holdings, truth };
  });

export interface Query {
  pubKey: Buffer;
  status: string;
  timeStart: bigint;
  timeEnd: bigint;
  limit: bigint;
}

/** Requests a client could send for a ledger: every key kind, statuses (also wrong case), edge windows. */
export function queryArb(ledger: RandomLedger, opts: { emptyKey?: boolean } = {}): fc.Arbitrary<Query> {
  const keys = [...ledger.requesters, ...ledger.executors.map((e) => e.key), fakeKey(250)];
  const time = fc.oneof(
    fc.integer({ min: -1, max: 7 }).map((slot) => BASE_NS + BigInt(slot) * STEP_NS),
    // 0 and below as timeEnd: no upper bound (spec §4).
    fc.constantFrom(0n, -1n, BASE_NS + 3n * STEP_NS + 1n, 9_223_372_036_854_775_807n),
  );
  return fc.record({
    pubKey: opts.emptyKey ? fc.constant(Buffer.alloc(0)) : fc.constantFrom(...keys),
    status: fc.constantFrom("", "", ...STATUSES, "finished", "Unknown"),
    timeStart: fc.oneof(fc.constant(0n), time),
    timeEnd: fc.oneof(fc.constant(9_223_372_036_854_775_807n), time),
    limit: fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: 16n })),
  });
}
