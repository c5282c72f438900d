/**
 * Which client calls the gateway takes on: at most `maxConcurrentCalls` at once
 * gateway-wide and `maxConcurrentCallsPerConnection` per client connection (more get
 * RESOURCE_EXHAUSTED at once rather than queueing until everything collapses), and
 * none once draining for shutdown (UNAVAILABLE, so clients go elsewhere).
 *
 * Load shedding (issue 14, item 3), refused at once with RESOURCE_EXHAUSTED and a
 * `grpc-retry-pushback-ms` hint, before any work:
 * - `overloaded`: while the event loop's sustained lag is over `api.shedLagMs`, a share
 *   of new calls that grows until the lag is back at the target (the gateway is behind,
 *   and calls taken on now would wait behind the backlog);
 * - `deadline`: the client's remaining time is shorter than what calls of this method
 *   take now (a moving average over admitted calls that succeeded, and those that ran
 *   out of their deadline, at the time they took): never start work that cannot finish
 *   in the client's deadline. Once a second a call is let through anyway, so the
 *   average follows a recovery it would otherwise never see.
 */
import { status as Status } from "@grpc/grpc-js";
import { GatewayError } from "../core/errors";
import { Topic } from "../core/topic";

export interface AdmissionOptions {
  maxConcurrentCalls: number;
  maxConcurrentCallsPerConnection: number;
  /** Refuse new calls while the event loop lags more than this, ms (0 or absent: off). */
  shedLagMs?: number;
  /** The event loop's recent lag (src/core/loop-monitor.ts). */
  lagMs?: () => number;
}

export type AdmissionRefusal = "draining" | "global" | "connection" | "overloaded" | "deadline";

/** What a call says about itself at admission (the deadline check needs both). */
export interface AdmissionRequest {
  method?: string;
  /** Time left in the client's deadline, ms. */
  remainingMs?: number;
}

/** Samples of a method before its average is trusted for the deadline check. */
const WARM_SAMPLES = 20;

/**
 * With no call of a method seen for this long, the deadline check lets one through: it
 * is the average's only news while every call is refused (one per interval).
 */
export const DEADLINE_PROBE_MS = 1000;

/** Retry hint of a shedding refusal. */
const RETRY_PUSHBACK_MS = 250;

export class CallAdmission {
  private inFlight = 0;
  /** Calls in flight per connection (peer address); entries live only while calls do. */
  private readonly perConnection = new Map<string, number>();
  private draining = false;
  /** Moving average of calls' durations (successes and deadline expiries), by method; `at`: the last sample or probe. */
  private readonly took = new Map<string, { avg: number; n: number; at: number }>();
  /** Share of new calls refused for lag (0..1), and when it was last adjusted. */
  private dropShare = 0;
  private adjustedAt = performance.now();
  private idleWaiters: (() => void)[] = [];
  /** Each refused call, by why (metrics). */
  readonly refusals = new Topic<AdmissionRefusal>();

  private readonly sampler?: NodeJS.Timeout;

  constructor(private readonly opts: AdmissionOptions) {
    const { shedLagMs, lagMs } = opts;
    if (shedLagMs && lagMs) {
      this.sampler = setInterval(() => this.adjust(lagMs(), shedLagMs), 50);
      this.sampler.unref();
    }
  }

  /** Stops the lag sampling (the gateway's stop). */
  close(): void {
    clearInterval(this.sampler);
  }

  get active(): number {
    return this.inFlight;
  }

  private refuse(why: AdmissionRefusal, err: GatewayError): never {
    this.refusals.publish(why);
    throw err;
  }

  /** What calls of `method` take now (ms), once enough have been seen. */
  expectedMs(method: string): number | undefined {
    const t = this.took.get(method);
    return t && t.n >= WARM_SAMPLES ? t.avg : undefined;
  }

  /**
   * An admitted call of `method` took `ms`: the pipeline reports every one that succeeded,
   * and every one that ran out of its deadline (it would have taken at least that).
   */
  observe(method: string, ms: number): void {
    const t = this.took.get(method);
    const at = performance.now();
    if (t === undefined) this.took.set(method, { avg: ms, n: 1, at });
    else {
      t.avg += (ms - t.avg) * 0.1;
      t.n++;
      t.at = at;
    }
  }

