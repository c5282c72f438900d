/**
 * Issue 14, case 5: a client that stops reading a prediction result must not bypass
 * the relay bound. Real non-reading HTTP/2 clients (node:http2, a 1 KiB stream window,
 * the stream paused) ask for 8 MiB results: before, the relay's slot was freed when the
 * Executor's reply arrived, so wave after wave was admitted and every reply sat in
 * memory; now a relay holds its slot and bytes until the client has the reply or has
 * gone, and a client that does not read within `predict.writeTimeoutMs` is cut off.
 *
 * On the own server (api.server http2, over the own upstream transport) the result is
 * streamed: a stalled relay holds only its windows (STREAMED_RELAY_BYTES of the byte
 * budget), never the whole result; on grpc-js it holds the result until delivered.
 */
import * as http2 from "node:http2";
import * as net from "node:net";
import { signWithRule } from "../../src/generations/signature";
import { status as Status } from "@grpc/grpc-js";
import type { RunningGateway } from "../../src/gateway";
import { STREAMED_RELAY_BYTES } from "../../src/predict/service";
import { API_SERVER } from "../helpers/api-server";
import { gatewayFor } from "../helpers/resilience";
import {
  predictResponseBytes,
  RawPredictClient,
  rawPredictStream,
  signedRequest,
  startPredictScenario,
  type PredictScenario,
} from "../helpers/predict-scenario";

const MiB = 1024 * 1024;
/** The default server streams prediction results; grpc-js holds each until delivered. */
const streamed = (API_SERVER ?? "http2") === "http2";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** `p`, or `fallback` after `ms` (a test of a defect must fail, not hang). */
const within = <T>(p: Promise<T>, ms: number, fallback: T): Promise<T> =>
  Promise.race([p, new Promise<T>((r) => setTimeout(() => r(fallback), ms).unref())]);

interface NonReader {
  /** Resolves with the stream's RST code when it closes. */
  closed: Promise<number>;
  /** Response headers' grpc-status when the answer was trailers-only (a refusal). */
  status: Promise<string | undefined>;
  session: http2.ClientHttp2Session;
}

/** A client that sends one GetPredictResult and never reads the reply. */
function nonReader(port: number, request: Buffer): NonReader {
  const { session, stream } = rawPredictStream(port, request, 1024);
  stream.pause();
  const status = new Promise<string | undefined>((resolve) =>
    stream.on("response", (h) => resolve(h["grpc-status"] as string | undefined)),
  );
  const closed = new Promise<number>((resolve) => stream.on("close", () => resolve(stream.rstCode ?? 0)));
  return { closed, status, session };
}

