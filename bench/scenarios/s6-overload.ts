/**
 * Scenario 6 (issue 14): overload. Cached ListTask (the cluster-wide view over 20
 * Executors, 100 tasks) measured three ways in one run: unloaded (one stream), at
 * closed-loop saturation, and at 2× the saturation rate offered open-loop (h2load
 * --rps) from 8 connections and again from 64, each divided by the mean of the
 * closed-loop saturations measured just before and after it; then the same 2× with no-cache calls
 * (every call a fan-out) to show that the gateway's own overload opens no Executor's
 * circuit. Targets (issue 14, item 3): at 2× offered, goodput ≥ 0.9 × saturation, p99
 * of admitted calls ≤ 3 × unloaded p99, refusals answered within 50 ms at p99.
 *
 * h2load cannot read grpc-status per request, so a probe client (grpc-js, one connection
 * of its own, in a process of its own: bench/workers/probe.ts) calls alongside the load,
 * 50 calls a second with the same 2 s deadline, and records each call's status and
 * latency as a client sees it: the p99 of admitted and of refused calls come from those
 * samples. The probe's flow-control windows hold a few replies (4 MiB, as h2load's and a
 * grpc-go client's grown windows do); with grpc-js's default 64 KiB each 75 KB reply
 * needed WINDOW_UPDATE round trips through the loaded gateway and the probe's own
 * connection, not the gateway, was its bottleneck. The gateway's own per-code counts
 * (its pipeline) give refusals.
 */
import os from "node:os";
import { status as Status } from "@grpc/grpc-js";
import { ListTaskRequest } from "../../src/gen/task/task";
import { INTAKE_SLICE_CALLS } from "../../src/transport/server";
import { Worker } from "../lib/child";
import { callRaw } from "../lib/grpc-raw";
import { h2load, type LoadResult } from "../lib/h2load";
import { machineTicks, sampleRss } from "../lib/procfs";
import { row, type ScenarioResult } from "../lib/report";
import { startExecutors, startGatewayProc, type BenchOptions } from "../lib/setup";
import { round, summarize, type LatencySummary } from "../lib/stats";

const PATH = "/task.Task/ListTask";
const INT64_MAX = 9_223_372_036_854_775_807n;

interface Served {
  byCode: Record<string, LatencySummary>;
  circuits: string[];
  membership?: { members: number; candidates: number; departed: number };
  refusals?: Record<string, number>;
  lag?: LatencySummary;
  /** Streams each connection may open (api.queueTargetMs): the least sampled in the phase, and at its end. */
  streams?: { min: number; last: number };
  gc?: LatencySummary & { totalMs: number; heapUsedMiB: number; externalMiB: number };
  /** The gateway's CPU over the phase (1 = one CPU), its loop's utilization, the most connections held at once. */
  cpu?: { share: number; loopUtilization: number; wallMs: number; heldMost: number };
  /** CPUs of the machine busy over the phase (the gateway, the load generator, the probe, the Executors). */
  machineBusyCpus?: number;
}

interface ProbeResult {
  ok: LatencySummary;
  refused: LatencySummary;
  other: number;
  others: Record<string, number>;
}

/** Calls at `perSec` for `sec` seconds on one connection, from the probe's own process; each call's latency by outcome. */
async function probe(
  worker: Worker,
  address: string,
  message: Uint8Array,
  sec: number,
  perSec: number,
  noCache = false,
): Promise<ProbeResult> {
  const r = await worker.request<{ type: string; ok: number[]; refused: number[]; others: Record<string, number> }>(
    {
      type: "probe",
      address,
      path: PATH,
      message: Buffer.from(message).toString("base64"),
      sec,
      perSec,
      deadlineMs: 2000,
      headers: noCache ? { "dai-cache-control": "no-cache" } : {},
    },
    (sec + 30) * 1000,
  );
  const other = Object.values(r.others).reduce((a, b) => a + b, 0);
  return { ok: summarize(r.ok), refused: summarize(r.refused), other, others: r.others };
}

