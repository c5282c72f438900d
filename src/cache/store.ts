/**
 * The cache's storage contract, met by the in-process LRU and by Redis.
 *
 * Every operation resolves; none throws. A store that cannot answer (Redis down,
 * slow beyond its timeout) reports `ok: false` and the caller bypasses the cache:
 * cache trouble never fails a request.
 */
export type StoreResult<T> = { ok: true; value: T } | { ok: false };

export interface CacheStore {
  /** "memory" or "redis"; a shared store lets replicas see each other's entries. */
  readonly kind: "memory" | "redis";
  readonly shared: boolean;
  get(key: string): Promise<StoreResult<Buffer | undefined>>;
  set(key: string, value: Buffer, ttlMs: number): Promise<StoreResult<void>>;
  delete(key: string): Promise<StoreResult<void>>;
  /** Takes a short lease when nobody holds it (SET NX PX); true when taken. */
  lease(key: string, ttlMs: number): Promise<StoreResult<boolean>>;
  /**
   * Field-wise merge into a small hash (and `remove`'s fields deleted from it), and its
   * whole content (the shared Executor set).
   */
  hashMerge(
    key: string,
    fields: Record<string, string>,
    ttlMs: number,
    remove?: readonly string[],
  ): Promise<StoreResult<void>>;
  hashGetAll(key: string): Promise<StoreResult<Record<string, string>>>;
  /** True while the store answers; false while it is bypassed. */
  readonly healthy: boolean;
  close(): Promise<void>;
}

/** Counters the observability work exports; monotonic. */
export class CacheStats {
  hits = 0;
  misses = 0;
  stale = 0;
  bypass = 0;
  /** Store operations that failed or timed out. */
  storeErrors = 0;
  storeTimeouts = 0;
  /** Times the store went from healthy to bypassed and back. */
  storeDown = 0;
  storeUp = 0;
  /** Fan-outs the cache layer started (list and get). */
  fetches = 0;
  /** Background revalidations started. */
  revalidations = 0;
  /** Answers not stored: partial, too large, or computed with an incomplete set. */
  notStoredPartial = 0;
  notStoredTooLarge = 0;
  /** Followers that got the leader's entry through the cross-replica lease. */
  leaseWaitHits = 0;

  snapshot(): Record<string, number> {
    return Object.fromEntries(Object.entries(this)) as Record<string, number>;
  }
}
