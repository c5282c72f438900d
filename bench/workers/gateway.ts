/** The gateway under test, alone in its process so its CPU time and memory can be read from /proc. */
import { parseConfig } from "../../src/config/load";
import { startGateway, type RunningGateway } from "../../src/gateway";
import { createLogger } from "../../src/log";
import { summarize } from "../lib/stats";
import { serveIpc } from "./ipc";

let gw: RunningGateway | undefined;
/** Served calls since the last "mark" (scenario 6): status code and duration, ms. */
let served: { code: number; ms: number }[] = [];

serveIpc(
  {
    async start(msg) {
      const config = parseConfig(msg.config as Record<string, unknown>);
      gw = await startGateway(config, createLogger(config.log.level));
      gw.pipeline.served.subscribe((e) => {
        if (served.length < 2_000_000) served.push({ code: e.code, ms: e.durationMs });
      });
      return { grpcPort: gw.grpcPort, httpPort: gw.httpPort };
    },
    /** Starts a new window of served calls. */
    async mark() {
      served = [];
      return {};
    },
    /** The served calls of the window, and every Executor's circuit and membership. */
    async served() {
      const calls = served;
      served = [];
      const byCode: Record<string, number[]> = {};
      for (const c of calls) (byCode[String(c.code)] ??= []).push(c.ms);
      return {
        byCode: Object.fromEntries(Object.entries(byCode).map(([code, ms]) => [code, summarize(ms)])),
        circuits: gw?.health.snapshot(gw.registry.addresses()).map((c) => c.state) ?? [],
        membership: gw?.registry.counts(),
      };
    },
    async gc() {
      (globalThis as { gc?: () => void }).gc?.();
      return {};
    },
  },
  async () => {
    await gw?.stop();
  },
);
