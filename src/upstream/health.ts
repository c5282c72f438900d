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
import { Topic } from "../core/topic";

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

/** What a call's outcome means for the circuit: the ExecutorClient decides (src/upstream/outcome.ts). */
export type Verdict = "success" | "failure" | "neutral";

/** Returned instead of calling an Executor whose circuit is open. */
export const CIRCUIT_OPEN = Symbol("circuit open");

/** Carries a judged result through cockatiel, which counts only what it sees thrown. */
class Judged<T> extends Error {
  constructor(
    readonly result: T,
    readonly counted: boolean,
  ) {
    super("judged");
  }
}

export interface CircuitChange {
  address: string;
  state: CircuitStateName;
}

interface Entry {
  breaker: CircuitBreakerPolicy;
  listener: { dispose(): void };
  view: ExecutorHealthState;
}

const STATE_NAMES: Record<CircuitState, CircuitStateName> = {
  [CircuitState.Closed]: "closed",
  [CircuitState.Open]: "open",
  [CircuitState.HalfOpen]: "half-open",
  [CircuitState.Isolated]: "open",
};

export class ExecutorHealth {
  private readonly entries = new Map<string, Entry>();
  /** Executors whose circuit probe is ending neutral right now (at most the probes in flight). */
  private readonly neutralProbes = new Set<string>();
  /** Every circuit state change (metrics, logs). */
  readonly changes = new Topic<CircuitChange>();

  constructor(private readonly opts: HealthOptions) {}

  private entry(address: string): Entry {
    let e = this.entries.get(address);
    if (e === undefined) {
      const view: ExecutorHealthState = { address, state: "closed", consecutiveFailures: 0, skipped: 0 };
      e = { view, ...this.breaker(view) };
      this.entries.set(address, e);
    }
    return e;
  }

  /** A circuit for `view` (from a saved state: `initialState`), publishing its changes. */
  private breaker(
    view: ExecutorHealthState,
    initialState?: unknown,
  ): { breaker: CircuitBreakerPolicy; listener: { dispose(): void } } {
    const breaker = circuitBreaker(
      handleWhen((err) => err instanceof Judged && err.counted),
      {
        breaker: new ConsecutiveBreaker(this.opts.failures),
        halfOpenAfter: new ExponentialBackoff({
          // Each Executor has its own circuit, so there is no herd to spread out.
          generator: noJitterGenerator,
          initialDelay: this.opts.halfOpenAfterMs,
          maxDelay: Math.max(this.opts.halfOpenAfterMs, this.opts.maxHalfOpenAfterMs),
        }),
        initialState,
      },
    );
    const listener = breaker.onStateChange((s) => {
      // A neutral probe's "closed" is undone at once (`reopen`): not a change to report.
      if (s === CircuitState.Closed && this.neutralProbes.has(view.address)) return;
      view.state = STATE_NAMES[s];
      this.changes.publish({ address: view.address, state: view.state });
    });
    return { breaker, listener };
  }

  /**
   * Runs one attempt on the Executor under its circuit; `judge` says what its result
   * means: a "failure" counts against the Executor, a "success" closes a half-open
   * circuit, "neutral" (the gateway's own shortfall) changes nothing. Returns
   * CIRCUIT_OPEN without running `attempt` when the circuit is open (or its one probe
   * is already in flight: cockatiel would make the others wait for it).
   */
  async run<T>(
    address: string,
    attempt: () => Promise<T>,
    judge: (result: T) => Verdict,
    describe: (result: T) => string = () => "failed",
  ): Promise<T | typeof CIRCUIT_OPEN> {
    const e = this.entry(address);
    if (e.breaker.state === CircuitState.HalfOpen) {
      e.view.skipped++;
      return CIRCUIT_OPEN;
    }
    // An open circuit's state before a possible probe: a neutral probe puts it back (see below).
    const wasOpen = e.breaker.state === CircuitState.Open ? e.breaker.toJSON() : undefined;
    const started = performance.now();
    let ran = false;
    let neutralProbe = false;
    try {
      const result = await e.breaker.execute(async () => {
        ran = true;
        const r = await attempt();
        const verdict = judge(r);
        neutralProbe = verdict === "neutral" && wasOpen !== undefined;
        if (neutralProbe) this.neutralProbes.add(address);
        if (verdict !== "success") throw new Judged(r, verdict === "failure");
        return r;
      });
      e.view.consecutiveFailures = 0;
      e.view.lastSuccessAt = Date.now();
      e.view.lastLatencyMs = Math.round(performance.now() - started);
      return result;
    } catch (err) {
      if (!ran && err instanceof BrokenCircuitError) {
        e.view.skipped++;
        return CIRCUIT_OPEN;
      }
      if (!(err instanceof Judged)) throw err;
      const result = err.result as T;
      // cockatiel closes a half-open circuit on any error it does not count ("task failed
      // successfully"), resetting the back-off: a probe ended by the gateway's own shortfall
      // would let the whole load through to a failing Executor. It said nothing: reopen as before.
      if (!err.counted && wasOpen !== undefined && ran) this.reopen(e, wasOpen);
      if (err.counted) {
        e.view.lastLatencyMs = Math.round(performance.now() - started);
        e.view.consecutiveFailures++;
        e.view.lastFailureAt = Date.now();
        e.view.lastFailure = describe(result).slice(0, 200);
      }
      return result;
    } finally {
      if (neutralProbe) this.neutralProbes.delete(address);
    }
  }

  /** Puts a circuit back in a saved open state (its back-off elapsed: the next call probes). */
  private reopen(e: Entry, saved: unknown): void {
    e.listener.dispose();
    Object.assign(e, this.breaker(e.view, saved));
    if (e.view.state !== "open") {
      e.view.state = "open";
      this.changes.publish({ address: e.view.address, state: "open" });
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
