/**
 * Scenario 8: CPU of the ListTask reduce per upstream reply, realistic replies (N = 100
 * Executors, each returning its newest 100 tasks, each task held by ~2.5 Executors,
 * cluster-wide limit 100): today's reduce (decode every task, screen, merge, select)
 * against the wire-level scan (src/wire/list-scan.ts), which reads only (ID,
 * publishTime) and decodes only candidates. Both answers are checked byte-identical.
 * Pure CPU, in the bench process itself.
 */
import { ListReducer } from "../../src/fanout/reduce";
import { upstreamQuery } from "../../src/fanout/task-fanout";
import { FLTask } from "../../src/gen/task/task";
import { matchesQuery, selectForList, type ListQuery } from "../../src/merge/filter";
import { compareListOrder, mergeCopies } from "../../src/merge/merge";
import { screenTasks } from "../../src/merge/sanity";
import { deterministicKeyPair, generateLedger } from "../../src/sim/ledger";
import { decodeTaskList, decodeTaskView, encodeTaskList, type TaskView } from "../../src/wire/task-view";
import { row, type ScenarioResult } from "../lib/report";
import type { BenchOptions } from "../lib/setup";
import { round } from "../lib/stats";

const INT64_MAX = 9_223_372_036_854_775_807n;

interface Reply {
  buf: Buffer;
  sent: ListQuery;
}

function realisticReplies(n: number, q: ListQuery): Reply[] {
  const ids = Array.from({ length: n }, (_, i) => ({
    address: `10.1.${i >> 8}.${i & 255}:8184`,
    keys: deterministicKeyPair(`s7-executor-${i}`),
  }));
  const ledger = generateLedger(ids, { seed: 7, trainingTasks: 35 * n, overlap: 0 });
  const views = new Map(ledger.tasks.map((t) => [t.iD, decodeTaskView(Buffer.from(FLTask.encode(t).finish()))]));
  const fwd = upstreamQuery(q);
  return ids.map((e, i) => {
    const sent: ListQuery = { ...q, pubKey: e.keys.publicKey, status: fwd.status, limit: fwd.limit };
    const held = [...ledger.holdings.get(i)!].map((id) => views.get(id)!);
    const list = held.filter((t) => matchesQuery(t, sent)).sort(compareListOrder);
    if (sent.limit > 0n && BigInt(list.length) > sent.limit) list.length = Number(sent.limit);
    return { buf: encodeTaskList(list), sent };
  });
}

function today(replies: readonly Reply[], q: ListQuery): TaskView[] {
  const merged = new Map<string, TaskView>();
  for (const r of replies) {
    const valid = screenTasks(decodeTaskList(r.buf), (t) => matchesQuery(t, r.sent), {});
    if (r.sent.limit > 0n && BigInt(valid.length) > r.sent.limit) {
      valid.sort(compareListOrder);
      valid.length = Number(r.sent.limit);
    }
    mergeCopies(valid, merged);
  }
  return selectForList(merged.values(), q);
}

function scanned(replies: readonly Reply[], q: ListQuery): { tasks: TaskView[]; decoded: number; offered: number } {
  // The fan-out's own reduce (src/fanout/reduce.ts on src/wire/list-scan.ts), and what it
  // hands discovery: the screened candidates at once, the undecoded rest to the background pass.
  const s = new ListReducer(q);
  for (const r of replies) s.add(r.buf, r.sent);
  const tasks = s.result().tasks;
  let offered = 0;
  for (const _ of s.screened()) offered++;
  for (const _ of s.undecoded()) offered++;
  return { tasks, decoded: s.stats.decoded, offered };
}

function cpuUsPer(iterations: number, fn: () => void): number {
  for (let i = 0; i < 3; i++) fn();
  (globalThis as { gc?: () => void }).gc?.();
  const t0 = process.cpuUsage();
  for (let i = 0; i < iterations; i++) fn();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / iterations;
}

export { realisticReplies };

export async function reduceCost(opts: BenchOptions): Promise<ScenarioResult> {
  const n = 100;
  const q: ListQuery = { pubKey: Buffer.alloc(0), status: "", timeStart: 0n, timeEnd: INT64_MAX, limit: 100n };
  const replies = realisticReplies(n, q);
  const copies = replies.reduce((a, r) => a + decodeTaskList(r.buf).length, 0);
  const bytes = replies.reduce((a, r) => a + r.buf.length, 0);
  const a = encodeTaskList(today(replies, q));
  const b = scanned(replies, q);
  if (!encodeTaskList(b.tasks).equals(a)) throw new Error("the scan's answer differs from today's");
  const iterations = opts.quick ? 20 : 100;
  const usToday = cpuUsPer(iterations, () => today(replies, q)) / n;
  const usScan = cpuUsPer(iterations, () => scanned(replies, q)) / n;
  opts.log(
    `s8: reduce per reply: today ${round(usToday, 1)} µs, scan ${round(usScan, 1)} µs; decoded ${b.decoded} of ${copies}`,
  );
  return {
    id: "s8",
    title: "8. ListTask reduce: decode only what the answer needs",
    rows: [
      row({
        scenario: "8 ListTask reduce",
        measure: `CPU per upstream reply, N = ${n}, 100-task replies, limit 100 (decoded ${b.decoded} of ${copies} copies)`,
        gateway: `${round(usScan, 1)} µs per reply (the fan-out's reduce: wire-level scan, src/wire/list-scan.ts)`,
        baseline: `${round(usToday, 1)} µs per reply (today: decode all, screen, merge, select)`,
        ratio: usScan / usToday,
      }),
    ],
    data: { n, copies, bytes, decoded: b.decoded, iterations, usToday, usScan },
    charts: [],
    notes: [
      `${n} replies, ${copies} task copies, ${Math.round(bytes / 1000)} KB in all; ${iterations} reduces each, CPU from process.cpuUsage(); answers checked byte-identical.`,
      "The scan is the fan-out's reduce (src/fanout/reduce.ts); the figure includes listing what discovery is handed (candidates at once, undecoded copies for the background pass), not the pass's own bounded reading.",
    ],
  };
}
