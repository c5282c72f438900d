/** The gateway under test, alone in its process so its CPU time and memory can be read from /proc. */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { PerformanceObserver } from "node:perf_hooks";
import { addTaskMethods, taskServerOptions } from "../../src/api/task-server-http2";
import { taskReadHandlers } from "../../src/api/task-service";
import { defaultDeadlines } from "../../src/config/deadlines";
import { parseConfig } from "../../src/config/load";
import { startGateway, type RunningGateway } from "../../src/gateway";
import { LoopMonitor } from "../../src/core/loop-monitor";
import { createLogger } from "../../src/log";
import { FramedGrpcServer } from "../lib/framed-server";
import { summarize } from "../lib/stats";
import { serveIpc } from "./ipc";

let gw: RunningGateway | undefined;
/** BENCH_FRAMED=1: the Task API (ListTask, GetTaskById, streamed GetPredictResult) on the framed prototype, in front of this gateway. */
let framed: FramedGrpcServer | undefined;
let session: Session | undefined;

function post(method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) =>
    session!.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res as Record<string, unknown>))),
  );
}
/**
 * Served calls since the last "mark" (scenario 6): status code and duration, ms, kept in
 * preallocated typed arrays: an object per call, held for the phase, was 5 % of what the
 * gateway promoted to old space under load (the bench's garbage, not the gateway's).
 */
const MAX_SERVED = 2_000_000;
const servedCode = new Uint8Array(MAX_SERVED);
const servedMs = new Float64Array(MAX_SERVED);
let servedCount = 0;
/** Admission refusals since the last "mark", by why; the loop's lag sampled every 100 ms. */
let refusedBy: Record<string, number> = {};
let lagSamples: number[] = [];
/** The streams each connection may open (api.queueTargetMs), sampled with the lag; the most connections held at once. */
let streamSamples: number[] = [];
let heldMost = 0;
const loop = new LoopMonitor();
setInterval(() => {
  if (lagSamples.length < 100_000) lagSamples.push(loop.lagMs());
  void apiGauge("dai_gateway_streams_per_connection").then(
    (n) => n !== undefined && streamSamples.length < 100_000 && streamSamples.push(n),
  );
  void apiGauge("dai_gateway_held_connections").then((n) => n !== undefined && (heldMost = Math.max(heldMost, n)));
}, 100).unref();
async function apiGauge(name: string): Promise<number | undefined> {
  const m = gw?.metrics.registry.getSingleMetric(name);
  const v = m ? (await m.get()).values.find((x) => x.labels.listener === "api") : undefined;
  return v?.value;
}
/** The gateway's CPU time and event-loop utilization counters at the last "mark": its share of the machine per phase. */
let cpuAtMark = process.cpuUsage();
let eluAtMark = performance.eventLoopUtilization();
let markedAt = performance.now();
/** The gateway's GC pauses since the last "mark", ms (scenario 6: what the tail latency is made of). */
let gcPauses: number[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (gcPauses.length < 1_000_000) gcPauses.push(e.duration);
}).observe({ entryTypes: ["gc"] });

