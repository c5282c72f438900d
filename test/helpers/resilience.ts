/** Helpers for the resilience tests: raw gRPC calls, hand-made Executors, trailers. */
import * as grpc from "@grpc/grpc-js";
import pino from "pino";
import { RAW_TASK_SERVICE } from "../../src/api/task-service";
import { testConfig } from "./test-config";
import type { ConfigInput } from "../../src/config/schema";
import { startGateway, type RunningGateway } from "../../src/gateway";
import type { SimCluster } from "../../src/sim/cluster";

export const silent = pino({ level: "silent" });

const identity = (b: Buffer): Buffer => b;

export const PATHS = {
  ListTask: "/task.Task/ListTask",
  GetTaskById: "/task.Task/GetTaskById",
  StartTask: "/task.Task/StartTask",
  GetPredictResult: "/task.Task/GetPredictResult",
} as const;
export type MethodName = keyof typeof PATHS;

export interface RawReply {
  err?: grpc.ServiceError;
  body?: Buffer;
  trailers: Record<string, string>;
  ms: number;
}

function trailerRecord(md: grpc.Metadata | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!md) return out;
  for (const [k, v] of Object.entries(md.getMap())) out[k] = String(v);
  return out;
}

/** One unary call with raw bytes; never rejects. */
export function rawCall(
  client: grpc.Client,
  method: MethodName,
  body: Buffer,
  opts: { deadlineMs?: number; metadata?: Record<string, string> } = {},
): Promise<RawReply> {
  const started = Date.now();
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(opts.metadata ?? {})) md.set(k, v);
  return new Promise((resolve) => {
    let trailers: Record<string, string> = {};
    const call = client.makeUnaryRequest(
      PATHS[method],
      identity,
      identity,
      body,
      md,
      opts.deadlineMs ? { deadline: new Date(Date.now() + opts.deadlineMs) } : {},
      (err, value) => {
        // The status event may follow the callback on the same tick; read trailers from both.
        setImmediate(() =>
          resolve({
            err: err ?? undefined,
            body: value,
            trailers: err ? trailerRecord(err.metadata) : trailers,
            ms: Date.now() - started,
          }),
        );
      },
    );
    call.on("status", (s: grpc.StatusObject) => (trailers = trailerRecord(s.metadata)));
  });
}

export function rawClient(port: number, creds = grpc.credentials.createInsecure(), options = {}): grpc.Client {
  return new grpc.Client(`127.0.0.1:${port}`, creds, options);
}

/** Gateway seeded with every simulated Executor (address and key). */
export async function gatewayFor(
  sim: SimCluster | undefined,
  extra: Omit<ConfigInput, "listen" | "httpListen"> & {
    seeds?: (string | { address: string; pubKey?: string })[];
  } = {},
): Promise<RunningGateway> {
  const { seeds, ...rest } = extra;
  const cfg = testConfig({
    ...rest,
    listen: "127.0.0.1:0",
    httpListen: "127.0.0.1:0",
    log: { level: "silent" },
    executors: {
      ...rest.executors,
      seeds:
        seeds ??
        sim?.executors.map((e, i) => ({ address: e.address, pubKey: sim.keys[i]!.publicKey.toString("hex") })) ??
        [],
    },
  });
  return startGateway(cfg, silent);
}

/** A hand-made Executor answering every call with `answer(method, request)`. */
/** Named raw Executors (startRawExecutor) for one suite: their addresses by name, and one stop for all. */
export function rawExecutorSet(): {
  addr: Record<string, string>;
  start(name: string, answer: Parameters<typeof startRawExecutor>[0]): Promise<void>;
  stopAll(): Promise<void>;
} {
  const addr: Record<string, string> = {};
  const stops: (() => Promise<void>)[] = [];
  return {
    addr,
    async start(name, answer) {
      const e = await startRawExecutor(answer);
      stops.push(() => e.stop());
      addr[name] = e.address;
    },
    async stopAll() {
      for (const s of stops.splice(0)) await s();
    },
  };
}

export async function startRawExecutor(
  answer: (method: MethodName, req: Buffer) => Buffer | grpc.ServiceError | Promise<Buffer | grpc.ServiceError>,
  creds = grpc.ServerCredentials.createInsecure(),
): Promise<{ address: string; port: number; calls: number; stop(): Promise<void> }> {
  const server = new grpc.Server({ "grpc.max_send_message_length": -1 });
  const state = { calls: 0 };
  const handler =
    (m: MethodName): grpc.handleUnaryCall<Buffer, Buffer> =>
    (call, cb) => {
      state.calls++;
      void Promise.resolve(answer(m, call.request)).then((r) => (Buffer.isBuffer(r) ? cb(null, r) : cb(r)));
    };
  server.addService(RAW_TASK_SERVICE, {
    ListTask: handler("ListTask"),
    GetTaskById: handler("GetTaskById"),
    StartTask: handler("StartTask"),
    GetPredictResult: handler("GetPredictResult"),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    address: `127.0.0.1:${port}`,
    port,
    get calls() {
      return state.calls;
    },
    async stop() {
      server.forceShutdown();
    },
  };
}

export function upstreamError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}
