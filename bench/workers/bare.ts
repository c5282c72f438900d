/** Baseline: a bare grpc-js server that answers ListTask with fixed bytes and does nothing else. */
import * as grpc from "@grpc/grpc-js";
import { RAW_TASK_SERVICE } from "../../src/api/task-service";
import { serveIpc } from "./ipc";

let server: grpc.Server | undefined;

serveIpc(
  {
    async start(msg) {
      const reply = Buffer.from(String(msg.replyBase64), "base64");
      const answer: grpc.handleUnaryCall<Buffer, Buffer> = (_call, cb) => cb(null, reply);
      server = new grpc.Server({ "grpc.max_send_message_length": -1 });
      server.addService(RAW_TASK_SERVICE, {
        ListTask: answer,
        GetTaskById: answer,
        GetPredictResult: answer,
        StartTask: answer,
      });
      const port = await new Promise<number>((resolve, reject) =>
        server!.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
          err ? reject(err) : resolve(p),
        ),
      );
      return { port };
    },
  },
  async () => {
    server?.forceShutdown();
  },
);
