/**
 * The CacheStore contract, run against every backend: the in-process LRU, a real
 * single redis-server, and a real 3-master Redis Cluster.
 */
import { MemoryStore } from "../../src/cache/memory-store";
import { RedisStore } from "../../src/cache/redis-store";
import { CacheStats, type CacheStore } from "../../src/cache/store";
import {
  startRedis,
  startRedisCluster,
  startRedisSentinel,
  type RedisCluster,
  type RedisProcess,
  type RedisSentinel,
} from "../helpers/redis";
import { memoryLogger } from "../helpers/quiet-log";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// The contract is about behaviour, not speed: generous timeouts keep a loaded CI machine from
// turning a slow answer into a bypass. Timeouts have their own tests at the end.
function contract(name: string, make: () => Promise<CacheStore>, done: (s: CacheStore) => Promise<void>): void {
  describe(`CacheStore contract: ${name}`, () => {
    let store: CacheStore;
    beforeAll(async () => {
      store = await make();
    });
    afterAll(async () => {
      await done(store);
    });

    test("a missing key is an answered miss", async () => {
      expect(await store.get(`missing-${Math.random()}`)).toEqual({ ok: true, value: undefined });
    });

    test("binary values round-trip byte for byte, many keys spread over slots", async () => {
      const values = new Map<string, Buffer>();
      for (let i = 0; i < 40; i++) {
        const v = Buffer.from(Array.from({ length: i * 7 }, (_, j) => (j * 31 + i) & 0xff));
        values.set(`k:${i}:${Math.random()}`, v);
      }
      for (const [k, v] of values) expect((await store.set(k, v, 10_000)).ok).toBe(true);
      for (const [k, v] of values) {
        const got = await store.get(k);
        expect(got.ok).toBe(true);
        expect(got.ok && got.value?.equals(v)).toBe(true);
      }
    });

    test("entries expire after their TTL", async () => {
      const k = `ttl-${Math.random()}`;
      await store.set(k, Buffer.from("x"), 150);
      expect((await store.get(k)).ok && (await store.get(k)).ok).toBe(true);
      const before = await store.get(k);
      expect(before.ok && before.value?.toString()).toBe("x");
      await sleep(350);
      expect(await store.get(k)).toEqual({ ok: true, value: undefined });
    });

    test("delete removes an entry", async () => {
      const k = `del-${Math.random()}`;
      await store.set(k, Buffer.from("y"), 10_000);
      await store.delete(k);
      expect(await store.get(k)).toEqual({ ok: true, value: undefined });
    });

    test("a lease is exclusive until released or expired", async () => {
      const k = `lease-${Math.random()}`;
      expect(await store.lease(k, 200)).toEqual({ ok: true, value: true });
      expect(await store.lease(k, 200)).toEqual({ ok: true, value: false });
      await sleep(350);
      expect(await store.lease(k, 200)).toEqual({ ok: true, value: true });
      await store.delete(k);
      expect(await store.lease(k, 200)).toEqual({ ok: true, value: true });
    });

    test("hashes merge field by field", async () => {
      const k = `hash-${Math.random()}`;
      await store.hashMerge(k, { a: "1", b: "2" }, 10_000);
      await store.hashMerge(k, { b: "3", c: "4" }, 10_000);
      expect(await store.hashGetAll(k)).toEqual({ ok: true, value: { a: "1", b: "3", c: "4" } });
    });

    test("a merge deletes the fields it is told to remove, but keeps one it also writes", async () => {
      const k = `hash-${Math.random()}`;
      await store.hashMerge(k, { a: "1", b: "2", c: "3" }, 10_000);
      await store.hashMerge(k, { c: "5" }, 10_000, ["a", "c"]);
      expect(await store.hashGetAll(k)).toEqual({ ok: true, value: { b: "2", c: "5" } });
      // Removing alone (nothing to write) works too.
      await store.hashMerge(k, {}, 10_000, ["b"]);
      expect(await store.hashGetAll(k)).toEqual({ ok: true, value: { c: "5" } });
    });
  });
}

contract(
  "in-process LRU",
  async () => new MemoryStore(1024 * 1024),
  (s) => s.close(),
);

let single: (RedisProcess & { stop(): Promise<void> }) | undefined;
contract(
  "single redis-server",
  async () => {
    single = await startRedis();
    const s = new RedisStore(
      { url: single.url, keyPrefix: "t:", timeoutMs: 2000 },
      new CacheStats(),
      memoryLogger().log,
    );
    expect(await s.waitReady(5000)).toBe(true);
    return s;
  },
  async (s) => {
    await s.close();
    await single?.stop();
  },
);

