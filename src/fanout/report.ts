/** What a fan-out did: which Executors were asked, which answered, which failed and why. */
export interface FanoutFailure {
  address: string;
  reason: string;
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
}

/** Per-call context passed down the data path. */
export interface CallContext {
  /** Everything, upstream calls included, must be done by then. */
  deadline: number;
  signal?: AbortSignal;
  requestId: string;
}
