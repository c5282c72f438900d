/**
 * Per-key token buckets. GetPredictResult requests carry no nonce, so a captured
 * request can be replayed as often as one likes; this caps how often one key is served.
 */
import { LRUCache } from "lru-cache";

interface Bucket {
  tokens: number;
  at: number;
}

/** Keys tracked at once. An evicted key starts again with a full bucket. */
export const RATE_LIMIT_MAX_KEYS = 10_000;

export class KeyRateLimiter {
  private readonly buckets: LRUCache<string, Bucket>;
  private readonly perMs: number;

  /** `perMinute` requests a minute per key, in bursts of up to `perMinute`. */
  constructor(
    private readonly perMinute: number,
    maxKeys = RATE_LIMIT_MAX_KEYS,
  ) {
    this.perMs = perMinute / 60_000;
    // A bucket idle for a minute is full again, which is what a missing entry means.
    this.buckets = new LRUCache<string, Bucket>({ max: maxKeys, ttl: 60_000 });
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Takes one token for `key`; false when its bucket is empty. */
  take(key: string, now = Date.now()): boolean {
    const b = this.buckets.get(key) ?? { tokens: this.perMinute, at: now };
    b.tokens = Math.min(this.perMinute, b.tokens + Math.max(0, now - b.at) * this.perMs);
    b.at = now;
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    this.buckets.set(key, b);
    return ok;
  }
}
