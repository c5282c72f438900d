/** waitForEntry: how a replica that lost the lease race waits for the leader's entry. */
import { leaseKey, waitForEntry } from "../../src/cache/lease";
import { MemoryStore } from "../../src/cache/memory-store";
import type { CacheStore, StoreResult } from "../../src/cache/store";

const decode = (b: Buffer): number => {
  const n = Number(b.toString("utf8"));
  if (!Number.isInteger(n)) throw new Error("not ours");
  return n;
};
const any = (): boolean => true;
const soon = (ms = 2000): number => Date.now() + ms;

/** A store whose reads fail (Redis down): the waiter must not keep polling it. */
class FailingStore extends MemoryStore {
  gets = 0;
  override get(): Promise<StoreResult<Buffer | undefined>> {
    this.gets++;
    return Promise.resolve({ ok: false });
  }
}

describe("waitForEntry", () => {
  test("lease key is derived from the entry key", () => {
    expect(leaseKey("list:abc")).toBe("list:abc:lease");
  });

  test("returns the leader's entry once it is stored", async () => {
    const s = new MemoryStore(1 << 20);
    await s.lease(leaseKey("k"), 5000);
    setTimeout(() => void s.set("k", Buffer.from("42"), 5000), 30);
    await expect(waitForEntry(s, "k", decode, any, soon())).resolves.toBe(42);
  });

  test("the leader let go without an acceptable entry: gives up at once, not at the deadline", async () => {
    const s = new MemoryStore(1 << 20);
    await s.lease(leaseKey("k"), 5000);
    await s.set("k", Buffer.from("7"), 5000); // partial answer the waiter does not accept
    setTimeout(() => void s.delete(leaseKey("k")), 30);
    const t0 = Date.now();
    await expect(waitForEntry(s, "k", decode, (v) => v > 10, soon(10_000))).resolves.toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  test("no lease and the entry present: the first poll returns it", async () => {
    const s = new MemoryStore(1 << 20);
    await s.set("k", Buffer.from("9"), 5000);
    await expect(waitForEntry(s, "k", decode, any, soon())).resolves.toBe(9);
  });

  test("an entry of another format counts as absent", async () => {
    const s = new MemoryStore(1 << 20);
    await s.lease(leaseKey("k"), 5000);
    await s.set("k", Buffer.from("not a number"), 5000);
    setTimeout(() => void s.set("k", Buffer.from("5"), 5000), 40);
    await expect(waitForEntry(s, "k", decode, any, soon())).resolves.toBe(5);
  });

  test("a lost leader never blocks beyond the wait", async () => {
    const s = new MemoryStore(1 << 20);
    await s.lease(leaseKey("k"), 60_000);
    let t = 0;
    const now = (): number => t;
    const store: CacheStore = {
      kind: s.kind,
      shared: s.shared,
      healthy: true,
      get: async (k) => {
        t += 50; // each poll advances a fake clock
        return s.get(k);
      },
      set: (k, v, ttl) => s.set(k, v, ttl),
      delete: (k) => s.delete(k),
      lease: (k, ttl) => s.lease(k, ttl),
      hashMerge: (k, f, ttl) => s.hashMerge(k, f, ttl),
      hashGetAll: (k) => s.hashGetAll(k),
      close: () => s.close(),
    };
    await expect(waitForEntry(store, "k", decode, any, 500, undefined, now)).resolves.toBeUndefined();
    expect(t).toBeGreaterThanOrEqual(500);
    expect(t).toBeLessThan(700);
  });

  test("a deadline already past or an aborted signal: no polling", async () => {
    const s = new FailingStore(1 << 20);
    await expect(waitForEntry(s, "k", decode, any, Date.now() - 1)).resolves.toBeUndefined();
    const ac = new AbortController();
    ac.abort();
    await expect(waitForEntry(s, "k", decode, any, soon(), ac.signal)).resolves.toBeUndefined();
    expect(s.gets).toBe(0);
  });

  test("a failing store: returns after one round instead of polling until the deadline", async () => {
    const s = new FailingStore(1 << 20);
    await expect(waitForEntry(s, "k", decode, any, soon(10_000))).resolves.toBeUndefined();
    expect(s.gets).toBe(2); // the entry, then the lease: not ok → stop
  });
});