  /**
   * Every 50 ms, on a timer: the share of new calls refused grows by a tenth for each
   * period the lag is over its target and shrinks the same way below it, so calls are
   * shed just enough to keep the lag at the target and the admitted ones fill the
   * capacity (refusing every call at once would leave it idle between swings). Sampled
   * on a timer, not when calls come: a quiet spell is read as the quiet it was (a timer
   * that fires late is itself the evidence that the loop was behind), so the first call
   * after one does not meet a share of 1 built from a single reading. Under half the
   * target the gateway is not behind: nothing is refused.
   */
  private adjust(lag: number, target: number): void {
    const t = performance.now();
    const periods = Math.floor((t - this.adjustedAt) / 50);
    if (periods <= 0) return;
    this.adjustedAt += periods * 50;
    const step = 0.1 * Math.min(periods, 10);
    if (lag > target) this.dropShare = Math.min(1, this.dropShare + step);
    else this.dropShare = lag < target / 2 ? 0 : Math.max(0, this.dropShare - step);
  }

  /** No sample of `method` for DEADLINE_PROBE_MS: this call goes through (and the clock restarts). */
  private probeDue(method: string): boolean {
    const t = this.took.get(method)!;
    const now = performance.now();
    if (now - t.at < DEADLINE_PROBE_MS) return false;
    t.at = now;
    return true;
  }

  private shed(why: "overloaded" | "deadline", message: string): never {
    this.refuse(why, new GatewayError(Status.RESOURCE_EXHAUSTED, message, { retryAfterMs: RETRY_PUSHBACK_MS }));
  }

  /** Admits one call from `peer` or throws an GatewayError; call the returned release once when done. */
  enter(peer: string, call: AdmissionRequest = {}): () => void {
    if (this.draining) this.refuse("draining", new GatewayError(Status.UNAVAILABLE, "the gateway is shutting down"));
    const { shedLagMs, lagMs } = this.opts;
    if (shedLagMs && lagMs && this.dropShare > 0 && Math.random() < this.dropShare) {
      this.shed(
        "overloaded",
        `the gateway is overloaded (event loop ${Math.round(lagMs())} ms behind, api.shedLagMs = ${shedLagMs}); retry later`,
      );
    }
    if (call.method !== undefined && call.remainingMs !== undefined) {
      const expected = this.expectedMs(call.method);
      if (expected !== undefined && call.remainingMs < expected && !this.probeDue(call.method)) {
        this.shed(
          "deadline",
          `${call.method} takes about ${Math.round(expected)} ms now; ${Math.round(call.remainingMs)} ms left in the deadline is not enough`,
        );
      }
    }
    if (this.inFlight >= this.opts.maxConcurrentCalls) {
      this.refuse(
        "global",
        new GatewayError(
          Status.RESOURCE_EXHAUSTED,
          `too many calls in flight (api.maxConcurrentCalls = ${this.opts.maxConcurrentCalls}); retry later`,
        ),
      );
    }
    const mine = this.perConnection.get(peer) ?? 0;
    if (mine >= this.opts.maxConcurrentCallsPerConnection) {
      this.refuse(
        "connection",
        new GatewayError(
          Status.RESOURCE_EXHAUSTED,
          `too many calls in flight on this connection (api.maxConcurrentCallsPerConnection = ${this.opts.maxConcurrentCallsPerConnection})`,
        ),
      );
    }
    this.inFlight++;
    this.perConnection.set(peer, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight--;
      const left = (this.perConnection.get(peer) ?? 1) - 1;
      if (left <= 0) this.perConnection.delete(peer);
      else this.perConnection.set(peer, left);
      if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
    };
  }

  /** Refuses new calls from now on; resolves true when in-flight calls finished, false after `graceMs`. */
  drain(graceMs: number): Promise<boolean> {
    this.draining = true;
    if (this.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), graceMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  get isDraining(): boolean {
    return this.draining;
  }
}
