/**
 * Scenario 4: CPU cost of one merged ListTask answer from N Executor replies of M tasks
 * each (limit 100): split the replies into tasks (src/wire), keep the most advanced copy
 * of each (src/merge), filter, order, cap and assemble the reply. Baseline: decoding the
 * same replies with the generated ts-proto decoder, the least a decoding gateway pays.
 */
import { FLTask, FLTasks } from "../../src/gen/task/task";
import { matchesQuery, selectForList, type ListQuery } from "../../src/merge/filter";
import { mergeCopies } from "../../src/merge/merge";
import { prng } from "../../src/sim/ledger";
import { decodeTaskList, encodeTaskList, type TaskView } from "../../src/wire/task-view";
import { row, type Row, type ScenarioResult } from "../lib/report";
import type { BenchOptions } from "../lib/setup";
import { lineChart } from "../lib/svg";
import { round } from "../lib/stats";

const NS = 1_000_000_000n;
const STATUSES = ["Processing", "Finished"];

function key(rand: () => number): Buffer {
  return Buffer.from(Array.from({ length: 64 }, () => Math.floor(rand() * 256)));
}

/** N replies of M tasks drawn from a shared universe so that copies overlap; some copies lag. */
export function buildReplies(n: number, m: number, seed = 7): Buffer[] {
  const rand = prng(seed);
  const universe = Math.max(m, Math.ceil((n * m) / 3));
  const execKeys = Array.from({ length: Math.min(n, 50) }, () => key(rand));
  const requester = key(rand);
  const base = 1_764_316_800_000_000_000n;
  const current: { raw: Buffer; lagged: Buffer; publish: bigint }[] = [];
  for (let i = 0; i < universe; i++) {
    const publish = base + BigInt(i) * 60n * NS + BigInt(Math.floor(rand() * 1e9));
    const task = (status: string): Buffer =>
      Buffer.from(
        FLTask.encode(
          FLTask.fromPartial({
            iD: `task-${seed}-${i.toString(16).padStart(8, "0")}-${Math.floor(rand() * 1e9)}`.slice(0, 36),
            name: `train-${i}`,
            description: "vertical linear regression",
            requester,
            dataSets: [0, 1, 2].map((j) => ({
              owner: requester,
              executor: execKeys[(i + j) % execKeys.length]!,
              dataID: `data-${i}-${j}`,
              PSILabel: "id",
              confirmedAt: publish + BigInt(j + 1) * NS,
              address: `10.0.${j}.${i % 250}:8184`,
              isTagPart: j === 0,
            })),
            algoParam: { taskType: 0, trainParams: { label: "MEDV", regMode: 2, regParam: 0.1, alpha: 0.1 } },
            status,
            publishTime: publish,
            startTime: publish + 30n * NS,
            endTime: status === "Finished" ? publish + 300n * NS : 0n,
          }),
        ).finish(),
      );
    // The lagging copy: same task one status behind.
    const fin = task(STATUSES[1]!);
    const lag = Buffer.from(FLTask.encode({ ...FLTask.decode(fin), status: STATUSES[0]!, endTime: 0n }).finish());
    current.push({ raw: fin, lagged: lag, publish });
  }
  const replies: Buffer[] = [];
  for (let e = 0; e < n; e++) {
    const picked = new Set<number>();
    while (picked.size < Math.min(m, universe)) picked.add(Math.floor(rand() * universe));
    const tasks = [...picked]
      .sort((a, b) => b - a)
      .map((i) => ({ raw: rand() < 0.1 ? current[i]!.lagged : current[i]!.raw }));
    replies.push(encodeTaskList(tasks));
  }
  return replies;
}

const QUERY: ListQuery = {
  pubKey: Buffer.alloc(0),
  status: "",
  timeStart: 0n,
  timeEnd: 9_223_372_036_854_775_807n,
  limit: 100n,
};

/** What the gateway does with N replies for one answer (src/fanout/task-fanout.ts, minus the network). */
export function mergeAnswer(replies: readonly Buffer[]): Buffer {
  const merged = new Map<string, TaskView>();
  for (const reply of replies) {
    const valid = decodeTaskList(reply).filter((t) => t.id !== "" && matchesQuery(t, QUERY));
    mergeCopies(valid, merged);
  }
  return encodeTaskList(selectForList(merged.values(), QUERY));
}

function decodeBaseline(replies: readonly Buffer[]): number {
  let n = 0;
  for (const r of replies) n += FLTasks.decode(r).fLTasks.length;
  return n;
}

/** CPU microseconds per call of fn, repeated until at least minMs of CPU time is spent. */
function cpuPerCall(fn: () => unknown, minMs: number): number {
  for (let i = 0; i < 3; i++) fn(); // warm the JIT
  const start = process.cpuUsage();
  let calls = 0;
  let used = 0;
  do {
    fn();
    calls++;
    const d = process.cpuUsage(start);
    used = (d.user + d.system) / 1000;
  } while (used < minMs);
  return (used * 1000) / calls;
}

export async function mergeCost(opts: BenchOptions, date: string): Promise<ScenarioResult> {
  const ns = opts.quick ? [10, 100] : [1, 10, 100, 500];
  const ms = opts.quick ? [10, 100] : [10, 100, 1000];
  const minMs = opts.quick ? 150 : 500;
  const points: { n: number; m: number; mergeUs: number; baselineUs: number; usPerTask: number }[] = [];
  const rows: Row[] = [];
  for (const m of ms) {
    for (const n of ns) {
      if (n * m > 100_000) continue;
      const replies = buildReplies(n, m);
      const answer = mergeAnswer(replies);
      if (answer.length === 0) throw new Error("merge produced an empty answer");
      const mergeUs = cpuPerCall(() => mergeAnswer(replies), minMs);
      const baselineUs = cpuPerCall(() => decodeBaseline(replies), minMs);
      const p = { n, m, mergeUs, baselineUs, usPerTask: mergeUs / (n * m) };
      points.push(p);
      opts.log(`s4: N=${n} M=${m}: merge ${round(mergeUs)} µs, ts-proto decode ${round(baselineUs)} µs`);
      rows.push(
        row({
          scenario: "4 merge cost",
          measure: `CPU per merged answer, N = ${n} × M = ${m}, limit 100`,
          gateway: `${round(mergeUs / 1000, 3)} ms (${round(p.usPerTask, 2)} µs per task read)`,
          baseline: `${round(baselineUs / 1000, 3)} ms ts-proto decode of the same replies`,
          ratio: mergeUs / baselineUs,
        }),
      );
    }
  }
  const svg = lineChart(
    ms.map((m) => ({
      name: `M = ${m} tasks/reply`,
      points: points.filter((p) => p.m === m).map((p) => [p.n, p.mergeUs / 1000] as [number, number]),
    })),
    {
      title: "CPU per merged ListTask answer (limit 100)",
      xLabel: "Executors (N, log scale)",
      yLabel: "CPU ms per answer",
      logX: true,
    },
  );
  return {
    id: "s4",
    title: "4. Merge cost",
    rows,
    data: { points },
    charts: [{ file: `${date}-merge-cpu.svg`, title: "merge CPU vs N", svg }],
    notes: [
      "In-process microbenchmark of the pure functions (src/wire decodeTaskList/encodeTaskList, src/merge mergeCopies/selectForList) on synthetic replies: each task is held by ~3 of the N Executors, 10% of copies lag one status behind.",
      "Ratio < 1 means the lossless partial decode + merge costs less CPU than merely decoding the replies with the generated decoder.",
    ],
  };
}
