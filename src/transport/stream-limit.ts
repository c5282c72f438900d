/**
 * How many streams each client connection may open (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS),
 * adapted to the gateway's own queue: HTTP/2's backpressure, moving the wait of a
 * flood to its clients, where it costs the gateway nothing.
 *
 * Why: a call queued in the gateway holds node:http2's stream objects until it is
 * answered. 64 connections × 8 streams at 2× saturation kept 512 calls waiting 37 ms at
 * p50 (111 ms at p99) in the intake, longer than V8's scavenges are apart, so those
 * objects were promoted (45 MB/s) and fed mark-compacts that paused the loop for
 * 40–230 ms (with runtime.heapGrowingPercent, src/core/runtime.ts, the other half of the
 * fix: 15–33 ms). Held to 1–2 streams a connection the calls die young
 * (bench/results/2026-12-03-ab2/).
 *
 * The rule, once an interval (AIMD, on CoDel's standing delay of src/transport/fair-intake.ts):
 * - the standing delay over `targetMs`: the limit falls by a quarter (at least by one),
 *   down to MIN_STREAMS;
 * - under half of it for CALM_INTERVALS in a row, and each interval after: the limit rises
 *   by one, up to `max` (api.maxStreamsPerConnection);
 * - between the two: it holds.
 * Rising only after a calm spell: just after a fall the clients hold their next calls
 * until their open streams are under the new limit, so the queue empties for an interval
 * whatever the load; rising then made the limit swing (4–6 under a flood that needed 2).
 * The limit is told to the busy connections only: those that queued a call behind another
 * of theirs while the delay was over the target. A connection with one call at a time is
 * never held back (told 1 like the others, a bystander's next call waited at its own side
 * for its last, and one GC pause queued its calls behind each other: admitted p99 19.5 ×
 * unloaded). A connection told stays so until the limit is back at `max`, and its calls
 * never take the intake's express lane (held to one stream, each would be its
 * connection's only call and crowd out the light clients it is for).
 */

/** How often the limit is adjusted (CoDel's interval). */
export const STREAM_LIMIT_INTERVAL_MS = 100;

/** The least a connection is lowered to (or `max`, if smaller). */
export const MIN_STREAMS = 1;

/** Intervals in a row without a standing queue before the limit rises. */
export const CALM_INTERVALS = 5;

export class AdaptiveStreamLimit {
  private limit: number;
  /** Intervals in a row under half the target. */
  private calm = 0;

  constructor(
    /** The most streams a connection may open (the configured setting). */
    readonly max: number,
    /** The standing delay the intake may keep, ms. */
    readonly targetMs: number,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be a positive integer, got ${max}`);
    if (!(targetMs > 0)) throw new RangeError(`targetMs must be positive, got ${targetMs}`);
    this.limit = max;
  }

  get current(): number {
    return this.limit;
  }

  /** One interval's standing delay, ms → the limit from now on. */
  next(standingDelayMs: number): number {
    if (standingDelayMs > this.targetMs) {
      this.calm = 0;
      const floor = Math.min(MIN_STREAMS, this.max);
      this.limit = Math.max(floor, Math.min(this.limit - 1, Math.floor((this.limit * 3) / 4)));
    } else if (standingDelayMs < this.targetMs / 2) {
      if (++this.calm >= CALM_INTERVALS) this.limit = Math.min(this.max, this.limit + 1);
    } else this.calm = 0;
    return this.limit;
  }
}
