/**
 * Scenario 6 (issue 14): overload. Cached ListTask (the cluster-wide view over 20
 * Executors, 100 tasks) measured three ways in one run: unloaded (one stream), at
 * closed-loop saturation, and at 2× the saturation rate offered open-loop (h2load
 * --rps); then the same 2× with no-cache calls (every call a fan-out) to show that the
 * gateway's own overload opens no Executor's circuit. Targets (issue 14, item 3): at
 * 2× offered, goodput ≥ 0.9 × saturation, p99 of admitted calls ≤ 3 × unloaded p99,
 * refusals answered within 50 ms at p99.
 *
 * Latencies of admitted and refused calls are the gateway's own (pipeline, from the
 * handler's start: h2load cannot read grpc-status per request); h2load's p99 over all
 * replies, as the client saw them, is reported next to them.
 */
import { ListTaskRequest } from "../../src/gen/task/task";
import { status as Status } from "@grpc/grpc-js";
import { callRaw } from "../lib/grpc-raw";
import { h2load, type LoadResult } from "../lib/h2load";
import { sampleRss } from "../lib/procfs";
import { row, type ScenarioResult } from "../lib/report";
import { startExecutors, startGatewayProc, type BenchOptions } from "../lib/setup";
import { round, type LatencySummary } from "../lib/stats";

const PATH = "/task.Task/ListTask";
const INT64_MAX = 9_223_372_036_854_775_807n;

interface Served {
  byCode: Record<string, LatencySummary>;
  circuits: string[];
  membership?: { members: number; candidates: number; departed: number };
}

function count(s: Served, code: Status): number {
  return s.byCode[String(code)]?.count ?? 0;
}

export async function overload(opts: BenchOptions): Promise<ScenarioResult> {
  const durationSec = opts.quick ? 4 : 10;
  const ex = await startExecutors({ executors: 20, trainingTasks: 120, overlap: 0.2 });
  const gw = await startGatewayProc(ex.executors, { executors: { callTimeoutMs: 1000 } });
  const served = async (): Promise<Served> =>
    (await gw.worker.request<{ type: string } & Record<string, unknown>>({ type: "served" })) as unknown as Served;
  const mark = (): Promise<unknown> => gw.worker.request({ type: "mark" });
  try {
    const message = ListTaskRequest.encode({
      pubKey: Buffer.alloc(0),
      status: "",
      timeStart: 0n,
      timeEnd: INT64_MAX,
      limit: 100n,
    }).finish();
    await callRaw(gw.address, PATH, Buffer.from(message));
    const probe = await callRaw(gw.address, PATH, Buffer.from(message));
    const expectReplyBytes = probe.body.length;
    const cacheState = probe.trailers["dai-cache"] ?? "none";
    // A 2 s deadline on every call: what a client that needs its answer in time sends.
    const headers = { "grpc-timeout": "2000m" };
    const good = (r: LoadResult): number => (r.succeeded - r.shortReplies) / r.wallSec;

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

    await mark();
    const sat = await h2load({
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
    const satServed = await served();
    const satRate = sat.reqPerSec;

    const offered = Math.max(1, Math.round((2 * satRate) / 8));
    const rss = sampleRss(gw.worker.pid, 100);
    await mark();
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

    // The same 2× with every call a fan-out to the 20 Executors.
    await mark();
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
    const rssPeak = rss.peak();
    rss.stop();

    const okOver = overServed.byCode[String(Status.OK)];
    const refusedOver = overServed.byCode[String(Status.RESOURCE_EXHAUSTED)];
    const unloadedP99 = unloadedServed.byCode[String(Status.OK)]?.p99 ?? unloaded.latencyMs.p99;
    const goodOver = good(over);
    const goodSat = good(sat);
    const open = (s: Served): number => s.circuits.filter((c) => c !== "closed").length;
    const rows = [
      row({
        scenario: "6 overload",
        measure: "goodput at 2× offered ÷ closed-loop saturation (cached ListTask, 2 s deadlines)",
        gateway: `${Math.round(goodOver)} OK/s of ${Math.round(offered * 8)} offered/s`,
        baseline: `${Math.round(goodSat)} OK/s at saturation (${Math.round(satRate)} req/s)`,
        ratio: goodOver / goodSat,
        target: ">= 0.9",
      }),
      row({
        scenario: "6 overload",
        measure: "p99 of admitted calls at 2× ÷ unloaded p99 (gateway-side)",
        gateway: `${round(okOver?.p99 ?? NaN)} ms (client-side p99 of all replies ${round(over.latencyMs.p99)} ms)`,
        baseline: `${round(unloadedP99)} ms unloaded`,
        ratio: (okOver?.p99 ?? NaN) / unloadedP99,
        target: "<= 3",
      }),
      row({
        scenario: "6 overload",
        measure: "p99 of refusals at 2×, ms ÷ 50 ms",
        gateway: `${round(refusedOver?.p99 ?? 0)} ms over ${refusedOver?.count ?? 0} refusals`,
        baseline: "50 ms",
        ratio: (refusedOver?.p99 ?? 0) / 50,
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
      `Cached reply: ${expectReplyBytes} bytes (dai-cache: ${cacheState}); 20 simulated Executors in their own process; h2load in its own.`,
      `Unloaded: 1 stream, ${round(unloaded.reqPerSec)} req/s, client p99 ${round(unloaded.latencyMs.p99)} ms. ` +
        `Saturation: 4×16 streams closed-loop, ${Math.round(satRate)} req/s, client p99 ${round(sat.latencyMs.p99)} ms, ` +
        `gateway-side OK p99 ${round(satServed.byCode[String(Status.OK)]?.p99 ?? NaN)} ms, refused ${count(satServed, Status.RESOURCE_EXHAUSTED)}.`,
      `2× offered: 8 clients × ${offered} req/s (h2load --rps), up to 256 streams each; OK ${count(overServed, Status.OK)}, ` +
        `RESOURCE_EXHAUSTED ${count(overServed, Status.RESOURCE_EXHAUSTED)}, DEADLINE_EXCEEDED ${count(overServed, Status.DEADLINE_EXCEEDED)}; ` +
        `h2load: ${over.succeeded} HTTP-OK (${over.shortReplies} of them gRPC errors), ${over.failed} failed.`,
      `2× no-cache: OK ${count(fanServed, Status.OK)}, RESOURCE_EXHAUSTED ${count(fanServed, Status.RESOURCE_EXHAUSTED)}, ` +
        `goodput ${Math.round(good(fan))} OK/s; circuits ${JSON.stringify(countBy(fanServed.circuits))}.`,
      `Gateway resident memory peak during the 2× phases: ${Math.round(rssPeak)} MiB.`,
      `Latencies "gateway-side" run from the handler's start; time a request waits in the kernel and HTTP/2 before the handler runs is in the client-side figure only.`,
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
        offeredPerClient: offered,
        over,
        overServed,
        fan,
        fanServed,
        rssPeak,
      },
      charts: [],
      notes,
    };
  } finally {
    await Promise.all([gw.worker.stop(), ex.worker.stop()]);
  }
}

function countBy(xs: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}
