/**
 * Scenario 2: uncached fan-out to N simulated Executors that each add latency L.
 * The figure is the gateway's p50 ÷ L; the gateway's CPU time per request shows how the
 * cost of one request grows with N.
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import { ListTaskRequest } from "../../src/gen/task/task";
import { callRaw } from "../lib/grpc-raw";
import { h2load, type LoadResult } from "../lib/h2load";
import { cpuMs } from "../lib/procfs";
import { row, type Row, type ScenarioResult } from "../lib/report";
import { startExecutors, startGatewayProc, type BenchOptions } from "../lib/setup";
import { lineChart } from "../lib/svg";
import { round } from "../lib/stats";

const PATH = "/task.Task/ListTask";
const INT64_MAX = 9_223_372_036_854_775_807n;
const LATENCY_MS = 50;
const DEFAULT_CONCURRENCY = 64;

interface Point {
  n: number;
  variant: string;
  concurrency: number;
  latencyMs: LoadResult["latencyMs"];
  cpuMsPerRequest: number;
  asked: string;
  answered: string;
}

/** The reason of the last "executor failed" line in a gateway log. */
function lastFailure(logFile: string): string {
  try {
    const lines = readFileSync(logFile, "utf8").trim().split("\n").reverse();
    for (const l of lines) {
      const rec = JSON.parse(l) as { msg?: string; reason?: string };
      if (rec.msg === "executor failed") return rec.reason ?? "?";
    }
  } catch {
    // No log: nothing to add.
  }
  return "(none logged)";
}

const TARGETS: Record<number, string> = { 100: "<= 1.25", 500: "<= 1.5" };

