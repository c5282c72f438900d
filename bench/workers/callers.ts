/**
 * A client process for the transport scenario: makes unary calls with one client
 * implementation and reports its own CPU time, so the cost of each transport is read
 * without the server's or the load generator's share.
 */
import http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { ListTaskRequest } from "../../src/gen/task/task";
import { Http2Transport } from "../../src/transport/client";
import { serveIpc } from "./ipc";

const PATH = "/task.Task/ListTask";
const identity = (b: Buffer): Buffer => b;

type CallFn = (request: Buffer) => Promise<Buffer>;

function grpcJs(address: string): { call: CallFn; close(): void } {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
  });
  return {
    call: (request) =>
      new Promise((resolve, reject) =>
        client.makeUnaryRequest(
          PATH,
          identity,
          identity,
          request,
          new grpc.Metadata(),
          { deadline: new Date(Date.now() + 10_000) },
          (err, v) => (err || !v ? reject(err ?? new Error("empty")) : resolve(v)),
        ),
      ),
    close: () => client.close(),
  };
}

/** The floor: node:http2 with nothing but framing (no deadline, status or metadata handling). */
function rawHttp2(address: string): { call: CallFn; close(): void } {
  const session = http2.connect(`http://${address}`);
  session.on("error", () => {});
  return {
    call: (request) =>
      new Promise((resolve, reject) => {
        const head = Buffer.alloc(5);
        head.writeUInt32BE(request.length, 1);
        const st = session.request({
          ":method": "POST",
          ":path": PATH,
          "content-type": "application/grpc",
          te: "trailers",
        });
        const chunks: Buffer[] = [];
        st.on("data", (c: Buffer) => chunks.push(c));
        st.on("error", reject);
        st.on("end", () => {
          const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
          resolve(all.subarray(5));
        });
        st.end(Buffer.concat([head, request]));
      }),
    close: () => session.close(),
  };
}

/** The gateway's own transport (src/transport/client.ts), as the fan-out would use it. */
function own(address: string): { call: CallFn; close(): void } {
  const t = new Http2Transport({ maxResponseBytes: 64 * 1024 * 1024, maxPredictBytes: 64 * 1024 * 1024 });
  return {
    call: (request) => t.call(address, "listTask", request, new Date(Date.now() + 10_000)),
    close: () => t.close(),
  };
}

type Factory = (address: string) => { call: CallFn; close(): void };

const FACTORIES: Record<string, Factory> = { "grpc-js": grpcJs, "own http2 transport": own, "node:http2": rawHttp2 };

/** Registers another client implementation (the gateway's own transport adds itself). */
export function addFactory(name: string, f: Factory): void {
  FACTORIES[name] = f;
}

/** A stock PaddleDTX client's request: the same query, timeEnd = now (ns) on every call. */
function stockRequest(request: Buffer): () => Buffer {
  const q = ListTaskRequest.decode(request);
  return () => Buffer.from(ListTaskRequest.encode({ ...q, timeEnd: BigInt(Date.now()) * 1_000_000n }).finish());
}

async function runCalls(
  f: Factory,
  address: string,
  request: Buffer,
  calls: number,
  concurrency: number,
  timeEndNow = false,
) {
  const c = f(address);
  const next_ = timeEndNow ? stockRequest(request) : () => request;
  try {
    let next = 0;
    let bytes = 0;
    const worker = async (): Promise<void> => {
      while (next < calls) {
        next++;
        const reply = await c.call(next_());
        bytes += reply.length;
      }
    };
    // Warm-up: connection, JIT.
    for (let i = 0; i < 200; i++) await c.call(next_());
    (globalThis as { gc?: () => void }).gc?.();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: concurrency }, worker));
    const cpu = process.cpuUsage(cpu0);
    return { cpuUs: cpu.user + cpu.system, wallMs: performance.now() - t0, bytes };
  } finally {
    c.close();
  }
}

serveIpc(
  {
    async run(msg) {
      const name = String(msg.client);
      const f = FACTORIES[name];
      if (!f) throw new Error(`no client ${name}`);
      return runCalls(
        f,
        String(msg.address),
        Buffer.from(String(msg.requestBase64), "base64"),
        Number(msg.calls),
        Number(msg.concurrency),
        msg.timeEndNow === true,
      );
    },
  },
  async () => {},
);
