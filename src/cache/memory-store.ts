/** The in-process backend: an LRU bounded in bytes, with per-entry TTL. */
import { LRUCache } from "lru-cache";
import type { CacheStore, StoreResult } from "./store";

type Value = Buffer | Map<string, string>;

const OVERHEAD = 64;

function sizeOf(v: Value, key: string): number {
  if (Buffer.isBuffer(v)) return v.length + key.length + OVERHEAD;
  let n = key.length + OVERHEAD;
  for (const [f, x] of v) n += f.length + x.length + OVERHEAD;
  return n;
}

export class MemoryStore implements CacheStore {
  readonly kind = "memory";
  readonly shared = false;
  readonly healthy = true;
  private readonly lru: LRUCache<string, Value>;

  constructor(maxBytes: number) {
    this.lru = new LRUCache<string, Value>({
      maxSize: maxBytes,
      // An entry larger than the whole cache is simply not kept.
      maxEntrySize: maxBytes,
      sizeCalculation: (v, k) => sizeOf(v, k),
      ttlAutopurge: false,
    });
  }

  get sizeBytes(): number {
    return this.lru.calculatedSize;
  }

  async get(key: string): Promise<StoreResult<Buffer | undefined>> {
    const v = this.lru.get(key);
    return { ok: true, value: Buffer.isBuffer(v) ? v : undefined };
  }

  async set(key: string, value: Buffer, ttlMs: number): Promise<StoreResult<void>> {
    this.lru.set(key, value, { ttl: ttlMs });
    return { ok: true, value: undefined };
  }

  async delete(key: string): Promise<StoreResult<void>> {
    this.lru.delete(key);
    return { ok: true, value: undefined };
  }

  async lease(key: string, ttlMs: number): Promise<StoreResult<boolean>> {
    if (this.lru.has(key)) return { ok: true, value: false };
    this.lru.set(key, Buffer.of(1), { ttl: ttlMs });
    return { ok: true, value: true };
  }

  async hashMerge(
    key: string,
    fields: Record<string, string>,
    ttlMs: number,
    remove: readonly string[] = [],
  ): Promise<StoreResult<void>> {
    const prev = this.lru.get(key);
    const next = new Map(prev instanceof Map ? prev : []);
    for (const f of remove) next.delete(f);
    for (const [f, v] of Object.entries(fields)) next.set(f, v);
    this.lru.set(key, next, { ttl: ttlMs });
    return { ok: true, value: undefined };
  }

  async hashGetAll(key: string): Promise<StoreResult<Record<string, string>>> {
    const v = this.lru.get(key);
    return { ok: true, value: v instanceof Map ? Object.fromEntries(v) : {} };
  }

  async close(): Promise<void> {
    this.lru.clear();
  }
}
