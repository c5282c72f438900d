/**
 * Cross-replica stampede protection: the first replica to miss takes a short lease
 * (SET NX PX) and fetches; the others poll for its entry for a bounded time, then
 * fetch themselves (a lost leader never blocks anyone for longer than the wait).
 */
import type { CacheStore } from "./store";

const POLL_MS = 20;

export const leaseKey = (key: string): string => `${key}:lease`;

/**
 * Polls `key` until `accept` takes a decoded value or `untilMs` passes.
 * Undecodable values count as absent.
 */
export async function waitForEntry<T>(
  store: CacheStore,
  key: string,
  decode: (b: Buffer) => T,
  accept: (v: T) => boolean,
  untilMs: number,
  signal?: AbortSignal,
): Promise<T | undefined> {
  while (Date.now() < untilMs && !signal?.aborted) {
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(1, untilMs - Date.now()))));
    const got = await store.get(key);
    if (!got.ok) return undefined;
    if (got.value) {
      try {
        const v = decode(got.value);
        if (accept(v)) return v;
      } catch {
        // an entry of another format: keep waiting for ours
      }
    }
  }
  return undefined;
}
