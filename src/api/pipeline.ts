/**
 * The one request pipeline, shared by the gRPC service and the HTTP/JSON routes: a
 * short list of composable steps around a handler (the model: nice-grpc's
 * composeServerMiddleware). In order:
 *
 *   request id -> observe (log line, served-call event for metrics) -> errors (one
 *   error type out: anything else becomes INTERNAL) -> deadline and abort -> admission
 *   (concurrency limits, draining) -> handler
 *
 * Admission runs after the deadline step so that it can refuse early using the
 * client's deadline (load shedding). Each side adapts its call to a `ServedCall` and
 * renders the result or the GatewayError through the one status catalog
 * (src/core/errors.ts).
 */
import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import { status as Status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { GatewayError, toGatewayError } from "../core/errors";
import type { CacheStatus } from "../core/reader";
import type { CallContext } from "../core/report";
import { Topic } from "../core/topic";
import type { CallAdmission } from "./admission";
import type { Delivery } from "./delivery";

export const REQUEST_HEADER = {
  consistency: "dai-consistency",
  cacheControl: "dai-cache-control",
  requestId: "x-request-id",
  /** GetTaskById: ask for the Executors that returned a copy (trailer dai-executors-holding). */
  holders: "dai-holders",
} as const;

/** One incoming call, as either side presents it. */
export interface ServedCall {
  /** The Task API method ("ListTask", ...) or the route ("GET /v1/executors"): metrics and log label. */
  readonly method: string;
  readonly transport: "grpc" | "http";
  /** The client connection (admission counts calls per connection). */
  readonly peer: string;
  header(name: string): string | undefined;
  /** The client's deadline (Unix ms), when it sent one. */
  readonly clientDeadline?: number;
  /** Calls `fn` if the client goes away before it was answered. */
  onGone(fn: () => void): void;
  /**
   * onGone may be asked late: it calls `fn` at once when the client already went away.
   * The pipeline then asks only when something needs the call's abort signal.
   */
  readonly lateGone?: boolean;
  /** The call was admitted by its transport already (from its headers): this releases its slot. */
  readonly admitted?: () => void;
  /** When the side can tell: settles once the client has the reply or has gone (prediction relays hold their bytes until then). */
  readonly delivery?: () => Delivery;
}

/** What a handler gets: the data path's CallContext, plus what the steps report. */
export interface ServedContext extends CallContext {
  readonly call: ServedCall;
  /** Set by the handler: how the cache answered (metrics). */
  cache?: CacheStatus;
  /** The request ID is the client's x-request-id. */
  clientRequestId?: boolean;
  /**
   * Set by a handler whose call goes on after its own work (a streamed prediction relay,
   * paced by the client's reading): the ms of that work, which the admission's
   * deadline rule learns instead of the whole call's duration.
   */
  workMs?: number;
}

export type Next<R> = () => Promise<R>;

/** One step: does its part around `next` (the rest of the pipeline). */
export type Step = <R>(ctx: ServedContext, next: Next<R>) => Promise<R>;

/** Every served call, after it ended (metrics). */
export interface ServedEvent {
  method: string;
  transport: "grpc" | "http";
  code: Status;
  durationMs: number;
  cache?: CacheStatus;
}

/** Composes steps into one function: steps[0] runs first and outermost. */
export function compose(
  steps: readonly Step[],
): <R>(ctx: ServedContext, handler: (ctx: ServedContext) => Promise<R>) => Promise<R> {
  return <R>(ctx: ServedContext, handler: (ctx: ServedContext) => Promise<R>): Promise<R> => {
    const run = (i: number): Promise<R> => {
      const step = steps[i];
      return step === undefined ? handler(ctx) : step<R>(ctx, () => run(i + 1));
    };
    return run(0);
  };
}

const REQUEST_ID = /^[\w.:-]{1,64}$/;

/** Fresh request IDs: one random UUID per process, then a counter (no crypto per call). */
const ID_PREFIX = randomUUID().slice(0, 23);
let idSeq = 0;
export function freshRequestId(): string {
  idSeq = (idSeq + 1) % 0x1000000000000;
  return `${ID_PREFIX}-${idSeq.toString(16).padStart(12, "0")}`;
}

/** A client-supplied x-request-id when it is short and plain, else a fresh (UUID-shaped) ID. */
export const requestIdStep: Step = (ctx, next) => {
  const given = ctx.call.header(REQUEST_HEADER.requestId);
  if (given !== undefined && REQUEST_ID.test(given)) {
    ctx.requestId = given;
    ctx.clientRequestId = true;
  } else ctx.requestId = freshRequestId();
  return next();
};

/** Of the cache hits the client did not name (no x-request-id), one in this many logs its `served` line. */
export const HIT_LOG_SAMPLE = 100;

/** One log line and one served-call event per call, with its final status. */
export function observeStep(log: Logger, served: Topic<ServedEvent>): Step {
  let hits = 0;
  return async (ctx, next) => {
    const started = performance.now();
    const finish = (code: Status): void => {
      const durationMs = performance.now() - started;
      served.publish({ method: ctx.call.method, transport: ctx.call.transport, code, durationMs, cache: ctx.cache });
      // A cache hit is a lookup and a write: its log line would cost more than the hit, so
      // hits the client did not name are logged one in HIT_LOG_SAMPLE (metrics count them all).
      if (code === Status.OK && ctx.cache === "hit" && !ctx.clientRequestId && hits++ % HIT_LOG_SAMPLE !== 0) return;
      log.info(
        {
          requestId: ctx.requestId,
          method: ctx.call.method,
          api: ctx.call.transport,
          code: Status[code],
          ms: Math.round(durationMs),
        },
        "served",
      );
    };
    try {
      const r = await next();
      finish(Status.OK);
      return r;
    } catch (err) {
      // A load-shedding refusal (it carries a retry hint) is counted but not logged one by
      // one: under overload the log line would cost more than the refusal itself.
      if (err instanceof GatewayError && err.retryAfterMs !== undefined) {
        served.publish({
          method: ctx.call.method,
          transport: ctx.call.transport,
          code: err.code,
          durationMs: performance.now() - started,
        });
        throw err;
      }
      finish(err instanceof GatewayError ? err.code : Status.INTERNAL);
      throw err;
    }
  };
}

/** One error type leaves the pipeline: anything but a GatewayError is logged and becomes INTERNAL. */
export function errorStep(log: Logger): Step {
  return async (ctx, next) => {
    try {
      return await next();
    } catch (err) {
      const { error, unexpected } = toGatewayError(err);
      if (unexpected) log.error({ requestId: ctx.requestId, method: ctx.call.method, err }, "unexpected error");
      throw error;
    }
  };
}

/**
 * The call's deadline (the client's, or the default for its method when it sent none:
 * src/config/deadlines.ts), and an abort when the client goes away.
 */
export function deadlineStep(defaultDeadlineMs: (call: ServedCall) => number, now: () => number = Date.now): Step {
  return (ctx, next) => {
    ctx.deadline = ctx.call.clientDeadline ?? now() + defaultDeadlineMs(ctx.call);
    if (ctx instanceof CallState) ctx.abortWhenGone();
    else {
      const abort = abortController();
      ctx.call.onGone(() => abort.abort());
      ctx.signal = abort.signal;
    }
    return next();
  };
}

function abortController(): AbortController {
  const abort = new AbortController();
  // One abort listener per upstream call; their number is bounded by the Executor cap.
  setMaxListeners(0, abort.signal);
  return abort;
}

/**
 * The context the pipeline makes for each call. Its abort signal is made when something
 * asks for it (a fan-out does; a cache hit never does): no AbortController per hit.
 */
class CallState implements ServedContext {
  deadline = 0;
  requestId = "";
  cache?: CacheStatus;
  clientRequestId?: boolean;
  private abort?: AbortController;
  private gone = false;

  constructor(readonly call: ServedCall) {}

  private watching = false;

  /** From now on the client going away aborts the signal (deadlineStep). */
  abortWhenGone(): void {
    this.watching = true;
    if (!this.call.lateGone) this.watchGone();
  }

  private watchGone(): void {
    this.call.onGone(() => {
      this.gone = true;
      this.abort?.abort();
    });
  }

  get signal(): AbortSignal {
    if (this.abort === undefined) {
      this.abort = abortController();
      if (this.watching && this.call.lateGone) this.watchGone();
      if (this.gone) this.abort.abort();
    }
    return this.abort.signal;
  }
}

/** What a call that ran out of time is counted as having needed, × its time (the deadline rule). */
const DEADLINE_OVERRUN = 1.25;

/**
 * Admission: a call whose deadline has already passed is refused before any work
 * (DEADLINE_EXCEEDED); otherwise the admission counter refuses (RESOURCE_EXHAUSTED /
 * UNAVAILABLE while draining) or holds a slot until the call ends. Load shedding that
 * refuses early by the time a call would need belongs here too.
 */
export function admissionStep(admission: CallAdmission, now: () => number = Date.now): Step {
  return async (ctx, next) => {
    if (ctx.deadline <= now()) {
      ctx.call.admitted?.();
      throw new GatewayError(Status.DEADLINE_EXCEEDED, "the call's deadline passed before it was admitted");
    }
    const started = now();
    const release =
      ctx.call.admitted ??
      admission.enter(ctx.call.peer, { method: ctx.call.method, remainingMs: ctx.deadline - started });
    try {
      const r = await next();
      admission.observe(ctx.call.method, ctx.workMs ?? now() - started);
      return r;
    } catch (err) {
      // A call that ran out of time (DEADLINE_EXCEEDED, or any failure once its deadline
      // passed: the abort the timer caused) needed more than it had: counted as its whole
      // time and a quarter more. Without it the average saw only the calls fast enough to
      // succeed, and calls that could not finish in time kept being started.
      const t = now();
      if (t >= ctx.deadline || (err instanceof GatewayError && err.code === Status.DEADLINE_EXCEEDED)) {
        admission.observe(ctx.call.method, (Math.max(t, ctx.deadline) - started) * DEADLINE_OVERRUN);
      }
      throw err;
    } finally {
      release();
    }
  };
}

export interface PipelineOptions {
  /** Deadline of a call whose client sent none (src/config/deadlines.ts). */
  defaultDeadlineMs: number;
  /** The same for GetPredictResult (default: defaultDeadlineMs). */
  predictDeadlineMs?: number;
  admission?: CallAdmission;
}

/** The pipeline both sides use, and the topic of its served calls. */
export class RequestPipeline {
  readonly served = new Topic<ServedEvent>();
  private readonly run: ReturnType<typeof compose>;

  constructor(opts: PipelineOptions, log: Logger) {
    const steps: Step[] = [
      requestIdStep,
      observeStep(log, this.served),
      errorStep(log),
      deadlineStep((call) =>
        call.method === "GetPredictResult"
          ? (opts.predictDeadlineMs ?? opts.defaultDeadlineMs)
          : opts.defaultDeadlineMs,
      ),
    ];
    if (opts.admission) steps.push(admissionStep(opts.admission));
    this.run = compose(steps);
  }

  /** Serves one call: resolves with the handler's result or rejects with a GatewayError. */
  serve<R>(call: ServedCall, handler: (ctx: ServedContext) => Promise<R>): Promise<R> {
    return this.run(new CallState(call), handler);
  }
}
