/** Single-flight: concurrent callers with the same key share one run of the work. */
export class SingleFlight<T> {
  private readonly running = new Map<string, Promise<T>>();

  get size(): number {
    return this.running.size;
  }

  /** Joins the running call for `key`, or starts `work`; `leader` says which. */
  run(key: string, work: () => Promise<T>): { promise: Promise<T>; leader: boolean } {
    const existing = this.running.get(key);
    if (existing) return { promise: existing, leader: false };
    const promise = work().finally(() => {
      if (this.running.get(key) === promise) this.running.delete(key);
    });
    this.running.set(key, promise);
    return { promise, leader: true };
  }
}
