/**
 * One client per Executor address: the only way the gateway calls an Executor.
 *
 * It owns what every call needs and nothing else: the call's deadline fitted inside
 * the client's (`upstreamDeadline`), a slot of the gateway-wide bound on upstream calls
 * (`executors.maxUpstreamCalls`, one limiter shared by every client), the Executor's
 * circuit, decoding (a reply that does not decode counts against the Executor), and
 * the one classification of what happened (src/upstream/outcome.ts). It never throws
 * for an Executor's failure: the caller gets an Outcome and decides what it means for
 * its answer; observers (metrics, `/v1/executors`) get every outcome.
 */
import type * as grpc from "@grpc/grpc-js";
import { status as Status } from "@grpc/grpc-js";
import type { Limit } from "p-limit";
import pLimit from "p-limit";
import { NO_STALL, type StallClock } from "../core/loop-monitor";
import type { CallContext } from "../core/report";
import { Topic } from "../core/topic";
import type { UpstreamMethod } from "../wire/facts";
import type { UpstreamStream } from "../transport/client";
import { TransportError, decodeGrpcMessage, headersToMetadata } from "../transport/status";
import { WireError } from "../wire/task-view";
import { upstreamDeadline } from "./deadline";
import { CIRCUIT_OPEN, type ExecutorHealth } from "./health";
import { classifyFailure, verdict, type Outcome, type OutcomeEvent } from "./outcome";
import type { UnaryTransport } from "./transport";

export interface ExecutorClientOptions {
  /** Deadline of one call, by method, within the client's. */
  callTimeoutMs: Record<UpstreamMethod, number>;
  /** Upstream calls in flight gateway-wide (`executors.maxUpstreamCalls`). */
  maxUpstreamCalls: number;
  /** The gateway's own event-loop stalls: a call timed out while the gateway could not run is not the Executor's failure. */
  stall?: StallClock;
}

export interface CallOptions<T, R = Buffer> {
  /** Turns the reply bytes into the value; a WireError counts as a malformed reply. */
  decode: (reply: R) => T;
  /** Cancels this call (defaults to the client's signal). */
  signal?: AbortSignal;
  metadata?: grpc.Metadata;
  /**
   * A status probe: classified and observed like any call, but around the circuit — it
   * neither waits for an open circuit nor counts towards it.
   */
  probe?: boolean;
}

/** The set of per-Executor clients over one transport, circuit set and limiter. */
export class ExecutorClients {
  private readonly clients = new Map<string, ExecutorClient>();
  private readonly limit: Limit;
  /** Every call's outcome (metrics, Executor status). */
  readonly outcomes = new Topic<OutcomeEvent>();

  constructor(
    readonly transport: UnaryTransport,
    readonly circuits: ExecutorHealth,
    private readonly opts: ExecutorClientOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.limit = pLimit(opts.maxUpstreamCalls);
  }

  /** The client of `address` (a member of the Executor set; the set's cap bounds this map). */
  get(address: string): ExecutorClient {
    let c = this.clients.get(address);
    if (c === undefined) {
      c = new ExecutorClient(address, this.transport, this.circuits, this.limit, this.outcomes, this.opts, this.now);
      this.clients.set(address, c);
    }
    return c;
  }

  /** Drops the client of an Executor that left the set (a forgotten candidate or departed entry). */
  remove(address: string): void {
    const c = this.clients.get(address);
    if (c) c.retired = true;
    this.clients.delete(address);
    this.circuits.forget(address);
  }

  /** Upstream calls waiting for a slot of the gateway-wide bound. */
  get queued(): number {
    return this.limit.pendingCount;
  }

  close(): void {
    this.transport.close();
  }
}

export class ExecutorClient {
  /** Its address left the set: a call still made through it must not re-create the circuit. */
  retired = false;

