/** What a fan-out did: which Executors were asked, which answered, which failed and why. */
import { status as Status } from "@grpc/grpc-js";

export interface FanoutFailure {
  address: string;
  reason: string;
  /** The call's status, when it got one (DEADLINE_EXCEEDED: it ran out of time). */
  code?: Status;
}

export class FanoutReport {
  readonly asked: string[] = [];
  readonly answered: string[] = [];
  readonly failed: FanoutFailure[] = [];
  /** Tasks dropped because an Executor sent something invalid or off-filter. */
  dropped = 0;
  conflicts = 0;

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
}

/** Per-call context passed down the data path. */
export interface CallContext {
  /** Everything, upstream calls included, must be done by then. */
  deadline: number;
  signal?: AbortSignal;
  requestId: string;
}
