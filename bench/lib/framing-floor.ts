/**
 * The framing floor: a fixed unary gRPC reply served over HTTP/2 framed in JavaScript on
 * a net.Socket (bench/lib/h2-connection.ts), without node:http2 — what a cache hit would
 * cost if the serving path framed its own replies (compare bare-http2.ts: the own server
 * on node:http2, and bare.ts: grpc-js). A measurement, not a server: it answers every
 * request on any path with the same reply.
 *
 * What it saves is node:http2's per-stream work: no ServerHttp2Stream (a Duplex) and no
 * header object per call, and no request header value as an old-space external string
 * (node:http2 makes one of every non-static value, and each must be finalized by a
 * mark-compact).
 */
import net from "node:net";
import { FramedConnection, headerBlock } from "./h2-connection";

const TRAILERS = headerBlock([["grpc-status", "0"]]);

/** Serves `message` (an encoded reply) to every request on 127.0.0.1, on a port of its own. */
export async function startFramingFloor(message: Buffer): Promise<{ port: number; close(): Promise<void> }> {
  const reply = Buffer.alloc(5 + message.length);
  reply.writeUInt32BE(message.length, 1);
  message.copy(reply, 5);
  const handler = {
    request(conn: FramedConnection, id: number, _headers: string[], body: Buffer | undefined): void {
      if (body !== undefined) conn.respond(id, reply, TRAILERS);
    },
  };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    new FramedConnection(socket, handler);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
