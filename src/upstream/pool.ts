/**
 * Long-lived gRPC channels, one per Executor address, reused by every call.
 *
 * Calls carry raw bytes both ways: requests are encoded by the caller (or relayed as
 * the client sent them) and replies are returned undecoded, so nothing the Executor
 * sends is lost before the wire-level view decodes what it needs.
 */
import * as grpc from "@grpc/grpc-js";
import type { ConnectTarget, UpstreamConnector } from "./connect";

export const METHOD_PATHS = {
  listTask: "/task.Task/ListTask",
  getTaskById: "/task.Task/GetTaskById",
  getPredictResult: "/task.Task/GetPredictResult",
} as const;

export type UpstreamMethod = keyof typeof METHOD_PATHS;

export interface PoolOptions {
  /** Largest reply accepted for ListTask/GetTaskById. */
  maxResponseBytes: number;
  /** Largest reply accepted for GetPredictResult. */
  maxPredictBytes: number;
  /** Target, TLS and DNS check per address (default: plain text to the address itself). */
  connector?: UpstreamConnector;
}

export interface CallObserver {
  (event: {
    address: string;
    method: UpstreamMethod;
    ok: boolean;
    code: grpc.status;
    durationMs: number;
    /** grpc-js's text of a failure. */
    details?: string;
  }): void;
}

const identity = (b: Buffer): Buffer => b;

/** A reply over the method's size limit; a ServiceError-shaped RESOURCE_EXHAUSTED. */
export class ResponseTooLargeError extends Error {
  override name = "ResponseTooLargeError";
  readonly code = grpc.status.RESOURCE_EXHAUSTED;
  readonly details: string;
  readonly metadata = new grpc.Metadata();
  constructor(message: string) {
    super(message);
    this.details = message;
  }
}

const EMPTY = Buffer.alloc(0);

export class UpstreamPool {
  private readonly clients = new Map<string, { client: grpc.Client; key: string }>();
  private readonly observers: CallObserver[] = [];

  constructor(private readonly opts: PoolOptions) {}

  /** Registers a hook called after every upstream call (metrics, health). */
  observe(fn: CallObserver): void {
    this.observers.push(fn);
  }

  private client(address: string, conn?: ConnectTarget): grpc.Client {
    const key = conn?.key ?? address;
    let entry = this.clients.get(address);
    if (entry !== undefined && entry.key !== key) {
      // The checked IP of a host name changed: dial the new one.
      entry.client.close();
      entry = undefined;
    }
    if (entry === undefined) {
      const c = new grpc.Client(conn?.target ?? address, conn?.credentials ?? grpc.credentials.createInsecure(), {
        ...conn?.options,
        // One channel serves list replies and prediction payloads; each method checks its own limit.
        "grpc.max_receive_message_length": Math.max(this.opts.maxResponseBytes, this.opts.maxPredictBytes),
        "grpc.max_send_message_length": 16 * 1024 * 1024,
        "grpc.keepalive_time_ms": 30_000,
        "grpc.keepalive_timeout_ms": 10_000,
        "grpc.initial_reconnect_backoff_ms": 200,
        "grpc.max_reconnect_backoff_ms": 5_000,
        "grpc-node.max_session_memory": 64,
      });
      entry = { client: c, key };
      this.clients.set(address, entry);
    }
    return entry.client;
  }

  /** Closes the channel of an Executor that left the set. */
  drop(address: string): void {
    const c = this.clients.get(address);
    if (c) {
      c.client.close();
      this.clients.delete(address);
    }
  }

  get size(): number {
    return this.clients.size;
  }

  /**
   * One unary call with a deadline. Rejects with a grpc ServiceError on failure.
   * `signal` cancels the call early (the client went away).
   */
  async call(
    address: string,
    method: UpstreamMethod,
    request: Buffer,
    deadline: Date,
    opts: { metadata?: grpc.Metadata; signal?: AbortSignal } = {},
  ): Promise<Buffer> {
    // Before any connection: TLS choice, and the DNS check for discovered names.
    const conn = this.opts.connector
      ? await this.opts.connector.connect(address, deadline.getTime() - Date.now())
      : undefined;
    const limit = method === "getPredictResult" ? this.opts.maxPredictBytes : this.opts.maxResponseBytes;
    // A throwing deserializer would surface as INTERNAL ("parsing error"): note the
    // size instead and fail the call with RESOURCE_EXHAUSTED below.
    let oversize: number | undefined;
    const deserialize = (b: Buffer): Buffer => {
      if (b.length <= limit) return b;
      oversize = b.length;
      return EMPTY;
    };
    const started = performance.now();
    return new Promise<Buffer>((resolve, reject) => {
      if (opts.signal?.aborted) {
        reject(Object.assign(new Error("cancelled by caller"), { code: grpc.status.CANCELLED, details: "cancelled" }));
        return;
      }
      const call = this.client(address, conn).makeUnaryRequest(
        METHOD_PATHS[method],
        identity,
        deserialize,
        request,
        opts.metadata ?? new grpc.Metadata(),
        { deadline },
        (callErr, value) => {
          opts.signal?.removeEventListener("abort", onAbort);
          const err =
            callErr ??
            (oversize === undefined
              ? null
              : new ResponseTooLargeError(`reply of ${oversize} bytes exceeds the limit of ${limit} bytes`));
          const code = err ? err.code : grpc.status.OK;
          for (const o of this.observers) {
            o({ address, method, ok: !err, code, durationMs: performance.now() - started, details: err?.details });
          }
          if (err || value === undefined) reject(err ?? new Error("empty reply"));
          else resolve(value);
        },
      );
      const onAbort = (): void => call.cancel();
      opts.signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  close(): void {
    for (const c of this.clients.values()) c.client.close();
    this.clients.clear();
  }
}