  constructor(
    readonly address: string,
    private readonly transport: UnaryTransport,
    private readonly circuits: ExecutorHealth,
    private readonly limit: Limit,
    private readonly outcomes: Topic<OutcomeEvent>,
    private readonly opts: ExecutorClientOptions,
    private readonly now: () => number,
  ) {}

  /** One call, under the circuit and the gateway-wide limiter; resolves with its outcome. */
  call<T>(method: UpstreamMethod, request: Buffer, ctx: CallContext, o: CallOptions<T>): Promise<Outcome<T>> {
    return this.run(method, ctx, o, (deadline, signal) =>
      this.transport.call(this.address, method, request, deadline, { signal, metadata: o.metadata }),
    );
  }

  /**
   * One call whose reply is relayed as a stream (GetPredictResult on the own transport):
   * the same deadline, circuit, limiter and outcome as `call`, judged on the reply's
   * headers — a trailers-only status is classified like any failed call (NOT_FOUND moves
   * the relay to the next candidate), anything else is "answered" with the stream. The
   * deadline (a local timer) and the signal cover the whole stream; the limiter's slot
   * only the wait for the headers (`predict.maxConcurrent` bounds relays in flight).
   * Undefined when the transport cannot stream (grpc-js): use `call`.
   */
  stream(
    method: UpstreamMethod,
    request: Buffer,
    ctx: CallContext,
    o: { signal?: AbortSignal; metadata?: grpc.Metadata } = {},
  ): Promise<Outcome<UpstreamStream>> | undefined {
    const open = this.transport.openStream?.bind(this.transport);
    if (open === undefined) return undefined;
    return this.run<UpstreamStream, UpstreamStream>(
      method,
      ctx,
      { ...o, decode: (s) => s },
      async (deadline, signal) => {
        const s = await open(this.address, method, request, deadline, { signal, metadata: o.metadata });
        const status = s.headers["grpc-status"];
        if (status === undefined) return s;
        // A trailers-only answer: nothing follows; its status is the call's.
        if (!s.stream.closed) s.stream.close();
        const code = Number(status);
        throw new TransportError(
          Number.isInteger(code) && code >= 0 && code <= 16 ? code : Status.UNKNOWN,
          decodeGrpcMessage(String(s.headers["grpc-message"] ?? "")),
          headersToMetadata(s.headers),
        );
      },
    );
  }

  private async run<R, T>(
    method: UpstreamMethod,
    ctx: CallContext,
    o: CallOptions<T, R>,
    send: (deadline: Date, signal: AbortSignal | undefined) => Promise<R>,
  ): Promise<Outcome<T>> {
    const signal = o.signal ?? ctx.signal;
    const started = performance.now();
    let outcome: Outcome<T>;
    if (signal?.aborted) {
      outcome = notSent(this.address, method, Status.CANCELLED, "cancelled by the client", started, "shortfall");
      outcome.shortfall = "cancelled";
    } else if (o.probe) {
      outcome = await this.limit(() => this.attempt(method, ctx, o, send, signal, this.mustWait()));
    } else {
      const r = await this.circuits.run<Outcome<T>>(
        this.address,
        () => this.limit(() => this.attempt(method, ctx, o, send, signal, this.mustWait())),
        verdictOf,
        messageOf,
      );
      outcome =
        r === CIRCUIT_OPEN
          ? notSent(this.address, method, Status.UNAVAILABLE, "circuit open", started, "circuit-open")
          : r;
      // A fan-out or relay that took this client before its address was removed.
      if (this.retired) this.circuits.forget(this.address);
    }
    this.outcomes.publish(eventOf(outcome));
    return outcome;
  }

  /** True when a call starting now has to wait for a slot of the gateway-wide bound. */
  private mustWait(): boolean {
    return this.limit.pendingCount > 0 || this.limit.activeCount >= this.opts.maxUpstreamCalls;
  }