function count(s: Served, code: Status): number {
  return s.byCode[String(code)]?.count ?? 0;
}

export async function overload(opts: BenchOptions): Promise<ScenarioResult> {
  const durationSec = opts.quick ? 4 : 10;
  const ex = await startExecutors({ executors: 20, trainingTasks: 120, overlap: 0.2 });
  // S6_PER_CONNECTION=n sets api.maxConcurrentCallsPerConnection (HTTP/2
  // max_concurrent_streams is twice it): a stream the client may not open costs the
  // gateway nothing, where a refused call costs about what a cache hit does in grpc-js.
  const perConnection = process.env.S6_PER_CONNECTION ? Number(process.env.S6_PER_CONNECTION) : undefined;
  // S6_STREAMS=n sets api.maxStreamsPerConnection.
  const streamsPerConnection = process.env.S6_STREAMS ? Number(process.env.S6_STREAMS) : undefined;
  // S6_QUEUE_TARGET=ms sets api.queueTargetMs (0: the streams per connection stay fixed).
  const queueTarget = process.env.S6_QUEUE_TARGET ? Number(process.env.S6_QUEUE_TARGET) : undefined;
  const api = {
    ...(perConnection ? { maxConcurrentCallsPerConnection: perConnection } : {}),
    ...(streamsPerConnection ? { maxStreamsPerConnection: streamsPerConnection } : {}),
    ...(queueTarget !== undefined ? { queueTargetMs: queueTarget } : {}),
  };
  // S6_HEAP_GROWING=n sets runtime.heapGrowingPercent (0: V8's own).
  const heapGrowing = process.env.S6_HEAP_GROWING ? Number(process.env.S6_HEAP_GROWING) : undefined;
  // S6_LIST_TTL=ms sets cache.listTtlMs: a TTL longer than the run means no background
  // refresh (a fan-out and its reduce on the gateway's loop) during any phase.
  const listTtl = process.env.S6_LIST_TTL ? Number(process.env.S6_LIST_TTL) : undefined;
  const gw = await startGatewayProc(ex.executors, {
    executors: { callTimeoutMs: 1000 },
    ...(Object.keys(api).length ? { api } : {}),
    ...(heapGrowing !== undefined ? { runtime: { heapGrowingPercent: heapGrowing } } : {}),
    ...(listTtl !== undefined ? { cache: { listTtlMs: listTtl } } : {}),
  });
  const nproc = os.cpus().length;
  let machineAtMark = machineTicks();
  const served = async (): Promise<Served> => {
    const s = (await gw.worker.request<{ type: string } & Record<string, unknown>>({
      type: "served",
    })) as unknown as Served;
    const m = machineTicks();
    s.machineBusyCpus = ((m.busy - machineAtMark.busy) / (m.total - machineAtMark.total)) * nproc;
    return s;
  };
  const mark = async (): Promise<unknown> => {
    const r = await gw.worker.request({ type: "mark" });
    machineAtMark = machineTicks();
    return r;
  };
  const prober = Worker.start("probe");
  try {
    const message = ListTaskRequest.encode({
      pubKey: Buffer.alloc(0),
      status: "",
      timeStart: 0n,
      timeEnd: INT64_MAX,
      limit: 100n,
    }).finish();
    await callRaw(gw.address, PATH, Buffer.from(message));
    const first = await callRaw(gw.address, PATH, Buffer.from(message));
    const expectReplyBytes = first.body.length;
    const cacheState = first.trailers["dai-cache"] ?? "none";
    // A 2 s deadline on every call: what a client that needs its answer in time sends.
    const headers = { "grpc-timeout": "2000m" };
    const good = (r: LoadResult): number => r.okPerSec;

    // As long as the loaded phases' probes: their p99s are then the same order statistic (the 5th worst of 500).
    const unloadedProbe = await probe(prober, gw.address, message, durationSec, 50);
    await mark();
    const unloaded = await h2load({
      target: gw.address,
      path: PATH,
      message,
      headers,
      clients: 1,
      streams: 1,
      durationSec: Math.min(durationSec, 4),
      warmupSec: 1,
      expectReplyBytes,
    });
    const unloadedServed = await served();

    const closedLoop = (): Promise<LoadResult> =>
      h2load({
        target: gw.address,
        path: PATH,
        message,
        headers,
        clients: 4,
        streams: 16,
        durationSec,
        warmupSec: 1,
        expectReplyBytes,
      });
    await mark();
    const sat = await closedLoop();
    const satServed = await served();
    // S6_RATE=n: the 2× phases offer 2n a second instead of twice this run's saturation,
    // so that two builds can be compared under the same offered load.
    const satRate = process.env.S6_RATE ? Number(process.env.S6_RATE) : sat.reqPerSec;

    const offered = Math.max(1, Math.round((2 * satRate) / 8));
    const rss = sampleRss(gw.worker.pid, 100);
    await mark();
    const overProbeP = probe(prober, gw.address, message, durationSec, 50);
    const over = await h2load({
      target: gw.address,
      path: PATH,
      message,
      headers,
      clients: 8,
      streams: 256,
      durationSec,
      warmupSec: 1,
      expectReplyBytes,
      rps: offered,
    });
    const overServed = await served();
    const overProbe = await overProbeP;

    // The closed loop again between the 2× phases and after them: this machine's speed
    // drifts (by up to half within one run), so each 2× phase is divided by the mean of
    // the saturations on either side of it rather than by one taken a minute apart.
    const satMid = await closedLoop();

    // The same 2× from many connections (64, each within the per-connection stream cap
    // when that is 8 or more): the cap cannot keep this flood at its clients, so the
    // gateway's own shedding has to bound the latency, and the probe meets refusals.
    const MANY = 64;
    const manyStreams = 8;
    await mark();
    const manyProbeP = probe(prober, gw.address, message, durationSec, 50);
    const many = await h2load({
      target: gw.address,
      path: PATH,
      message,
      headers,
      clients: MANY,
      streams: manyStreams,
      durationSec,
      warmupSec: 1,
      expectReplyBytes,
      rps: Math.max(1, Math.round((2 * satRate) / MANY)),
    });
    const manyServed = await served();
    const manyProbe = await manyProbeP;
    const satEnd = await closedLoop();

    // The same 2× with every call a fan-out to the 20 Executors.
    await mark();
    const fanProbeP = probe(prober, gw.address, message, Math.min(durationSec, 6), 50, true);
    const fan = await h2load({
      target: gw.address,
      path: PATH,
      message,
      headers: { ...headers, "dai-cache-control": "no-cache" },
      clients: 8,
      streams: 256,
      durationSec: Math.min(durationSec, 6),
      warmupSec: 1,
      expectReplyBytes,
      rps: offered,
    });
    const fanServed = await served();
    const fanProbe = await fanProbeP;
    const rssPeak = rss.peak();
    rss.stop();

    const unloadedP99 = unloadedProbe.ok.p99;
    const goodOver = good(over);
    const goodSat8 = (good(sat) + good(satMid)) / 2;
    const goodSat64 = (good(satMid) + good(satEnd)) / 2;
    const bracket = (a: LoadResult, b: LoadResult): string =>
      `mean of the closed loops before and after: ${Math.round(good(a))}, ${Math.round(good(b))}`;
    const open = (s: Served): number => s.circuits.filter((c) => c !== "closed").length;
    const rows = [
      row({
        scenario: "6 overload",
        measure: "goodput at 2× offered ÷ closed-loop saturation (cached ListTask, 2 s deadlines)",
        gateway: `${Math.round(goodOver)} OK/s of ${Math.round(offered * 8)} offered/s`,
        baseline: `${Math.round(goodSat8)} OK/s at saturation (${bracket(sat, satMid)})`,
        ratio: goodOver / goodSat8,
        target: ">= 0.9",
      }),
      row({
        scenario: "6 overload",
        measure: "p99 of admitted calls at 2× ÷ unloaded p99 (probe client)",
        gateway: `${round(overProbe.ok.p99)} ms over ${overProbe.ok.count} admitted (h2load p99 of all replies ${round(over.latencyMs.p99)} ms)`,
        baseline: `${round(unloadedP99)} ms unloaded`,
        ratio: overProbe.ok.p99 / unloadedP99,
        target: "<= 3",
      }),
      row({
        scenario: "6 overload",
        measure: "p99 of refusals at 2× (probe client), ms ÷ 50 ms",
        gateway: `${round(overProbe.refused.p99)} ms over ${overProbe.refused.count} refused (${overProbe.other} other errors)`,
        baseline: "50 ms",
        ratio: overProbe.refused.count > 0 ? overProbe.refused.p99 / 50 : 0,
        target: "<= 1",
      }),
      row({
        scenario: "6 overload",
        measure: `goodput at 2× offered from ${MANY} connections ÷ saturation`,
        gateway: `${Math.round(good(many))} OK/s of ${Math.round(2 * satRate)} offered/s`,
        baseline: `${Math.round(goodSat64)} OK/s at saturation (${bracket(satMid, satEnd)})`,
        ratio: good(many) / goodSat64,
        target: ">= 0.9",
      }),
      row({
        scenario: "6 overload",
        measure: `p99 of admitted calls at 2× from ${MANY} connections ÷ unloaded p99 (probe client)`,
        gateway: `${round(manyProbe.ok.p99)} ms over ${manyProbe.ok.count} admitted (h2load p99 of all replies ${round(many.latencyMs.p99)} ms)`,
        baseline: `${round(unloadedP99)} ms unloaded`,
        ratio: manyProbe.ok.p99 / unloadedP99,
        target: "<= 3",
      }),
      row({
        scenario: "6 overload",
        measure: `p99 of refusals at 2× from ${MANY} connections (probe client), ms ÷ 50 ms`,
        gateway: `${round(manyProbe.refused.p99)} ms over ${manyProbe.refused.count} refused (${manyProbe.other} other errors)`,
        baseline: "50 ms",
        ratio: manyProbe.refused.count > 0 ? manyProbe.refused.p99 / 50 : 0,
        target: "<= 1",
      }),
      row({
        scenario: "6 overload",
        measure: "open circuits after 2× no-cache fan-outs (20 healthy Executors)",
        gateway: `${open(fanServed)} of ${fanServed.circuits.length} open; members ${fanServed.membership?.members}, departed ${fanServed.membership?.departed}`,
        baseline: "0",
        ratio: open(fanServed),
        target: "<= 0",
      }),
    ];
    const notes = [
      perConnection
        ? `api.maxConcurrentCallsPerConnection = ${perConnection} (S6_PER_CONNECTION; HTTP/2 max_concurrent_streams ${2 * perConnection}).`
        : "Gateway configuration: defaults (but executors.callTimeoutMs 1000).",
      process.env.BENCH_FRAMED === "1"
        ? "Task API served by the framed prototype (BENCH_FRAMED=1, bench/lib/framed-server.ts: HTTP/2 framed in JavaScript, no node:http2)."
        : `Task API served by api.server ${process.env.BENCH_API_SERVER ?? "http2 (the default)"}.`,
      `api.queueTargetMs ${queueTarget ?? "default (5)"} (S6_QUEUE_TARGET), runtime.heapGrowingPercent ${heapGrowing ?? "default (50)"} (S6_HEAP_GROWING), cache.listTtlMs ${listTtl ?? "default (2000)"} (S6_LIST_TTL).`,
      `HTTP/2 streams per connection: ${streamsPerConnection ?? "api.maxStreamsPerConnection's default"} (S6_STREAMS); ` +
        `the own server starts calls through its fair intake (a connection's only open call first, then the others round robin, ${INTAKE_SLICE_CALLS} a turn); ` +
        "h2load's requested streams beyond it wait in h2load (its --rps queue), not in the gateway.",
      `Cached reply: ${expectReplyBytes} bytes (dai-cache: ${cacheState}); 20 simulated Executors in their own process; h2load in its own.`,
      ...(process.env.S6_RATE ? [`Offered load fixed by S6_RATE: 2 × ${satRate} a second.`] : []),
      `Unloaded: 1 stream, ${round(unloaded.reqPerSec)} req/s, client p99 ${round(unloaded.latencyMs.p99)} ms. ` +
        `Saturation: 4×16 streams closed-loop, ${Math.round(sat.reqPerSec)} req/s (again between the 2× phases ${Math.round(satMid.reqPerSec)}, after them ${Math.round(satEnd.reqPerSec)}), client p99 ${round(sat.latencyMs.p99)} ms, ` +
        `gateway-side OK p99 ${round(satServed.byCode[String(Status.OK)]?.p99 ?? NaN)} ms, refused ${count(satServed, Status.RESOURCE_EXHAUSTED)}.`,
      `2× offered: 8 clients × ${offered} req/s (h2load --rps), up to 256 streams each; OK ${count(overServed, Status.OK)}, ` +
        `RESOURCE_EXHAUSTED ${count(overServed, Status.RESOURCE_EXHAUSTED)}, DEADLINE_EXCEEDED ${count(overServed, Status.DEADLINE_EXCEEDED)}; ` +
        `h2load: ${over.succeeded} HTTP-OK (${over.shortReplies} of them gRPC errors), ${over.failed} failed.`,
      `2× from ${MANY} connections: ${MANY} clients × up to ${manyStreams} streams, ${Math.round((2 * satRate) / MANY)} req/s each; OK ${count(manyServed, Status.OK)}, ` +
        `RESOURCE_EXHAUSTED ${count(manyServed, Status.RESOURCE_EXHAUSTED)} (${JSON.stringify(manyServed.refusals ?? {})}); ` +
        `probe OK ${manyProbe.ok.count} (p50 ${round(manyProbe.ok.p50)} ms), refused ${manyProbe.refused.count} (p50 ${round(manyProbe.refused.p50)} ms), other ${JSON.stringify(manyProbe.others)}; ` +
        `event-loop lag p50/p99 ${round(manyServed.lag?.p50 ?? NaN)}/${round(manyServed.lag?.p99 ?? NaN)} ms.`,
      `Streams each connection may open (api.queueTargetMs, sampled every 100 ms; least/at the end): saturation ${streamsLine(satServed)}, ` +
        `2× ${streamsLine(overServed)}, 2× from ${MANY} connections ${streamsLine(manyServed)}, 2× no-cache ${streamsLine(fanServed)}.`,
      `CPU (the gateway's share of one CPU, its loop's utilization; the machine's ${nproc} CPUs busy) and the most connections held at once: ` +
        `saturation ${cpuLine(satServed)}; 2× ${cpuLine(overServed)}; 2× from ${MANY} connections ${cpuLine(manyServed)}; 2× no-cache ${cpuLine(fanServed)}. ` +
        "The gateway's JavaScript runs on one thread (a share over 1 is V8's GC helpers); the rest of the machine is the load generator, the probe and the Executors.",
      `Gateway GC pauses (PerformanceObserver "gc"): at 2× ${gcLine(overServed, durationSec)}; from ${MANY} connections ${gcLine(manyServed, durationSec)}.`,
      `2× no-cache: OK ${count(fanServed, Status.OK)}, RESOURCE_EXHAUSTED ${count(fanServed, Status.RESOURCE_EXHAUSTED)}, ` +
        `goodput ${Math.round(good(fan))} OK/s; circuits ${JSON.stringify(countBy(fanServed.circuits))}.`,
      `Probe (50 calls/s, own connection): unloaded OK p50/p99 ${round(unloadedProbe.ok.p50)}/${round(unloadedProbe.ok.p99)} ms; ` +
        `at 2× OK ${overProbe.ok.count} (p50 ${round(overProbe.ok.p50)} ms), refused ${overProbe.refused.count} (p50 ${round(overProbe.refused.p50)} ms), other ${overProbe.other}; ` +
        `no-cache 2× OK ${fanProbe.ok.count} (p99 ${round(fanProbe.ok.p99)} ms), refused ${fanProbe.refused.count} (p99 ${round(fanProbe.refused.p99)} ms), other ${JSON.stringify(fanProbe.others)}.`,
      `Gateway-side (pipeline) p99 of OK calls: unloaded ${round(unloadedServed.byCode[String(Status.OK)]?.p99 ?? NaN)} ms, at 2× ${round(overServed.byCode[String(Status.OK)]?.p99 ?? NaN)} ms: the handler is fast; the rest is waiting before it runs.`,
      `Event-loop lag (the gateway's, sampled every 100 ms) p50/p99: saturation ${round(satServed.lag?.p50 ?? NaN)}/${round(satServed.lag?.p99 ?? NaN)} ms, ` +
        `2× ${round(overServed.lag?.p50 ?? NaN)}/${round(overServed.lag?.p99 ?? NaN)} ms, 2× no-cache ${round(fanServed.lag?.p50 ?? NaN)}/${round(fanServed.lag?.p99 ?? NaN)} ms; ` +
        `refusals by reason at 2× ${JSON.stringify(overServed.refusals ?? {})}, no-cache ${JSON.stringify(fanServed.refusals ?? {})}.`,
      `Gateway resident memory peak during the 2× phases: ${Math.round(rssPeak)} MiB.`,
    ];
    return {
      id: "s6",
      title: "6. Overload: load shedding, goodput, circuits",
      rows,
      data: {
        unloaded,
        unloadedServed,
        sat,
        satServed,
        satMid,
        satEnd,
        offeredPerClient: offered,
        over,
        overServed,
        many,
        manyServed,
        fan,
        fanServed,
        rssPeak,
      },
      charts: [],
      notes,
    };
  } finally {
    await Promise.all([gw.worker.stop(), ex.worker.stop(), prober.stop()]);
  }
}

