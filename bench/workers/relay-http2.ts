/**
 * The own transport's streaming relay alone (src/transport: Http2Transport.openStream →
 * Http2GrpcServer relay): GetPredictResult passed through to one owner under flow
 * control, with none of the gateway's checks — what the relay itself costs in time and
 * memory (the gateway's GetPredictResult does not use it yet).
 */
import { Http2Transport } from "../../src/transport/client";
import { Http2GrpcServer } from "../../src/transport/server";
import { serveIpc } from "./ipc";

let server: Http2GrpcServer | undefined;
let transport: Http2Transport | undefined;

serveIpc(
  {
    async start(msg) {
      const owner = String(msg.owner);
      const t = new Http2Transport({ maxResponseBytes: 1 << 20, maxPredictBytes: 256 * 1024 * 1024 });
      transport = t;
      server = new Http2GrpcServer({ maxRequestBytes: 1 << 20 }).unary(
        "/task.Task/GetPredictResult",
        async (req, call) => ({
          upstream: await t.openStream(owner, "getPredictResult", req, call.deadline ?? new Date(Date.now() + 30_000), {
            signal: call.signal,
          }),
          maxBytes: 256 * 1024 * 1024,
          stallMs: 30_000,
        }),
      );
      return { grpcPort: await server.listen("127.0.0.1", 0) };
    },
    async gc() {
      (globalThis as { gc?: () => void }).gc?.();
      return {};
    },
  },
  async () => {
    await server?.close();
    transport?.close();
  },
);
