/**
 * The gateway's own serving transport (src/transport/server.ts) alone: ListTask answered
 * with a precomputed framed reply and nothing else — what a cache hit costs at least when
 * the serving path is ours (compare bare.ts, the same on grpc-js).
 */
import { FramedReply, Http2GrpcServer } from "../../src/transport/server";
import { serveIpc } from "./ipc";

let server: Http2GrpcServer | undefined;

serveIpc(
  {
    async start(msg) {
      const reply = new FramedReply(Buffer.from(String(msg.replyBase64), "base64"));
      const answer = async (): Promise<{ reply: FramedReply; trailers: Record<string, string> }> => ({
        reply,
        trailers: { "dai-cache": "hit" },
      });
      server = new Http2GrpcServer({ maxRequestBytes: 1024 * 1024 })
        .unary("/task.Task/ListTask", answer)
        .unary("/task.Task/GetTaskById", answer);
      const port = await server.listen("127.0.0.1", 0);
      return { port };
    },
  },
  async () => {
    await server?.close();
  },
);
