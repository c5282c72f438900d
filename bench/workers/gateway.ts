/** The gateway under test, alone in its process so its CPU time and memory can be read from /proc. */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { PerformanceObserver } from "node:perf_hooks";
import { parseConfig } from "../../src/config/load";
import { startGateway, type RunningGateway } from "../../src/gateway";
import { LoopMonitor } from "../../src/core/loop-monitor";
import { createLogger } from "../../src/log";
import { summarize } from "../lib/stats";
import { serveIpc } from "./ipc";

let gw: RunningGateway | undefined;
let session: Session | undefined;

function post(method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) =>
    session!.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res as Record<string, unknown>))),
  );
}
/** Served calls since the last "mark" (scenario 6): status code and duration, ms. */
let served: { code: number; ms: number }[] = [];
/** Admission refusals since the last "mark", by why; the loop's lag sampled every 100 ms. */
let refusedBy: Record<string, number> = {};
let lagSamples: number[] = [];
const loop = new LoopMonitor();
setInterval(() => lagSamples.length < 100_000 && lagSamples.push(loop.lagMs()), 100).unref();
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
        if (served.length < 2_000_000) served.push({ code: e.code, ms: e.durationMs });
      });
      gw.admission.refusals.subscribe((why) => (refusedBy[why] = (refusedBy[why] ?? 0) + 1));
      return { grpcPort: gw.grpcPort, httpPort: gw.httpPort };
    },
    /** Starts a new window of served calls. */
    async mark() {
      served = [];
      refusedBy = {};
      lagSamples = [];
      gcPauses = [];
      return {};
    },
    /** The served calls of the window, and every Executor's circuit and membership. */
    async served() {
      const calls = served;
      served = [];
      const refusals = refusedBy;
      refusedBy = {};
      const lag = summarize(lagSamples);
      lagSamples = [];
      const mem = process.memoryUsage();
      const gc = {
        ...summarize(gcPauses),
        totalMs: gcPauses.reduce((a, b) => a + b, 0),
        heapUsedMiB: mem.heapUsed / 2 ** 20,
        externalMiB: mem.external / 2 ** 20,
      };
      gcPauses = [];
      const byCode: Record<string, number[]> = {};
      for (const c of calls) (byCode[String(c.code)] ??= []).push(c.ms);
      return {
        byCode: Object.fromEntries(Object.entries(byCode).map(([code, ms]) => [code, summarize(ms)])),
        circuits: gw?.health.snapshot(gw.registry.addresses()).map((c) => c.state) ?? [],
        membership: gw?.registry.counts(),
        refusals,
        lag,
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
    async profileStop(msg) {
      const { profile } = await post("Profiler.stop");
      writeFileSync(String(msg.file), JSON.stringify(profile));
      session!.disconnect();
      session = undefined;
      return {};
    },
  },
  async () => {
    await gw?.stop();
  },
);
