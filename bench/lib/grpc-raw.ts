/** gRPC helpers for the bench: framed request bodies for h2load and one-off raw calls. */
import * as grpc from "@grpc/grpc-js";

/** A gRPC length-prefixed message: flag 0 (uncompressed), 4-byte big-endian length, bytes. */
export function grpcFrame(message: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

const identity = (b: Buffer): Buffer => b;

export interface RawReply {
  body: Buffer;
  trailers: Record<string, string>;
}

/** One unary call with raw bytes; used to check a target answers OK before loading it. */
export function callRaw(
  address: string,
  path: string,
  request: Buffer,
  headers: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<RawReply> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": -1,
  });
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) md.set(k, v);
  const trailers: Record<string, string> = {};
  return new Promise<RawReply>((resolve, reject) => {
    const call = client.makeUnaryRequest(
      path,
      identity,
      identity,
      request,
      md,
      { deadline: new Date(Date.now() + timeoutMs) },
      (err, value) => {
        client.close();
        if (err || !value) reject(err ?? new Error("empty reply"));
        else resolve({ body: value, trailers });
      },
    );
    call.on("status", (s: grpc.StatusObject) => {
      for (const [k, v] of Object.entries(s.metadata.getMap())) trailers[k] = String(v);
    });
  });
}
