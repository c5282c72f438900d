/**
 * Fair intake: calls whose request has arrived wait here and are started a slice per
 * event-loop turn, so that a connection with one call in flight does not wait behind
 * the queues of connections with many.
 *
 * Why: node:http2 reads every readable connection in one poll phase, and a handler run
 * as each request is read makes that phase as long as all the calls that arrived in it
 * (64 connections × 8 streams at 2× saturation: turns of 15–50 ms; a light client's reply
 * waits for the rest of the turn, then a turn more for its trailers).
 *
 * The rule, per turn (`sliceCalls` started, then the loop goes back to I/O):
 * - express first: a call that arrived while its connection had no other call open
 *   (queued or running) starts before any other, in arrival order;
 * - then the others, round robin over their connections, each connection's queued calls
 *   together (one connection's replies then leave in one write: started one per
 *   connection per turn instead, 64 connections served 0.5–0.7 × the calls a second);
 *   they get the rest of the slice, and at least a quarter of one however many express
 *   calls wait, so a crowd of light connections cannot starve the busy ones.
 * A connection that keeps many calls in flight thus waits behind its own and the other
 * busy connections' calls; one with a single call in flight waits for at most the slice
 * running when it arrived.
 *
 * Bounded: a queued call holds an open stream, so the queues hold at most
 * connections × SETTINGS_MAX_CONCURRENT_STREAMS entries; `open` counts one per open call
 * and forgets a connection at zero.
 */

/** Starts one queued call; it must not throw (the call answers its own errors). */
export type StartCall = () => void;

export interface FairIntakeOptions {
  /** Calls started per turn before the loop is given back to I/O. */
  sliceCalls: number;
  /** How the next slice is scheduled (setImmediate: after the next poll phase). */
  schedule?: (fn: () => void) => void;
}

export class FairIntake<K extends object> {
  /** Calls open per connection: pushed and not yet `finish`ed. */
  private readonly open = new Map<K, number>();
  private readonly express: StartCall[] = [];
  private readonly queues = new Map<K, StartCall[]>();
  /** Connections with queued (not express) calls, in service order; `cursor` is the next one served. */
  private readonly ring: K[] = [];
  private cursor = 0;
  private scheduled = false;
  private queued = 0;
  private readonly schedule: (fn: () => void) => void;

  constructor(private readonly opts: FairIntakeOptions) {
    if (!Number.isInteger(opts.sliceCalls) || opts.sliceCalls < 1) {
      throw new RangeError(`sliceCalls must be a positive integer, got ${opts.sliceCalls}`);
    }
    this.schedule = opts.schedule ?? ((fn) => void setImmediate(fn));
  }

  /** Calls waiting to start, over all connections. */
  get size(): number {
    return this.queued;
  }

  /**
   * Queues `start` for `key`'s connection. The caller calls `finish(key)` once the call
   * is over (answered, cancelled, or never started), whichever way it ended.
   */
  push(key: K, start: StartCall): void {
    const open = this.open.get(key) ?? 0;
    this.open.set(key, open + 1);
    if (open === 0) this.express.push(start);
    else {
      let q = this.queues.get(key);
      if (q === undefined) {
        q = [];
        this.queues.set(key, q);
        // Before the cursor: served after every connection already waiting.
        this.ring.splice(this.cursor, 0, key);
        this.cursor++;
      }
      q.push(start);
    }
    this.queued++;
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(this.drain);
    }
  }

  /** One call of `key` is over. */
  finish(key: K): void {
    const open = this.open.get(key);
    if (open === undefined) return;
    if (open <= 1) this.open.delete(key);
    else this.open.set(key, open - 1);
  }

  private readonly drain = (): void => {
    this.scheduled = false;
    const { ring, express } = this;
    const limit = this.opts.sliceCalls;
    const slice = express.splice(0, limit);
    // Busy connections always get a quarter of a slice: light ones cannot starve them.
    const end = slice.length + Math.max(limit - slice.length, Math.ceil(limit / 4));
    while (slice.length < end && ring.length > 0) {
      if (this.cursor >= ring.length) this.cursor = 0;
      const key = ring[this.cursor]!;
      const q = this.queues.get(key)!;
      const take = q.splice(0, end - slice.length);
      for (const s of take) slice.push(s);
      if (q.length === 0) {
        this.queues.delete(key);
        ring.splice(this.cursor, 1);
      } else this.cursor++;
    }
    this.queued -= slice.length;
    // Scheduled before the calls start: one that throws cannot stall the rest.
    if (this.queued > 0) {
      this.scheduled = true;
      this.schedule(this.drain);
    }
    for (const start of slice) start();
  };
}
