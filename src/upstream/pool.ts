/**
 * The grpc-js UnaryTransport (src/upstream/transport.ts): long-lived gRPC channels,
 * one per Executor address, reused by every call.
 *
 * Calls carry raw bytes both ways: requests are encoded by the caller (or relayed as
 * the client sent them) and replies are returned undecoded, so nothing the Executor
 * sends is lost before the wire-level view decodes what it needs.
 */
import * as grpc from "@grpc/grpc-js";
import { identity, METHOD_PATHS, type UpstreamMethod } from "../wire/facts";
import type { ConnectTarget, UpstreamConnector } from "./connect";
import { cancelledError, ResponseTooLargeError, type UnaryCallOptions, type UnaryTransport } from "./transport";

export interface PoolOptions {
  /** Largest reply accepted for ListTask/GetTaskById (its own channel: refused from the length prefix). */
  maxResponseBytes: number;
  /** Largest reply accepted for GetPredictResult. */
  maxPredictBytes: number;
  /** Target, TLS and DNS check per address (default: plain text to the address itself). */
  connector?: UpstreamConnector;
  /** Channel keepalive (executors.keepaliveTimeMs / keepaliveTimeoutMs); see `keepaliveOptions`. */
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
}

/** grpc-go's default server enforcement (keepalive.EnforcementPolicy): MinTime 5 minutes (spec §9). */
export const GRPC_GO_MIN_PING_INTERVAL_MS = 5 * 60_000;
/** The default ping interval: MinTime and a margin for timers that fire early or late. */
export const DEFAULT_KEEPALIVE_TIME_MS = GRPC_GO_MIN_PING_INTERVAL_MS + 30_000;

/**
 * Keepalive an Executor's grpc-go server accepts with its default enforcement (spec §9):
 * pings only while calls are in flight (PermitWithoutStream is false there; grpc-js then
 * sends a due ping when the next call starts) and never more often than MinTime — a
 * ping sooner is a strike, and past two strikes the server sends GOAWAY too_many_pings.
 */
export function keepaliveOptions(timeMs = DEFAULT_KEEPALIVE_TIME_MS, timeoutMs = 20_000): grpc.ChannelOptions {
  return {
    "grpc.keepalive_time_ms": timeMs,
    "grpc.keepalive_timeout_ms": timeoutMs,
    "grpc.keepalive_permit_without_calls": 0,
  };
}

const EMPTY = Buffer.alloc(0);
const TOO_LARGE = /Received message larger than max \((\d+) vs \d+\)/;

export class UpstreamPool implements UnaryTransport {
  private readonly clients = new Map<string, { client: grpc.Client; key: string }>();

  constructor(private readonly opts: PoolOptions) {}

  /**
   * The channel for `address` and one size class. Lists and predictions have channels
   * of their own, each with its limit as `grpc.max_receive_message_length`: grpc-js
   * checks a message's length prefix against it before reading the message, so a
   * ListTask reply over `executors.maxResponseBytes` is refused from its first 5 bytes
   * instead of being buffered whole up to the prediction limit (issue 14, case 6).
   */
  private client(address: string, kind: "list" | "predict", conn?: ConnectTarget): grpc.Client {
    const key = conn?.key ?? address;
    const slot = `${kind}|${address}`;
    let entry = this.clients.get(slot);
    if (entry !== undefined && entry.key !== key) {
      // The checked IP of a host name changed: dial the new one.
      entry.client.close();
      entry = undefined;
    }
    if (entry === undefined) {
      const limit = kind === "predict" ? this.opts.maxPredictBytes : this.opts.maxResponseBytes;
      const c = new grpc.Client(conn?.target ?? address, conn?.credentials ?? grpc.credentials.createInsecure(), {
        ...conn?.options,
        "grpc.max_receive_message_length": limit,
        "grpc.max_send_message_length": 16 * 1024 * 1024,
        ...keepaliveOptions(this.opts.keepaliveTimeMs, this.opts.keepaliveTimeoutMs),
        "grpc.initial_reconnect_backoff_ms": 200,
        "grpc.max_reconnect_backoff_ms": 5_000,
        "grpc-node.max_session_memory": 64,
        // Distinct channels (grpc-js would otherwise share one subchannel across equal targets).
        "grpc.channel_kind": kind,
      } as grpc.ChannelOptions);
      entry = { client: c, key };
      this.clients.set(slot, entry);
    }
    return entry.client;
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
    opts: UnaryCallOptions = {},
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
    return new Promise<Buffer>((resolve, reject) => {
      if (opts.signal?.aborted) {
        reject(cancelledError());
        return;
      }
      const call = this.client(address, method === "getPredictResult" ? "predict" : "list", conn).makeUnaryRequest(
        METHOD_PATHS[method],
        identity,
        deserialize,
        request,
        opts.metadata ?? new grpc.Metadata(),
        { deadline },
        (callErr, value) => {
          opts.signal?.removeEventListener("abort", onAbort);
          // grpc-js refused the reply from its length prefix (the channel's limit): say it our way.
          const prefix =
            callErr?.code === grpc.status.RESOURCE_EXHAUSTED ? TOO_LARGE.exec(callErr.details ?? "") : null;
          const err = prefix
            ? new ResponseTooLargeError(`reply of ${prefix[1]} bytes exceeds the limit of ${limit} bytes`)
            : (callErr ??
              (oversize === undefined
                ? null
                : new ResponseTooLargeError(`reply of ${oversize} bytes exceeds the limit of ${limit} bytes`)));
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