serveIpc(
  {
    async start(msg) {
      const config = parseConfig(msg.config as Record<string, unknown>);
      gw = await startGateway(config, createLogger(config.log.level));
      gw.pipeline.served.subscribe((e) => {
        if (servedCount < MAX_SERVED) {
          servedCode[servedCount] = e.code;
          servedMs[servedCount++] = e.durationMs;
        }
      });
      gw.admission.refusals.subscribe((why) => (refusedBy[why] = (refusedBy[why] ?? 0) + 1));
      if (process.env.BENCH_FRAMED === "1") {
        const api = config.api;
        framed = new FramedGrpcServer(
          taskServerOptions(gw.pipeline, {
            maxRequestBytes: api.maxRequestBytes,
            maxConcurrentStreams: Math.min(api.maxStreamsPerConnection, api.maxConcurrentCallsPerConnection * 2),
            fallback: "",
            admission: gw.admission,
            ...defaultDeadlines(config),
          }),
        );
        const options = { ...api, predictWriteTimeoutMs: config.predict.writeTimeoutMs, generation: api.generation };
        const predict = gw.predictions.canStream
          ? { service: gw.predictions, stallMs: config.predict.writeTimeoutMs }
          : undefined;
        addTaskMethods(framed, gw.pipeline, taskReadHandlers(gw.reader, options, gw.cache), { predict });
        return { grpcPort: await framed.listen("127.0.0.1", 0), httpPort: gw.httpPort };
      }
      return { grpcPort: gw.grpcPort, httpPort: gw.httpPort };
    },
    /** Starts a new window of served calls. */
    async mark() {
      servedCount = 0;
      refusedBy = {};
      lagSamples = [];
      streamSamples = [];
      heldMost = 0;
      gcPauses = [];
      cpuAtMark = process.cpuUsage();
      eluAtMark = performance.eventLoopUtilization();
      markedAt = performance.now();
      return {};
    },
    /** The served calls of the window, and every Executor's circuit and membership. */
    async served() {
      const count = servedCount;
      servedCount = 0;
      const refusals = refusedBy;
      refusedBy = {};
      const lag = summarize(lagSamples);
      lagSamples = [];
      const streams = streamSamples.length
        ? { min: streamSamples.reduce((a, b) => Math.min(a, b)), last: streamSamples[streamSamples.length - 1] }
        : undefined;
      streamSamples = [];
      const cpuUsed = process.cpuUsage(cpuAtMark);
      const wallMs = performance.now() - markedAt;
      const cpu = {
        /** CPU time over wall time since the mark: 1 is one CPU all the time. */
        share: (cpuUsed.user + cpuUsed.system) / 1000 / wallMs,
        loopUtilization: performance.eventLoopUtilization(eluAtMark).utilization,
        wallMs,
        heldMost,
      };
      const mem = process.memoryUsage();
      const gc = {
        ...summarize(gcPauses),
        totalMs: gcPauses.reduce((a, b) => a + b, 0),
        heapUsedMiB: mem.heapUsed / 2 ** 20,
        externalMiB: mem.external / 2 ** 20,
      };
      gcPauses = [];
      const byCode: Record<string, number[]> = {};
      for (let i = 0; i < count; i++) (byCode[String(servedCode[i])] ??= []).push(servedMs[i]!);
      return {
        byCode: Object.fromEntries(Object.entries(byCode).map(([code, ms]) => [code, summarize(ms)])),
        circuits: gw?.health.snapshot(gw.registry.addresses()).map((c) => c.state) ?? [],
        membership: gw?.registry.counts(),
        refusals,
        lag,
        streams,
        cpu,
        gc,
      };
    },
    async gc() {
      (globalThis as { gc?: () => void }).gc?.();
      return {};
    },
    /** Starts the V8 sampling profiler: a profile of exactly the measured window. */
    async profileStart(msg) {
      session = new Session();
      session.connect();
      await post("Profiler.enable");
      await post("Profiler.setSamplingInterval", { interval: Number(msg.intervalUs ?? 250) });
      await post("Profiler.start");
      return {};
    },
    /**
     * Starts V8's sampling heap profiler, keeping samples of objects a scavenge did not
     * collect (promoted, then dropped by a mark-compact): where old-space garbage comes
     * from; with `all`, those scavenges collected too (every allocation).
     */
    async heapSampleStart(msg) {
      session = new Session();
      session.connect();
      await post("HeapProfiler.enable");
      await post("HeapProfiler.startSampling", {
        samplingInterval: Number(msg.intervalBytes ?? 32768),
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: msg.all === true,
      });
      return {};
    },
    async heapSampleStop(msg) {
      const { profile } = await post("HeapProfiler.stopSampling");
      writeFileSync(String(msg.file), JSON.stringify(profile));
      session!.disconnect();
      session = undefined;
      return {};
    },
    async profileStop(msg) {
      const { profile } = await post("Profiler.stop");
      writeFileSync(String(msg.file), JSON.stringify(profile));
      session!.disconnect();
      session = undefined;
      return {};
    },
  },
  async () => {
    await framed?.close();
    await gw?.stop();
  },
);
