/** The gateway under test, alone in its process so its CPU time and memory can be read from /proc. */
import { parseConfig } from "../../src/config/load";
import { startGateway, type RunningGateway } from "../../src/gateway";
import { createLogger } from "../../src/log";
import { serveIpc } from "./ipc";

let gw: RunningGateway | undefined;

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
  },
  async () => {
    await gw?.stop();
  },
);
