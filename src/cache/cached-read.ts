/**
 * The read skeleton both caches share (lists and tasks): read an entry and decode it
 * (undecodable = a miss), and fetch under the cross-replica lease — the first replica
 * to miss takes the lease and fetches; the others wait, bounded, for its entry, then
 * fetch themselves. Cache trouble never fails a request: a store that does not answer
 * is bypassed.
 */
import { leaseKey, waitForEntry } from "./lease";
import type { CacheStore } from "./store";

export interface ReadEntry<E> {
  /** False when the store did not answer (the read is bypassed). */
  ok: boolean;
  entry?: E;
}

/** Reads and decodes `key`; a value of another format or a damaged one is a miss. */
export async function readEntry<E>(store: CacheStore, key: string, decode: (b: Buffer) => E): Promise<ReadEntry<E>> {
  const got = await store.get(key);
  if (!got.ok) return { ok: false };
  if (!got.value) return { ok: true };
  try {
    return { ok: true, entry: decode(got.value) };
  } catch {
    return { ok: true };
  }
}

export interface LeasedFetch<E, R> {
  store: CacheStore;
  key: string;
  leaseMs: number;
  /** Take the lease and wait for another replica's entry (shared store, not no-cache). */
  useLease: boolean;
  /** Wait for a leader's entry until then (Unix ms). */
  waitUntil: number;
  signal?: AbortSignal;
  decode: (b: Buffer) => E;
  /** A leader's entry that answers this request. */
  accept: (entry: E) => boolean;
  /** The result made from a leader's entry. */
  fromEntry: (entry: E) => R;
  /** The fetch (and store) of this replica. */
  fetch: () => Promise<R>;
  now: () => number;
  /** Counts a follower served by the leader's entry. */
  onWaitHit: () => void;
}

export async function leasedFetch<E, R>(p: LeasedFetch<E, R>): Promise<R> {
  let leased = false;
  if (p.store.shared && p.useLease) {
    const lease = await p.store.lease(leaseKey(p.key), p.leaseMs);
    leased = lease.ok && lease.value;
    if (lease.ok && !lease.value) {
      // Another replica is fetching this: wait (bounded) for its entry.
      const entry = await waitForEntry(p.store, p.key, p.decode, p.accept, p.waitUntil, p.signal, p.now);
      if (entry) {
        p.onWaitHit();
        return p.fromEntry(entry);
      }
    }
  }
  try {
    return await p.fetch();
  } finally {
    if (leased) await p.store.delete(leaseKey(p.key));
  }
}
