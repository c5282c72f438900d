/**
 * A TCP relay on loopback for looking at HTTP/2 on the wire: bytes pass through
 * untouched, and each direction's chunks are handed to the test as they are read (a
 * `FrameReader` turns them into frames).
 */
import net from "node:net";

/** Reads HTTP/2 frames of one direction (after the client preface, when it has one). */
export class FrameReader {
  private buf = Buffer.alloc(0);
  private skip: number;
  constructor(
    preface: boolean,
    private readonly onFrame: (type: number, flags: number, payload: Buffer, stream: number) => void,
  ) {
    this.skip = preface ? 24 : 0;
  }

  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    if (this.skip > 0) {
      const n = Math.min(this.skip, this.buf.length);
      this.buf = this.buf.subarray(n);
      this.skip -= n;
    }
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) return;
      this.onFrame(this.buf[3]!, this.buf[4]!, this.buf.subarray(9, 9 + len), this.buf.readUInt32BE(5) & 0x7fffffff);
      this.buf = this.buf.subarray(9 + len);
    }
  }
}

export interface RelayTaps {
  /** A client connected; the taps of its two directions. */
  onConnection?: () => { fromClient?: (chunk: Buffer) => void; fromServer?: (chunk: Buffer) => void };
}

export interface TcpRelay {
  port: number;
  close(): Promise<void>;
}

/** Listens on a free loopback port and relays each connection to `targetPort`. */
export async function startTcpRelay(targetPort: number, taps: RelayTaps = {}): Promise<TcpRelay> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    sockets.add(client).add(upstream);
    const { fromClient, fromServer } = taps.onConnection?.() ?? {};
    client.on("data", (d: Buffer) => {
      fromClient?.(d);
      upstream.write(d);
    });
    upstream.on("data", (d: Buffer) => {
      fromServer?.(d);
      client.write(d);
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
