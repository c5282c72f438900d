/**
 * A gRPC client that sends and receives raw bytes, to compare what the gateway sends
 * byte for byte, and to read status, details and trailers of every call.
 */
import * as grpc from "@grpc/grpc-js";

export interface RawReply {
  code: grpc.status;
  details: string;
  body?: Buffer;
  trailers: Record<string, string>;
}

const identity = (b: Buffer): Buffer => b;

export class RawClient {
  private readonly client: grpc.Client;

  constructor(address: string) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": -1,
    });
  }

  call(
    method: "ListTask" | "GetTaskById" | "GetPredictResult" | "StartTask",
    request: Uint8Array,
    headers: Record<string, string> = {},
    timeoutMs = 10_000,
  ): Promise<RawReply> {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(headers)) md.set(k, v);
    return new Promise((resolve) => {
      let result: Omit<RawReply, "trailers"> | undefined;
      const call = this.client.makeUnaryRequest(
        `/task.Task/${method}`,
        identity,
        identity,
        Buffer.from(request),
        md,
        { deadline: Date.now() + timeoutMs },
        (err, body) => {
          result = err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: "", body };
        },
      );
      // grpc-js emits "status" (with the trailers) right after calling the callback.
      call.on("status", (s: grpc.StatusObject) => {
        resolve({ ...(result ?? { code: s.code, details: s.details }), trailers: flat(s.metadata) });
      });
    });
  }

  close(): void {
    this.client.close();
  }
}

function flat(md: grpc.Metadata | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!md) return out;
  for (const [k, v] of Object.entries(md.getMap())) out[k] = String(v);
  return out;
}

/** An FLTasks message assembled from task bytes, written independently of src/wire. */
export function flTasksOf(tasks: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const t of tasks) {
    const len: number[] = [];
    let n = t.length;
    do {
      len.push((n & 0x7f) | (n >= 0x80 ? 0x80 : 0));
      n >>>= 7;
    } while (n > 0);
    parts.push(Buffer.from([0x0a, ...len]), t);
  }
  return Buffer.concat(parts);
}
