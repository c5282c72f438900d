/** The framing floor (bench/lib/framing-floor.ts) alone in its process, as bare-http2.ts is for the own server. */
import { startFramingFloor } from "../lib/framing-floor";
import { serveIpc } from "./ipc";

let floor: Awaited<ReturnType<typeof startFramingFloor>> | undefined;

serveIpc(
  {
    async start(msg) {
      floor = await startFramingFloor(Buffer.from(String(msg.replyBase64), "base64"));
      return { port: floor.port };
    },
  },
  async () => {
    await floor?.close();
  },
);
