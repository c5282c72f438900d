/**
 * How long the gateway itself could not run: the event loop's stalls, measured by a
 * short repeating timer (each tick late by more than its interval adds the overrun).
 *
 * Two readings, both cheap: `stalledMs()` is the stall accumulated since start (plus
 * the current tick's pending delay), so a caller can tell how much of an interval the
 * gateway spent unable to run — an upstream call that timed out while the gateway was
 * stalled is the gateway's shortfall, not the Executor's (src/upstream/outcome.ts);
 * `lagMs()` is the sustained lag (a moving average of overruns over some ten ticks),
 * what load shedding reads (src/api/admission.ts, src/http/server.ts).
 */
export interface StallClock {
  /** Stall accumulated so far, ms (monotonic). */
  stalledMs(): number;
  /** Recent event-loop lag, ms. */
  lagMs(): number;
}

export class LoopMonitor implements StallClock {
  private total = 0;
  private last = performance.now();
  private recent = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly intervalMs = 10) {
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  private tick(): void {
    const t = performance.now();
    const over = Math.max(0, t - this.last - this.intervalMs);
    this.total += over;
    // A moving average over some ten ticks: sustained lag (saturation) raises it, one
    // pause (GC, a start-up burst) counts a tenth and fades.
    this.recent = this.recent * 0.9 + over * 0.1;
    this.last = t;
  }

  private pending(): number {
    return Math.max(0, performance.now() - this.last - this.intervalMs);
  }

  stalledMs(): number {
    return this.total + this.pending();
  }

  lagMs(): number {
    return this.recent;
  }

  close(): void {
    clearInterval(this.timer);
  }
}

/** A clock that never stalls (unit tests, tools). */
export const NO_STALL: StallClock = { stalledMs: () => 0, lagMs: () => 0 };
