/**
 * GetPredictResult streamed (issue 15, Deliver item 6): on the own server over the own
 * upstream transport (the defaults), the owner's reply flows to the client under flow
 * control and is never held whole — the relay's share of `predict.maxBytesInFlight` is
 * its windows (STREAMED_RELAY_BYTES) however large the result; the bytes arrive
 * untouched; the call (admission slot, served-call event) lasts until the client has
 * the reply or has gone, and a client that goes mid-relay cancels the owner's stream.
 */
import * as http2 from "node:http2";
import { status as Status } from "@grpc/grpc-js";
import type { RunningGateway } from "../../src/gateway";
import type { ServedEvent } from "../../src/api/pipeline";
import { STREAMED_RELAY_BYTES } from "../../src/predict/service";
import { gatewayFor } from "../helpers/resilience";
import {
  predictResponseBytes,
  rawPredictStream,
  signedRequest,
  startPredictScenario,
  type PredictScenario,
} from "../helpers/predict-scenario";

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A GetPredictResult on a raw HTTP/2 stream that pauses `everyMs` after each chunk it reads (a slow reader). */
function slowCall(
  port: number,
  request: Buffer,
  everyMs: number,
): {
  stream: http2.ClientHttp2Stream;
  session: http2.ClientHttp2Session;
  done: Promise<{ body: Buffer; trailers: http2.IncomingHttpHeaders; headers: http2.IncomingHttpHeaders }>;
} {
  const { session, stream } = rawPredictStream(port, request, 64 * 1024, { "grpc-timeout": "20S" });
  const done = new Promise<{ body: Buffer; trailers: http2.IncomingHttpHeaders; headers: http2.IncomingHttpHeaders }>(
    (resolve) => {
      const chunks: Buffer[] = [];
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders = {};
      stream.on("response", (h) => (headers = h));
      stream.on("trailers", (t) => (trailers = t));
      stream.on("data", (c: Buffer) => {
        chunks.push(c);
        // Reads a little, then waits: the gateway's side fills and pushes back.
        stream.pause();
        setTimeout(() => stream.resume(), everyMs).unref();
      });
      stream.on("close", () => resolve({ body: Buffer.concat(chunks), trailers, headers }));
    },
  );
  return { stream, session, done };
}

describe("GetPredictResult streamed through the own server", () => {
  let sc: PredictScenario;
  let gw: RunningGateway;
  const payload = Buffer.alloc(24 * MiB, 0x61);
  const served: ServedEvent[] = [];
  beforeAll(async () => {
    sc = await startPredictScenario();
    sc.executors[1]!.setResult(sc.ids.mine, payload);
    gw = await gatewayFor(undefined, {
      api: { server: "http2" },
      seeds: [sc.executors[0]!.address, sc.executors[4]!.address],
      executors: { discoveryAllow: ["127.0.0.1"], callTimeoutMs: 20_000, transport: "http2" },
      predict: { maxConcurrent: 4, writeTimeoutMs: 10_000 },
    });
    gw.pipeline.served.subscribe((e) => void (e.method === "GetPredictResult" && served.push(e)));
  });
  afterAll(async () => {
    await gw.stop();
    await sc.stop();
  });

  test("a 24 MiB result reaches a slow reader byte for byte while the relay holds only its windows", async () => {
    expect(gw.predictions.canStream).toBe(true);
    const call = slowCall(gw.grpcPort, signedRequest(sc.me, sc.ids.mine), 2);
    let most = 0;
    let relays = 0;
    const sampler = setInterval(() => {
      most = Math.max(most, gw.predictions.holding.bytes);
      relays = Math.max(relays, gw.predictions.holding.relays);
    }, 5);
    const r = await call.done;
    clearInterval(sampler);
    call.session.close();
    expect(r.headers["grpc-status"]).toBeUndefined();
    expect(r.trailers["grpc-status"]).toBe("0");
    const expected = predictResponseBytes(sc.ids.mine, payload);
    expect(r.body.subarray(5).equals(expected)).toBe(true);
    expect(r.body.readUInt32BE(1)).toBe(expected.length);
    // Before streaming, the relay held the whole result (24 MiB) until the client took it.
    expect(relays).toBe(1);
    expect(most).toBe(STREAMED_RELAY_BYTES);
    await sleep(50);
    expect(gw.predictions.holding).toEqual({ relays: 0, bytes: 0 });
    expect(served.at(-1)?.code).toBe(Status.OK);
  }, 30_000);

  test("a client that goes mid-relay frees the slot and is counted CANCELLED", async () => {
    const before = served.length;
    const call = slowCall(gw.grpcPort, signedRequest(sc.me, sc.ids.mine), 20);
    const until = Date.now() + 5000;
    while (gw.predictions.holding.relays === 0 && Date.now() < until) await sleep(5);
    expect(gw.predictions.holding.relays).toBe(1);
    await sleep(100);
    call.stream.close(http2.constants.NGHTTP2_CANCEL);
    await call.done;
    call.session.close();
    const freed = Date.now() + 5000;
    while (gw.predictions.holding.relays > 0 && Date.now() < freed) await sleep(5);
    expect(gw.predictions.holding).toEqual({ relays: 0, bytes: 0 });
    while (served.length === before && Date.now() < freed) await sleep(5);
    expect(served.slice(before).map((e) => Status[e.code])).toEqual(["CANCELLED"]);
  }, 30_000);

  test("a result over predict.maxBytes is refused from its length prefix, trailers-only, naming the key", async () => {
    const small = await gatewayFor(undefined, {
      api: { server: "http2" },
      seeds: [sc.executors[0]!.address, sc.executors[4]!.address],
      executors: { discoveryAllow: ["127.0.0.1"], callTimeoutMs: 20_000, transport: "http2" },
      predict: { maxBytes: 1 * MiB },
    });
    try {
      const call = slowCall(small.grpcPort, signedRequest(sc.me, sc.ids.mine), 0);
      const r = await call.done;
      call.session.close();
      // Trailers-only: the status is in the headers and not a byte of the result was sent on.
      expect(r.headers["grpc-status"]).toBe(String(Status.RESOURCE_EXHAUSTED));
      expect(decodeURIComponent(String(r.headers["grpc-message"]))).toMatch(/predict\.maxBytes/);
      expect(r.body.length).toBe(0);
      expect(small.predictions.stats.refused.too_large).toBe(1);
      expect(small.predictions.holding).toEqual({ relays: 0, bytes: 0 });
    } finally {
      await small.stop();
    }
  }, 30_000);
});
