/**
 * Per-Executor health: one cockatiel circuit breaker per Executor address.
 *
 * `failures` consecutive failures open the circuit; while open the Executor is not
 * called at all (the fan-out reports it failed at once instead of spending its
 * deadline on it). After a back-off (`halfOpenAfterMs`, doubling up to
 * `maxHalfOpenAfterMs` while probes keep failing) the next call is let through as a
 * probe: success closes the circuit, failure opens it again. Calls that arrive while
 * the probe is in flight are skipped too (cockatiel would make them wait for it).
 *
 * Entries exist only for addresses of the Executor set, so the map is bounded by
 * `executors.maxExecutors`.
 */
import * as grpc from "@grpc/grpc-js";
import {
  BrokenCircuitError,
  CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  circuitBreaker,
  handleWhen,
  noJitterGenerator,
} from "cockatiel";
import { classifyUpstreamError } from "./errors";

export interface HealthOptions {
  /** Consecutive failures that open the circuit. */
  failures: number;
  /** First back-off before a probe. */
  halfOpenAfterMs: number;
  /** Longest back-off between probes. */
  maxHalfOpenAfterMs: number;
}

export type CircuitStateName = "closed" | "open" | "half-open";

export interface ExecutorHealthState {
  address: string;
  state: CircuitStateName;
  consecutiveFailures: number;
  /** Duration of the last completed call, ms (undefined before the first). */
  lastLatencyMs?: number;
  lastFailure?: string;
  lastSuccessAt?: number;
  lastFailureAt?: number;
  /** Calls skipped because the circuit was open. */
  skipped: number;
}

/** Thrown instead of calling an Executor whose circuit is open. */
export class CircuitOpenError extends Error {
  override name = "CircuitOpenError";
  constructor(readonly address: string) {
    super("circuit open");
  }
}

/**
 * An error the Executor is not to blame for: the caller cancelled, or the call ran
 * out of a deadline the *client* shortened (a hostile client with tiny deadlines
 * must not be able to open every circuit).
 */
export class NotCountedError extends Error {
  override name = "NotCountedError";
  constructor(readonly inner: unknown) {
    super((inner as Error)?.message ?? String(inner));
  }
}

interface Entry {
  breaker: CircuitBreakerPolicy;
  view: ExecutorHealthState;
}

const STATE_NAMES: Record<CircuitState, CircuitStateName> = {
  [CircuitState.Closed]: "closed",
  [CircuitState.Open]: "open",
  [CircuitState.HalfOpen]: "half-open",
  [CircuitState.Isolated]: "open",
};

function errorCode(err: unknown): number | undefined {
  const c = (err as { code?: unknown })?.code;
  return typeof c === "number" ? c : undefined;
}

/**
 * Failures that count against an Executor: it was unreachable, timed out, or sent
 * something unusable. Application answers (not found, invalid argument, permission)
 * are answers, and cancellations are the caller's doing.
 */
export function countsAsFailure(err: unknown): boolean {
  if (err instanceof NotCountedError) return false;
  if (errorCode(err) === undefined) return true; // malformed or oversize reply, local error
  // Executors send application errors as UNKNOWN with an embedded code (XDAT0004, ...).
  const code = classifyUpstreamError(err).code;
  return ![
    grpc.status.OK,
    grpc.status.CANCELLED,
    grpc.status.NOT_FOUND,
    grpc.status.INVALID_ARGUMENT,
    grpc.status.PERMISSION_DENIED,
    grpc.status.UNAUTHENTICATED,
    grpc.status.FAILED_PRECONDITION,
  ].includes(code);
}

export class ExecutorHealth {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners: ((address: string, state: CircuitStateName) => void)[] = [];

  constructor(private readonly opts: HealthOptions) {}

  /** Called on every circuit state change (metrics, logs). */
  onStateChange(fn: (address: string, state: CircuitStateName) => void): void {
    this.listeners.push(fn);
  }

  private entry(address: string): Entry {
    let e = this.entries.get(address);
    if (e === undefined) {
      const breaker = circuitBreaker(
        handleWhen((err) => countsAsFailure(err)),
        {
          breaker: new ConsecutiveBreaker(this.opts.failures),
          halfOpenAfter: new ExponentialBackoff({
            // Each Executor has its own circuit, so there is no herd to spread out.
            generator: noJitterGenerator,
            initialDelay: this.opts.halfOpenAfterMs,
            maxDelay: Math.max(this.opts.halfOpenAfterMs, this.opts.maxHalfOpenAfterMs),
          }),
        },
      );
      const view: ExecutorHealthState = { address, state: "closed", consecutiveFailures: 0, skipped: 0 };
      breaker.onStateChange((s) => {
        view.state = STATE_NAMES[s];
        for (const fn of this.listeners) fn(address, view.state);
      });
      e = { breaker, view };
      this.entries.set(address, e);
    }
    return e;
  }

  /**
   * Runs one call to the Executor under its circuit. Rejects with CircuitOpenError
   * without calling `fn` when the circuit is open (or a probe is already in flight).
   * `fn` may throw NotCountedError to fail without counting against the Executor.
   */
  async run<T>(address: string, fn: () => Promise<T>): Promise<T> {
    const e = this.entry(address);
    if (e.breaker.state === CircuitState.HalfOpen) {
      e.view.skipped++;
      throw new CircuitOpenError(address);
    }
    const started = performance.now();
    let ran = false;
    // Application answers (not found, ...) reach cockatiel as successes: the Executor is up.
    type Outcome = { value: T } | { answer: unknown };
    try {
      const outcome: Outcome = await e.breaker.execute(async (): Promise<Outcome> => {
        ran = true;
        try {
          return { value: await fn() };
        } catch (err) {
          if (err instanceof NotCountedError || countsAsFailure(err)) throw err;
          return { answer: err };
        }
      });
      e.view.consecutiveFailures = 0;
      e.view.lastSuccessAt = Date.now();
      e.view.lastLatencyMs = Math.round(performance.now() - started);
      if ("answer" in outcome) throw outcome.answer;
      return outcome.value;
    } catch (err) {
      if (!ran) {
        if (err instanceof BrokenCircuitError) {
          e.view.skipped++;
          throw new CircuitOpenError(address);
        }
        throw err;
      }
      if (err instanceof NotCountedError) throw err.inner;
      if (countsAsFailure(err)) {
        e.view.lastLatencyMs = Math.round(performance.now() - started);
        e.view.consecutiveFailures++;
        e.view.lastFailureAt = Date.now();
        e.view.lastFailure = (
          (err as { details?: string; message?: string })?.details ||
          (err as Error)?.message ||
          String(err)
        ).slice(0, 200);
      }
      throw err;
    }
  }

  /** The state of one Executor (closed for one never called). */
  state(address: string): ExecutorHealthState {
    const e = this.entries.get(address);
    return e ? { ...e.view } : { address, state: "closed", consecutiveFailures: 0, skipped: 0 };
  }

  /** Every Executor's state, for metrics, `/v1/executors` and the CLI. */
  snapshot(addresses?: readonly string[]): ExecutorHealthState[] {
    return (addresses ?? [...this.entries.keys()]).map((a) => this.state(a));
  }

  /** Forgets an Executor that left the set. */
  forget(address: string): void {
    this.entries.delete(address);
  }

  get size(): number {
    return this.entries.size;
  }
}