/** A phase's GC pauses: how many, their share of the phase's wall time, the longest. */
function gcLine(s: Served, sec: number): string {
  const gc = s.gc;
  if (!gc || gc.count === 0) return "none";
  return (
    `${gc.count} pauses, ${round(gc.totalMs)} ms (${round((100 * gc.totalMs) / (sec * 1000), 1)} % of the phase), ` +
    `p99 ${round(gc.p99)} ms, longest ${round(gc.max)} ms; heap used ${round(gc.heapUsedMiB, 0)} MiB, external ${round(gc.externalMiB, 0)} MiB at its end`
  );
}

/** A phase's CPU: the gateway's share and its CPU time per call served (any code), the machine's busy CPUs, the most connections held. */
function cpuLine(s: Served): string {
  if (!s.cpu) return "n/a";
  const calls = Object.values(s.byCode).reduce((n, c) => n + c.count, 0);
  const perCallUs = (s.cpu.share * s.cpu.wallMs * 1000) / calls;
  return (
    `${round(s.cpu.share, 2)} CPU (loop ${round(s.cpu.loopUtilization, 2)}, ${Math.round(perCallUs)} µs a call), ` +
    `machine ${round(s.machineBusyCpus ?? NaN, 2)}, held ${s.cpu.heldMost}`
  );
}

function streamsLine(s: Served): string {
  return s.streams ? `${s.streams.min}/${s.streams.last}` : "n/a";
}

function countBy(xs: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}