let cluster: RedisCluster | undefined;
contract(
  "3-master Redis Cluster",
  async () => {
    cluster = await startRedisCluster(3);
    const s = new RedisStore(
      { cluster: cluster.addresses, keyPrefix: "t:", timeoutMs: 2000 },
      new CacheStats(),
      memoryLogger().log,
    );
    expect(await s.waitReady(10_000)).toBe(true);
    return s;
  },
  async (s) => {
    // Keys really were spread over the masters (not all on one node).
    const counts = await Promise.all(cluster!.nodes.map(async (n) => Number((await n.cli("dbsize")).trim())));
    expect(counts.filter((c) => c > 0).length).toBeGreaterThanOrEqual(2);
    await s.close();
    await cluster?.stop();
  },
);

let sentinel: RedisSentinel | undefined;
contract(
  "Redis through Sentinel",
  async () => {
    sentinel = await startRedisSentinel();
    const s = new RedisStore(
      { sentinel: { name: sentinel.name, nodes: [sentinel.sentinel.address] }, keyPrefix: "t:", timeoutMs: 2000 },
      new CacheStats(),
      memoryLogger().log,
    );
    expect(await s.waitReady(10_000)).toBe(true);
    return s;
  },
  async (s) => {
    // The data really went to the master the Sentinel named.
    expect(Number((await sentinel!.master.cli("dbsize")).trim())).toBeGreaterThan(0);
    await s.close();
    await sentinel?.stop();
  },
);

describe("in-process LRU is bounded in bytes", () => {
  test("inserting far more than the bound keeps the size under it and evicts the oldest", async () => {
    const max = 64 * 1024;
    const store = new MemoryStore(max);
    const chunk = Buffer.alloc(1000, 7);
    for (let i = 0; i < 500; i++) await store.set(`k${i}`, chunk, 60_000);
    expect(store.sizeBytes).toBeLessThanOrEqual(max);
    expect(await store.get("k0")).toEqual({ ok: true, value: undefined });
    const last = await store.get("k499");
    expect(last.ok && last.value?.equals(chunk)).toBe(true);
    // A value larger than the whole bound is refused, not kept.
    await store.set("huge", Buffer.alloc(max * 2), 60_000);
    expect(await store.get("huge")).toEqual({ ok: true, value: undefined });
  });
});

describe("RedisStore when Redis dies and comes back", () => {
  test("ops fail fast while down, one log line per state change, then resume by themselves", async () => {
    const redis = await startRedis();
    const stats = new CacheStats();
    const { log, lines } = memoryLogger();
    const timeoutMs = 150;
    const store = new RedisStore({ url: redis.url, keyPrefix: "t:", timeoutMs }, stats, log);
    try {
      expect(await store.waitReady(5000)).toBe(true);
      expect((await store.set("a", Buffer.from("1"), 60_000)).ok).toBe(true);
      await redis.kill();
      let worst = 0;
      for (let i = 0; i < 20; i++) {
        const t0 = Date.now();
        const r = await store.get("a");
        worst = Math.max(worst, Date.now() - t0);
        if (i > 0) expect(r.ok).toBe(false);
        await sleep(10);
      }
      expect(worst).toBeLessThanOrEqual(timeoutMs + 150);
      expect(store.healthy).toBe(false);
      await redis.start();
      expect(await store.waitReady(10_000)).toBe(true);
      expect((await store.set("b", Buffer.from("2"), 60_000)).ok).toBe(true);
      const b = await store.get("b");
      expect(b.ok && b.value?.toString()).toBe("2");
      const downs = lines.filter((l) => String(l.msg).startsWith("Redis cache unavailable"));
      const ups = lines.filter((l) => String(l.msg).startsWith("Redis cache available"));
      expect(downs.length).toBe(1);
      expect(ups.length).toBe(2); // first connect, and after the restart
      expect(stats.storeDown).toBe(1);
    } finally {
      await store.close();
      await redis.stop();
    }
  });

  test("a Redis slower than the timeout is bypassed within the timeout and used again when it recovers", async () => {
    const redis = await startRedis();
    const stats = new CacheStats();
    const timeoutMs = 100;
    const store = new RedisStore({ url: redis.url, keyPrefix: "t:", timeoutMs }, stats, memoryLogger().log);
    try {
      expect(await store.waitReady(5000)).toBe(true);
      // Stall every client command for 1.5 s (a real, slow Redis).
      await redis.cli("client", "pause", "1500", "ALL");
      const t0 = Date.now();
      const r = await store.get("x");
      expect(r.ok).toBe(false);
      expect(Date.now() - t0).toBeLessThanOrEqual(timeoutMs + 150);
      expect(stats.storeTimeouts).toBe(1);
      const t1 = Date.now();
      expect((await store.get("x")).ok).toBe(false); // bypassed at once while slow
      expect(Date.now() - t1).toBeLessThan(20);
      expect(await store.waitReady(5000)).toBe(true);
      expect((await store.get("x")).ok).toBe(true);
    } finally {
      await store.close();
      await redis.stop();
    }
  });
});
