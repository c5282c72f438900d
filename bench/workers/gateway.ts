/** The gateway under test, alone in its process so its CPU time and memory can be read from /proc. */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { parseConfig } from "../../src/config/load";
import { startGateway, type RunningGateway } from "../../src/gateway";
import { createLogger } from "../../src/log";
import { serveIpc } from "./ipc";

let gw: RunningGateway | undefined;
let session: Session | undefined;

function post(method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) =>
    session!.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res as Record<string, unknown>))),
  );
}

serveIpc(
  {
    async start(msg) {
      const config = parseConfig(msg.config as Record<string, unknown>);
      gw = await startGateway(config, createLogger(config.log.level));
      return { grpcPort: gw.grpcPort, httpPort: gw.httpPort };
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
