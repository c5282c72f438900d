/** What a fan-out did: which Executors were asked, which answered, which failed and why. */
import { status as Status } from "@grpc/grpc-js";

export interface FanoutFailure {
  address: string;
  reason: string;
  /** The call's (classified) status, when it got one (DEADLINE_EXCEEDED: it ran out of time). */
  code?: Status;
}

export class FanoutReport {
  readonly asked: string[] = [];
  readonly answered: string[] = [];
  readonly failed: FanoutFailure[] = [];
  /** Tasks dropped because an Executor sent something invalid or off-filter. */
  dropped = 0;
  conflicts = 0;
  /** Executors known but departed (failed without a break for `executors.departAfterMs`): not counted, not waited for. */
  departed = 0;

  get partial(): boolean {
    return this.failed.length > 0;
  }

  /**
   * The status of an answer no Executor gave: DEADLINE_EXCEEDED when every failed call
   * ran out of time, UNAVAILABLE otherwise (none reached, or they failed).
   */
  get noAnswerStatus(): Status {
    const timedOut = this.failed.length > 0 && this.failed.every((f) => f.code === Status.DEADLINE_EXCEEDED);
    return timedOut ? Status.DEADLINE_EXCEEDED : Status.UNAVAILABLE;
  }

  /** A report of an answer read back from the cache: those Executors answered the fetch that filled it. */
  static fromAnswered(answered: readonly string[]): FanoutReport {
    const r = new FanoutReport();
    r.asked.push(...answered);
    r.answered.push(...answered);
    return r;
  }
}

/** Per-call context passed down the data path. */
export interface CallContext {
  /** Everything, upstream calls included, must be done by then (Unix ms). */
  deadline: number;
  /** Aborted when the client went away. */
  signal?: AbortSignal;
  requestId: string;
}
