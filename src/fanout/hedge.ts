/**
 * The GetTaskById hedge (`executors.hedgeDelayMs`; off at 0), a small state machine
 * of its own. With it on, once the answer cannot
 * change (a copy in a terminal status arrived) the calls still running are cancelled
 * and counted neither answered nor failed (`settle(true)`); `delayMs` after the first
 * copy (if set) the stragglers are cancelled and named as failed with HEDGE_REASON,
 * since a more advanced copy may have been missed (`settle(false)`).
 */
import { isTerminal } from "../merge/status";
import type { TaskView } from "../wire/task-view";

/** Reason given to a straggler the hedged GetTaskById did not wait for. */
export const HEDGE_REASON = "not awaited (hedged answer)";

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class Hedge {
  private readonly outstanding = new Map<string, AbortController>();
  private timer: unknown;
  private sawCopy = false;
  private settledFlag = false;
  private resolve: () => void = () => {};
  /** Resolves when the hedge settled the answer. */
  readonly settled = new Promise<void>((r) => (this.resolve = r));
  /** Executors cut off by a non-final settle (the answer may have missed a more advanced copy). */
  readonly cut: string[] = [];

  constructor(
    private readonly delayMs: number,
    private readonly timers: Timers = realTimers,
  ) {}

  get done(): boolean {
    return this.settledFlag;
  }

  /** A call to `address` starts; its signal is aborted when the hedge settles. */
  track(address: string): AbortSignal {
    const ac = new AbortController();
    this.outstanding.set(address, ac);
    return ac.signal;
  }

  untrack(address: string): void {
    this.outstanding.delete(address);
  }

  /** A usable copy arrived. */
  onCopy(task: TaskView): void {
    this.sawCopy = true;
    if (this.settledFlag || this.delayMs <= 0) return;
    if (isTerminal(task.status)) this.settle(true);
    else if (this.delayMs > 0 && this.timer === undefined) this.arm();
  }

  /** A new phase of asking begins (e.g. after the preferred holders): give it the full delay. */
  rearm(): void {
    if (this.settledFlag || !this.sawCopy || this.delayMs <= 0) return;
    if (this.timer !== undefined) this.timers.clear(this.timer);
    this.arm();
  }

  private arm(): void {
    this.timer = this.timers.set(() => this.settle(false), this.delayMs);
  }

  /** Stops waiting; `final`: the answer can no longer change. */
  settle(final: boolean): void {
    if (this.settledFlag) return;
    this.settledFlag = true;
    if (this.timer !== undefined) this.timers.clear(this.timer);
    for (const [address, ac] of this.outstanding) {
      if (!final) this.cut.push(address);
      ac.abort();
    }
    this.outstanding.clear();
    this.resolve();
  }

  /** The gather ended on its own: stop the timer, ignore late replies. */
  finish(): void {
    if (this.timer !== undefined) this.timers.clear(this.timer);
    this.settledFlag = true;
    this.resolve();
  }
}
