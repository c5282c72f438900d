/**
 * The cache as a decorator: the shared read skeleton (entry read, lease dance) over an
 * in-memory store that says it is shared (as Redis would), and the task cache handing
 * the Executors that held a task to the reader it decorates as `preferred`.
 */
import pino from "pino";
import { leasedFetch, readEntry } from "../../src/cache/cached-read";
import { MemoryStore } from "../../src/cache/memory-store";
import { CacheStats, type CacheStore } from "../../src/cache/store";
import { TaskCache } from "../../src/cache/task-cache";
import { FanoutReport } from "../../src/core/report";
import { decodeTaskView } from "../../src/wire/task-view";
import { task, taskReply } from "../helpers/memory-transport";

/** The in-process store, presented as shared (leases and waits apply). */
function sharedStore(): CacheStore {
  const m = new MemoryStore(1 << 20);
  return {
    kind: "memory",
    shared: true,
    healthy: true,
    get: (k) => m.get(k),
    set: (k, v, t) => m.set(k, v, t),
    delete: (k) => m.delete(k),
    lease: (k, t) => m.lease(k, t),
    hashMerge: (k, f, t) => m.hashMerge(k, f, t),
    hashGetAll: (k) => m.hashGetAll(k),
    close: () => m.close(),
  };
}

const decode = (b: Buffer): string => {
  const s = b.toString();
  if (!s.startsWith("v:")) throw new Error("other format");
  return s;
};

describe("readEntry", () => {
  test("absent, decodable and undecodable values", async () => {
    const s = sharedStore();
    expect(await readEntry(s, "k", decode)).toEqual({ ok: true });
    await s.set("k", Buffer.from("v:1"), 1000);
    expect(await readEntry(s, "k", decode)).toEqual({ ok: true, entry: "v:1" });
    await s.set("k", Buffer.from("x"), 1000);
    expect(await readEntry(s, "k", decode)).toEqual({ ok: true });
  });
});

describe("leasedFetch", () => {
  const base = (store: CacheStore, fetch: () => Promise<string>) => ({
    store,
    key: "k",
    leaseMs: 1000,
    useLease: true,
    waitUntil: Date.now() + 500,
    decode,
    accept: () => true,
    fromEntry: (e: string) => `from-leader:${e}`,
    now: Date.now,
    onWaitHit: () => {},
    fetch,
  });

  test("the first replica takes the lease and fetches; the lease is let go after", async () => {
    const s = sharedStore();
    expect(await leasedFetch(base(s, async () => "fetched"))).toBe("fetched");
    expect((await s.lease("k:lease", 1000)).ok).toBe(true);
  });

  test("a follower waits for the leader's entry instead of fetching", async () => {
    const s = sharedStore();
    await s.lease("k:lease", 1000);
    setTimeout(() => void s.set("k", Buffer.from("v:leader"), 1000), 30);
    let fetched = 0;
    let waitHits = 0;
    const r = await leasedFetch({
      ...base(s, async () => String(++fetched)),
      onWaitHit: () => waitHits++,
    });
    expect([r, fetched, waitHits]).toEqual(["from-leader:v:leader", 0, 1]);
  });

  test("a follower whose leader leaves no entry fetches itself", async () => {
    const s = sharedStore();
    await s.lease("k:lease", 1000);
    setTimeout(() => void s.delete("k:lease"), 30);
    expect(await leasedFetch(base(s, async () => "own"))).toBe("own");
  });
});

describe("TaskCache", () => {
  test("a miss hands the Executors that held the task before to the reader as preferred", async () => {
    const store = new MemoryStore(1 << 20);
    const seen: (readonly string[] | undefined)[] = [];
    const copy = decodeTaskView(taskReply(task("t1", { status: "Processing" })));
    let now = 1_000_000;
    const cache = new TaskCache(
      store,
      { pull: async () => {}, publish: async () => {}, setId: () => "s", askedAll: () => true },
      async (_id, _ctx, opts) => {
        seen.push(opts.preferred);
        return { task: copy, report: FanoutReport.fromAnswered(["a:1", "b:1"]), holders: ["b:1"] };
      },
      (a) => a,
      { taskTtlMs: 100, terminalTtlMs: 10_000, maxStaleMs: 0, maxEntryBytes: 1 << 20, leaseMs: 100, leaseWaitMs: 100 },
      new CacheStats(),
      pino({ level: "silent" }),
      () => now,
    );
    const ctx = { deadline: Date.now() + 5000, requestId: "t" };
    expect((await cache.get("t1", ctx)).cache).toBe("miss");
    expect((await cache.get("t1", ctx)).cache).toBe("hit");
    now += 1000; // past taskTtlMs on the injected clock: a miss again
    expect((await cache.get("t1", ctx)).cache).toBe("miss");
    expect(seen).toEqual([[], ["b:1"]]);
  });
});
