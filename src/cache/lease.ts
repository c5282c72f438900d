/**
 * Cross-replica stampede protection: the first replica to miss takes a short lease
 * (SET NX PX) and fetches; the others poll for its entry for a bounded time, then
 * fetch themselves (a lost leader never blocks anyone for longer than the wait).
 */
import type { CacheStore } from "./store";

const POLL_MS = 20;

export const leaseKey = (key: string): string => `${key}:lease`;

/**
 * Polls `key` until `accept` takes a decoded value, the leader lets its lease go
 * without leaving an acceptable entry (e.g. its answer was partial), or `untilMs` passes.
 * Undecodable values count as absent.
 */
export async function waitForEntry<T>(
  store: CacheStore,
  key: string,
  decode: (b: Buffer) => T,
  accept: (v: T) => boolean,
  untilMs: number,
  signal?: AbortSignal,
  now: () => number = Date.now,
): Promise<T | undefined> {
  const read = async (): Promise<T | undefined> => {
    const got = await store.get(key);
    if (!got.ok || !got.value) return undefined;
    try {
      const v = decode(got.value);
      return accept(v) ? v : undefined;
    } catch {
      return undefined; // an entry of another format: keep waiting for ours
    }
  };
  while (now() < untilMs && !signal?.aborted) {
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(1, untilMs - now()))));
    const found = await read();
    if (found) return found;
    const lease = await store.get(leaseKey(key));
    if (!lease.ok) return undefined;
    // The leader stores before it lets go: one last look, then fetch ourselves.
    if (lease.value === undefined) return read();
  }
  return undefined;
}