describe("clients that do not read their prediction result (case 5)", () => {
  let sc: PredictScenario;
  let gw: RunningGateway;
  const payload = Buffer.alloc(8 * MiB, 0x5a);
  beforeAll(async () => {
    sc = await startPredictScenario();
    sc.executors[1]!.setResult(sc.ids.mine, payload);
    sc.executors[4]!.setResult(sc.ids.mine, payload);
    gw = await gatewayFor(undefined, {
      seeds: [sc.executors[0]!.address, sc.executors[4]!.address],
      executors: { discoveryAllow: ["127.0.0.1"], callTimeoutMs: 5000 },
      predict: { maxConcurrent: 4, writeTimeoutMs: 2000, maxBytesInFlight: 64 * MiB },
    });
  });
  const opened: NonReader[] = [];
  afterAll(async () => {
    for (const c of opened) c.session.destroy();
    await gw.stop();
    await sc.stop();
  });

  test("slots and bytes are held until the client has the reply; non-readers are cut off; memory stays bounded", async () => {
    const request = signedRequest(sc.me, sc.ids.mine);
    const reader = new RawPredictClient(`127.0.0.1:${gw.grpcPort}`);
    // A reading client gets the exact reply, and its slot is freed once it has it.
    const ok = await reader.status(request);
    expect(ok.code).toBe(Status.OK);
    expect(ok.body!.equals(predictResponseBytes(sc.ids.mine, payload))).toBe(true);
    await sleep(50);
    expect(gw.predictions.holding).toEqual({ relays: 0, bytes: 0 });

    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20).unref();
    const wave1 = Array.from({ length: 4 }, () => nonReader(gw.grpcPort, request));
    opened.push(...wave1);
    const until = Date.now() + 10_000;
    const held = streamed ? 4 * STREAMED_RELAY_BYTES : 4 * 8 * MiB;
    while (gw.predictions.holding.bytes < held && Date.now() < until) await sleep(20);
    expect(gw.predictions.holding.relays).toBe(4);
    // (A buffered reply is the whole PredictResponse message: the result and its framing fields.)
    expect(gw.predictions.holding.bytes).toBeGreaterThanOrEqual(held);
    if (streamed) {
      // Streamed: what the stalled relays hold stays their windows, not their results (the
      // simulated Executors share this process, so its RSS is no measure: bench s3 is).
      await sleep(500);
      expect(gw.predictions.holding.bytes).toBe(held);
    }

    // Two more waves while the first holds its replies: refused at once, not admitted.
    const later = Array.from({ length: 8 }, () => nonReader(gw.grpcPort, request));
    opened.push(...later);
    const statuses = await Promise.all(later.map((c) => within(c.status, 5000, "admitted")));
    clearInterval(sampler);
    expect(statuses).toEqual(Array(8).fill(String(Status.RESOURCE_EXHAUSTED)));
    peak = Math.max(peak, process.memoryUsage().rss);

    // Past predict.writeTimeoutMs the non-readers are cut off (RST_STREAM CANCEL), freeing everything.
    const codes = await Promise.all(wave1.map((c) => within(c.closed, 6000, -1)));
    expect(codes).toEqual(Array(4).fill(http2.constants.NGHTTP2_CANCEL));
    await sleep(50);
    expect(gw.predictions.holding).toEqual({ relays: 0, bytes: 0 });

    // Bound: the admitted relays' results, about 3× each (reply, framing, write buffer), plus slack.
    expect(peak - rssBefore).toBeLessThan(4 * 8 * MiB * 3 + 64 * MiB);
    const again = await reader.status(request);
    expect(again.code).toBe(Status.OK);
    reader.close();
  }, 30_000);

  test("the HTTP/JSON route holds its slot until the response is out, and cuts a non-reader off", async () => {
    const body = JSON.stringify({
      pubKey: sc.me.publicKey.toString("hex"),
      taskID: sc.ids.mine,
      signature: signWithRule(sc.me, sc.ids.mine, "v2").toString("base64"),
    });
    const served = gw.predictions.stats.served;
    // A client that sends the request and never reads the ≈ 11 MB JSON reply.
    const sock = net.connect(gw.httpPort, "127.0.0.1");
    sock.setNoDelay(true);
    sock.on("error", () => undefined);
    const closed = new Promise<void>((resolve) => sock.on("close", () => resolve()));
    sock.write(
      `POST /v1/task/predictres/get HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    sock.pause();
    const until = Date.now() + 10_000;
    while (gw.predictions.stats.served === served && Date.now() < until) await sleep(10);
    expect(gw.predictions.stats.served).toBe(served + 1);
    // The handler is done, but the reply is not out: before, the slot was freed here.
    await sleep(300);
    expect(gw.predictions.holding.relays).toBe(1);
    // Past predict.writeTimeoutMs (2 s) the response is destroyed, and the slot freed (the
    // paused client would not notice its connection closing until it reads).
    const freed = Date.now() + 6000;
    while (gw.predictions.holding.relays > 0 && Date.now() < freed) await sleep(20);
    expect(gw.predictions.holding).toEqual({ relays: 0, bytes: 0 });
    sock.resume();
    expect(
      await within(
        closed.then(() => "closed"),
        5000,
        "still open",
      ),
    ).toBe("closed");
  }, 30_000);
});