  private async attempt<R, T>(
    method: UpstreamMethod,
    ctx: CallContext,
    o: CallOptions<T, R>,
    send: (deadline: Date, signal: AbortSignal | undefined) => Promise<R>,
    signal: AbortSignal | undefined,
    waited: boolean,
  ): Promise<Outcome<T>> {
    const timeout = this.opts.callTimeoutMs[method];
    const now = this.now();
    const deadline = upstreamDeadline(ctx.deadline, timeout, now);
    if (signal?.aborted) {
      const o = notSent<T>(this.address, method, Status.CANCELLED, "cancelled by the client", 0, "shortfall");
      o.shortfall = "cancelled";
      return o;
    }
    if (deadline.getTime() <= now) {
      // No time left (after waiting for a slot, or already on arrival): the gateway's shortfall.
      const o = notSent<T>(
        this.address,
        method,
        Status.DEADLINE_EXCEEDED,
        waited ? "waited for an upstream call slot until no time was left" : "no time left in the client's deadline",
        0,
        "shortfall",
      );
      o.shortfall = waited ? "queued" : "no-time";
      return o;
    }
    // A timeout counts against the Executor only if it had a fair share of the call timeout:
    // a client sending tiny deadlines must not be able to open every circuit.
    const budget = deadline.getTime() - now;
    const cutShort = budget < timeout / 4;
    const stall = this.opts.stall ?? NO_STALL;
    const stalledBefore = stall.stalledMs();
    const started = performance.now();
    let reply: R;
    try {
      reply = await send(deadline, signal);
    } catch (err) {
      // The gateway could not run for a quarter of the call's time or more: the reply may
      // have been waiting in the socket while the deadline timer fired (issue 14, case 3).
      const stalled = stall.stalledMs() - stalledBefore;
      const overloaded = stalled >= Math.max(20, budget / 4);
      const c = classifyFailure(err, { aborted: signal?.aborted === true, cutShort, overloaded });
      return { address: this.address, method, ...c, durationMs: performance.now() - started };
    }
    const durationMs = performance.now() - started;
    let value: T;
    try {
      value = o.decode(reply);
    } catch (err) {
      const message =
        err instanceof WireError ? `malformed reply: ${err.message}` : `bad reply: ${(err as Error).message}`;
      return {
        address: this.address,
        method,
        code: Status.INTERNAL,
        wireCode: Status.OK,
        message: message.slice(0, 200),
        sent: true,
        durationMs,
        kind: "failed",
      };
    }
    // One object per answered call, one shape (the hot path: every Executor of every fan-out).
    return {
      address: this.address,
      method,
      code: Status.OK,
      wireCode: Status.OK,
      message: "",
      sent: true,
      durationMs,
      kind: "answered",
      value,
    };
  }
}

const verdictOf = (x: Outcome<unknown>): "success" | "failure" | "neutral" => verdict(x.kind);
const messageOf = (x: Outcome<unknown>): string => x.message;

/** A call that never went out (cancelled before, no time, circuit open); `started`: 0 for no duration. */
function notSent<T>(
  address: string,
  method: UpstreamMethod,
  code: Status,
  message: string,
  started: number,
  kind: "shortfall" | "circuit-open",
): Outcome<T> & { kind: "shortfall" | "circuit-open" } {
  return {
    address,
    method,
    code,
    wireCode: code,
    message,
    sent: false,
    durationMs: started === 0 ? 0 : performance.now() - started,
    kind,
  };
}

/** What observers see: the outcome without its value (field by field: no generic rest copy per call). */
function eventOf(o: Outcome<unknown>): OutcomeEvent {
  const e: OutcomeEvent = {
    address: o.address,
    method: o.method,
    code: o.code,
    wireCode: o.wireCode,
    message: o.message,
    sent: o.sent,
    durationMs: o.durationMs,
    kind: o.kind,
  };
  if (o.upstreamCode !== undefined) e.upstreamCode = o.upstreamCode;
  if (o.shortfall !== undefined) e.shortfall = o.shortfall;
  return e;
}
