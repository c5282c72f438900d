/**
 * Scenario 5: the gateway's resident memory under sustained load (does it grow?), and
 * with 1,000 known Executors (what each one costs), against the same gateway idle / with one.
 */
import { ListTaskRequest } from "../../src/gen/task/task";
import { callRaw } from "../lib/grpc-raw";
import { h2load } from "../lib/h2load";
import { rssMiB, sampleRss } from "../lib/procfs";
import { row, type Row, type ScenarioResult } from "../lib/report";
import { startExecutors, startGatewayProc, type BenchOptions } from "../lib/setup";
import { lineChart } from "../lib/svg";
import { round } from "../lib/stats";

const PATH = "/task.Task/ListTask";
const INT64_MAX = 9_223_372_036_854_775_807n;

function clusterList(limit = 100n): Buffer {
  return Buffer.from(
    ListTaskRequest.encode({ pubKey: Buffer.alloc(0), status: "", timeStart: 0n, timeEnd: INT64_MAX, limit }).finish(),
  );
}

async function settle(
  pid: number,
  gw: { worker: { request(m: Record<string, unknown>): Promise<unknown> } },
): Promise<number> {
  await gw.worker.request({ type: "gc" });
  await new Promise((r) => setTimeout(r, 300));
  return rssMiB(pid);
}

export async function memory(opts: BenchOptions, date: string): Promise<ScenarioResult> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const message = clusterList();

  // (a) Sustained load: 10 Executors, uncached cluster-wide ListTask, RSS sampled throughout.
  const durationSec = opts.quick ? 12 : 90;
  const ex = await startExecutors({ executors: 10, trainingTasks: 90, overlap: 0.2 });
  const gw = await startGatewayProc(ex.executors);
  let sustained;
  try {
    await callRaw(gw.address, PATH, message);
    const idle = await settle(gw.worker.pid, gw);
    const sampler = sampleRss(gw.worker.pid, 250);
    const res = await h2load({
      target: gw.address,
      path: PATH,
      message,
      headers: { "dai-cache-control": "no-cache" },
      clients: 4,
      streams: 8,
      durationSec,
      warmupSec: 1,
    });
    const samples = sampler.stop();
    const after = await settle(gw.worker.pid, gw);
    const peak = Math.max(...samples.map((s) => s.mib));
    // Growth over the second half of the run (MiB per minute): a leak shows as a steady slope.
    const half = samples.filter((s) => s.t >= (durationSec * 1000) / 2);
    const slope =
      half.length > 1
        ? ((half[half.length - 1]!.mib - half[0]!.mib) / (half[half.length - 1]!.t - half[0]!.t)) * 60_000
        : NaN;
    sustained = { idleMiB: idle, peakMiB: peak, afterGcMiB: after, secondHalfMiBPerMin: slope, load: res, samples };
    opts.log(
      `s5: sustained: idle ${round(idle)} MiB, peak ${round(peak)}, after ${round(after)}, ${round(res.reqPerSec)} req/s`,
    );
    rows.push(
      row({
        scenario: "5 memory",
        measure: `RSS peak under ${durationSec} s uncached ListTask load ÷ idle RSS`,
        gateway: `peak ${round(peak, 1)} MiB, ${round(after, 1)} MiB after load + GC; 2nd-half slope ${round(slope, 2)} MiB/min at ${Math.round(res.reqPerSec)} req/s`,
        baseline: `idle ${round(idle, 1)} MiB (same process before load)`,
        ratio: peak / idle,
      }),
    );
  } finally {
    await gw.worker.stop();
    await ex.worker.stop();
  }

  // (b) 1,000 known Executors, every channel connected, against the same gateway with one.
  const big = await startExecutors({ executors: 1000, trainingTasks: 1000, overlap: 0.002 });
  const known: Record<number, { idleMiB: number; connectedMiB: number }> = {};
  try {
    for (const n of [1, 1000]) {
      const g = await startGatewayProc(big.executors.slice(0, n), { executors: { concurrency: 256 } });
      try {
        const idle = await settle(g.worker.pid, g);
        for (let i = 0; i < 3; i++) await callRaw(g.address, PATH, message, { "dai-cache-control": "no-cache" });
        const connected = await settle(g.worker.pid, g);
        known[n] = { idleMiB: idle, connectedMiB: connected };
        opts.log(`s5: ${n} known Executors: idle ${round(idle)} MiB, after fan-outs ${round(connected)} MiB`);
      } finally {
        await g.worker.stop();
      }
    }
  } finally {
    await big.worker.stop();
  }
  const one = known[1]!;
  const thousand = known[1000]!;
  const perExecutorKiB = ((thousand.connectedMiB - one.connectedMiB) / 999) * 1024;
  rows.push(
    row({
      scenario: "5 memory",
      measure: "RSS with 1,000 known Executors (channels connected) ÷ with 1",
      gateway: `${round(thousand.connectedMiB, 1)} MiB (${round(thousand.idleMiB, 1)} MiB before the first fan-out); ≈ ${round(perExecutorKiB, 0)} KiB per Executor`,
      baseline: `${round(one.connectedMiB, 1)} MiB with 1 Executor`,
      ratio: thousand.connectedMiB / one.connectedMiB,
    }),
  );
  notes.push(
    'RSS read from /proc/<pid>/status of the gateway process; "after GC" figures follow a forced global.gc() (the worker runs with --expose-gc).',
    "1,000 Executors: seeds with keys, so each cluster-wide ListTask opens and uses one channel per Executor (3 fan-outs, concurrency 256).",
  );
  const svg = lineChart(
    [{ name: "gateway RSS", points: sustained.samples.map((s) => [s.t / 1000, s.mib] as [number, number]) }],
    {
      title: `Gateway RSS under sustained uncached ListTask load (${durationSec} s)`,
      xLabel: "seconds",
      yLabel: "RSS (MiB)",
      refs: [{ y: sustained.idleMiB, label: "idle" }],
    },
  );
  return {
    id: "s5",
    title: "5. Memory",
    rows,
    data: { sustained: { ...sustained, samples: sustained.samples }, known },
    charts: [{ file: `${date}-memory.svg`, title: "RSS under load", svg }],
    notes,
  };
}