export async function fanout(opts: BenchOptions, date: string): Promise<ScenarioResult> {
  const ns = opts.quick ? [1, 10, 100] : [1, 10, 100, 500];
  const requests = opts.quick ? 20 : 100;
  const message = ListTaskRequest.encode({
    pubKey: Buffer.alloc(0),
    status: "",
    timeStart: 0n,
    timeEnd: INT64_MAX,
    limit: 100n,
  }).finish();
  const headers = { "dai-cache-control": "no-cache" };
  const points: Point[] = [];
  const rows: Row[] = [];
  let direct: LoadResult | undefined;
  const coldFailures: { n: number; variant: string; attempt: number; error: string; upstream: string }[] = [];

  for (const n of ns) {
    const ex = await startExecutors({
      executors: Math.max(2, n),
      trainingTasks: Math.max(24, n),
      overlap: 0.02,
      latencyMs: LATENCY_MS,
    });
    try {
      if (!direct) {
        // Baseline: one Executor called directly, same latency knob, same load shape.
        const e = ex.executors[0]!;
        const own = ListTaskRequest.encode({
          pubKey: Buffer.from(e.pubKey, "hex"),
          status: "",
          timeStart: 0n,
          timeEnd: INT64_MAX,
          limit: 100n,
        }).finish();
        await h2load({ target: e.address, path: PATH, message: own, clients: 1, streams: 1, requests: 5 });
        direct = await h2load({ target: e.address, path: PATH, message: own, clients: 1, streams: 1, requests });
      }
      const variants: { name: string; concurrency: number }[] = [
        { name: `default (concurrency ${DEFAULT_CONCURRENCY})`, concurrency: DEFAULT_CONCURRENCY },
      ];
      if (n > DEFAULT_CONCURRENCY) variants.push({ name: "concurrency = N", concurrency: n });
      for (const v of variants) {
        const seeds = ex.executors.slice(0, n);
        const profile =
          opts.profileDir && n === 100 && v.concurrency === DEFAULT_CONCURRENCY
            ? { dir: opts.profileDir, name: `s2-fanout-n${n}` }
            : undefined;
        const gw = await startGatewayProc(seeds, { executors: { concurrency: v.concurrency } }, profile);
        try {
          await measure(v);
        } catch (err) {
          // One N failing must not lose the others: record it, with the gateway's reason.
          const reason = lastFailure(gw.worker.logFile);
          opts.log(
            `s2: N=${n} ${v.name} FAILED: ${String(err)}; last upstream failure: ${reason}; log ${gw.worker.logFile}`,
          );
          rows.push(
            row({
              scenario: "2 uncached fan-out",
              measure: `p50 ÷ L (L = ${LATENCY_MS} ms), N = ${n}, ${v.name}`,
              gateway: `FAILED: ${String(err).slice(0, 120)}; upstream: ${reason.slice(0, 120)}`,
              baseline: `L = ${LATENCY_MS} ms`,
              ratio: NaN,
              target: TARGETS[n],
            }),
          );
        } finally {
          await gw.worker.stop();
        }
        async function measure(v: { name: string; concurrency: number }): Promise<void> {
          // The first fan-out of a cold gateway also opens N channels; at large N that can
          // fail on its own. Record it, then measure the warm gateway.
          let probe;
          for (let attempt = 1; ; attempt++) {
            try {
              probe = await callRaw(gw.address, PATH, Buffer.from(message), headers);
              break;
            } catch (err) {
              const reason = lastFailure(gw.worker.logFile);
              coldFailures.push({ n, variant: v.name, attempt, error: String(err), upstream: reason });
              opts.log(`s2: N=${n} ${v.name}: cold call ${attempt} failed: ${String(err)}; upstream: ${reason}`);
              if (attempt >= 3) throw err;
            }
          }
          // Warm up: channels to every Executor connected, JIT warm.
          await h2load({ target: gw.address, path: PATH, message, headers, clients: 1, streams: 1, requests: 5 });
          const cpu0 = cpuMs(gw.worker.pid);
          const res = await h2load({
            target: gw.address,
            path: PATH,
            message,
            headers,
            clients: 1,
            streams: 1,
            requests,
          });
          const cpu = cpuMs(gw.worker.pid) - cpu0;
          const p: Point = {
            n,
            variant: v.name,
            concurrency: v.concurrency,
            latencyMs: res.latencyMs,
            cpuMsPerRequest: cpu / res.succeeded,
            asked: probe.trailers["dai-executors-asked"] ?? "?",
            answered: probe.trailers["dai-executors-answered"] ?? "?",
          };
          points.push(p);
          opts.log(
            `s2: N=${n} ${v.name}: p50 ${round(res.latencyMs.p50)} ms, cpu ${round(p.cpuMsPerRequest)} ms/req, asked ${p.asked} answered ${p.answered}`,
          );
          rows.push(
            row({
              scenario: "2 uncached fan-out",
              measure: `p50 ÷ L (L = ${LATENCY_MS} ms), N = ${n}, ${v.name}`,
              gateway: `p50 ${round(res.latencyMs.p50)} ms, p90 ${round(res.latencyMs.p90)}, p99 ${round(res.latencyMs.p99)}; CPU ${round(p.cpuMsPerRequest)} ms/req`,
              baseline: `L = ${LATENCY_MS} ms (one Executor direct: p50 ${round(direct?.latencyMs.p50 ?? NaN)} ms)`,
              ratio: res.latencyMs.p50 / LATENCY_MS,
              target: TARGETS[n],
              note: `${p.answered}/${p.asked} answered`,
            }),
          );
        }
      }
    } finally {
      await ex.worker.stop();
    }
  }

  const defaults = points.filter((p) => p.concurrency === DEFAULT_CONCURRENCY);
  // Up to 64 Executors the default is already "concurrency >= N".
  const raised = points.filter((p) => p.concurrency >= p.n);
  const latencySvg = lineChart(
    [
      { name: "p50, concurrency 64", points: defaults.map((p) => [p.n, p.latencyMs.p50]) },
      { name: "p99, concurrency 64", points: defaults.map((p) => [p.n, p.latencyMs.p99]) },
      { name: "p50, concurrency ≥ N", points: raised.map((p) => [p.n, p.latencyMs.p50]) },
    ],
    {
      title: `Uncached ListTask latency vs N Executors (L = ${LATENCY_MS} ms)`,
      xLabel: "Executors (N, log scale)",
      yLabel: "latency (ms)",
      logX: true,
      refs: [
        { y: LATENCY_MS, label: "L" },
        { y: LATENCY_MS * 1.25, label: "1.25 L" },
        { y: LATENCY_MS * 1.5, label: "1.5 L" },
      ],
    },
  );
  const cpuSvg = lineChart(
    [
      { name: "concurrency 64", points: defaults.map((p) => [p.n, p.cpuMsPerRequest]) },
      { name: "concurrency ≥ N", points: raised.map((p) => [p.n, p.cpuMsPerRequest]) },
    ],
    {
      title: "Gateway CPU time per uncached ListTask vs N",
      xLabel: "Executors (N, log scale)",
      yLabel: "CPU ms per request",
      logX: true,
    },
  );
  const perExec = points
    .filter((p) => p.n >= 10 && p.concurrency === DEFAULT_CONCURRENCY)
    .map((p) => `N=${p.n}: ${round((p.cpuMsPerRequest * 1000) / p.n, 0)} µs`);
  return {
    id: "s2",
    title: "2. Uncached fan-out",
    rows,
    data: { latencyMs: LATENCY_MS, requests, direct, points, coldFailures },
    charts: [
      { file: `${date}-fanout-latency.svg`, title: "latency vs N", svg: latencySvg },
      { file: `${date}-fanout-cpu.svg`, title: "gateway CPU per request vs N", svg: cpuSvg },
    ],
    notes: [
      `Cluster-wide ListTask (limit 100) with \`dai-cache-control: no-cache\`, one request at a time (h2load -c1 -m1), ${requests} requests after 5 warm-up; every Executor sleeps ${LATENCY_MS} ms per call.`,
      `Executors run in one separate process, the gateway in another (its CPU read from /proc/<pid>/stat, 10 ms ticks); on a ${os.availableParallelism()}-CPU machine they still share cores.`,
      `Gateway CPU per Executor answer: ${perExec.join(", ")}.`,
      ...coldFailures.map(
        (f) =>
          `Cold start: N = ${f.n}, ${f.variant}: the gateway's call ${f.attempt} failed (${f.error.slice(0, 80)}; upstream: ${f.upstream.slice(0, 120)}) — opening ${f.n} channels at once; later calls were measured.`,
      ),
      `With the default \`executors.concurrency\` = ${DEFAULT_CONCURRENCY}, N > 64 Executors are asked in waves of 64, so p50 ≥ ⌈N/64⌉ × L by design.`,
    ],
  };
}
