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
 *
 * The standing delay (`takeStandingDelay`, CoDel's signal): each turn notes how long the
 * oldest call it started had waited; the least of these over an interval is the queue
 * that did not drain in it. A burst does not raise it (some turn in the interval catches
 * up), nor does a light client's express call hide it (the oldest call of each turn
 * counts, not the newest).
 */

/** Starts one queued call; it must not throw (the call answers its own errors). */
export type StartCall = () => void;

export interface FairIntakeOptions<K = object> {
  /** Calls started per turn before the loop is given back to I/O. */
  sliceCalls: number;
  /** How the next slice is scheduled (setImmediate: after the next poll phase). */
  schedule?: (fn: () => void) => void;
  /** The clock of the waits, ms (performance.now). */
  now?: () => number;
  /**
   * Whether a connection's only open call may go first; false for a connection known
   * busy (told fewer streams, src/transport/stream-limit.ts: held to one, each of its
   * calls would otherwise be its only one and crowd the light clients' lane).
   */
  mayExpress?: (key: K) => boolean;
}

/** A connection's queued calls and when each was queued (parallel arrays: no object per call). */
interface Queue {
  calls: StartCall[];
  at: number[];
}

export class FairIntake<K extends object> {
  /** Calls open per connection: pushed and not yet `finish`ed. */
  private readonly open = new Map<K, number>();
  private readonly express: StartCall[] = [];
  private readonly expressAt: number[] = [];
  private readonly queues = new Map<K, Queue>();
  /** Connections with queued (not express) calls, in service order; `cursor` is the next one served. */
  private readonly ring: K[] = [];
  private cursor = 0;
  private scheduled = false;
  private queued = 0;
  private readonly schedule: (fn: () => void) => void;
  private readonly now: () => number;
  /** The least, over the turns since the last `takeStandingDelay`, of the wait of each turn's oldest started call. */
  private leastOldestWait = Infinity;
  /** Connections that queued a call behind another of theirs since the last `takeBusy`. */
  private busy = new Set<K>();

  constructor(private readonly opts: FairIntakeOptions<K>) {
    if (!Number.isInteger(opts.sliceCalls) || opts.sliceCalls < 1) {
      throw new RangeError(`sliceCalls must be a positive integer, got ${opts.sliceCalls}`);
    }
    this.schedule = opts.schedule ?? ((fn) => void setImmediate(fn));
    this.now = opts.now ?? (() => performance.now());
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
    const at = this.now();
    if (open === 0 && (this.opts.mayExpress === undefined || this.opts.mayExpress(key))) {
      this.express.push(start);
      this.expressAt.push(at);
    } else {
      let q = this.queues.get(key);
      if (q === undefined) {
        q = { calls: [], at: [] };
        this.queues.set(key, q);
        this.busy.add(key);
        // Before the cursor: served after every connection already waiting.
        this.ring.splice(this.cursor, 0, key);
        this.cursor++;
      }
      q.calls.push(start);
      q.at.push(at);
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

  /**
   * The standing delay since the last call, ms: the least wait of a turn's oldest started
   * call, or, when no turn ran, the oldest queued call's wait (0 with nothing queued).
   */
  takeStandingDelay(): number {
    let d = this.leastOldestWait;
    this.leastOldestWait = Infinity;
    if (d === Infinity) {
      const oldest = this.oldestQueuedAt();
      d = oldest === undefined ? 0 : this.now() - oldest;
    }
    return d;
  }

  /** The connections that queued a call behind another of theirs since the last call (the light ones never do). */
  takeBusy(): Set<K> {
    const b = this.busy;
    this.busy = new Set();
    return b;
  }

  private oldestQueuedAt(): number | undefined {
    let oldest = this.expressAt[0];
    for (const q of this.queues.values()) if (oldest === undefined || q.at[0]! < oldest) oldest = q.at[0];
    return oldest;
  }

  private readonly drain = (): void => {
    this.scheduled = false;
    const { ring, express } = this;
    const limit = this.opts.sliceCalls;
    const slice = express.splice(0, limit);
    // Express calls are in arrival order: the first is the oldest.
    let oldest = this.expressAt.length > 0 ? this.expressAt[0]! : Infinity;
    this.expressAt.splice(0, slice.length);
    // Busy connections always get a quarter of a slice: light ones cannot starve them.
    const end = slice.length + Math.max(limit - slice.length, Math.ceil(limit / 4));
    while (slice.length < end && ring.length > 0) {
      if (this.cursor >= ring.length) this.cursor = 0;
      const key = ring[this.cursor]!;
      const q = this.queues.get(key)!;
      if (q.at[0]! < oldest) oldest = q.at[0]!;
      const n = end - slice.length;
      const take = q.calls.splice(0, n);
      q.at.splice(0, n);
      for (const s of take) slice.push(s);
      if (q.calls.length === 0) {
        this.queues.delete(key);
        ring.splice(this.cursor, 1);
      } else this.cursor++;
    }
    this.queued -= slice.length;
    if (slice.length > 0) this.leastOldestWait = Math.min(this.leastOldestWait, this.now() - oldest);
    // Scheduled before the calls start: one that throws cannot stall the rest.
    if (this.queued > 0) {
      this.scheduled = true;
      this.schedule(this.drain);
    }
    for (const start of slice) start();
  };
}
