/**
 * The benchmarks' load generator wrapper (bench/lib/h2load.ts) against a real h2load and
 * a node:http2 server on loopback: in a timed run its rates are per second of the
 * measured window, which is what h2load's own counts and req/s cover. (Divided by the
 * warm-up and the window together, a 2 s run after 1 s of warm-up read 2/3 of its rate,
 * and CPU per reply taken as CPU ÷ (rate × wall time) read 3/2 of what it was.)
 */
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { h2load } from "../../bench/lib/h2load";

jest.setTimeout(30_000);

const REPLY_BYTES = 1000;

describe("bench h2load wrapper", () => {
  let server: http2.Http2Server;
  let port = 0;
  let answered = 0;

  beforeAll(async () => {
    const framed = Buffer.alloc(5 + REPLY_BYTES, 1);
    framed[0] = 0;
    framed.writeUInt32BE(REPLY_BYTES, 1);
    server = http2.createServer();
    server.on("stream", (stream) => {
      stream.resume();
      stream.on("end", () => {
        answered++;
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        stream.end(framed);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("reports OK replies per second of the measured window, as h2load's own req/s", async () => {
    answered = 0;
    const r = await h2load({
      target: `127.0.0.1:${port}`,
      path: "/t.T/Unary",
      message: new Uint8Array(0),
      clients: 1,
      streams: 2,
      durationSec: 2,
      warmupSec: 1,
      rps: 200,
      expectReplyBytes: REPLY_BYTES,
    });
    expect(r.failed).toBe(0);
    expect(r.shortReplies).toBe(0);
    // 2 requests of 200/s over 2 s: ~400 in the window, ~600 with the warm-up's.
    expect(r.succeeded).toBeGreaterThan(300);
    expect(answered).toBeGreaterThan(r.succeeded);
    expect(r.okPerSec).toBeCloseTo(r.reqPerSec, -1);
    expect(r.okPerSec).toBeGreaterThan(170);
    expect(r.okPerSec).toBeLessThan(230);
    expect(r.dataBytesPerSec).toBeGreaterThan(170 * (REPLY_BYTES + 5));
  });
});
