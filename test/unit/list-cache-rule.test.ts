/**
 * The timeEnd/limit rule (README "Cache"): an entry answers a request only when its
 * answer is exactly the fresh one. Random ledgers, random fetches and random request
 * sequences; the expected answer is computed independently, straight from the ledger.
 */
import fc from "fast-check";
import pino from "pino";
import { CacheStats } from "../../src/cache/store";
import { ListAnswerCache, type ListCacheOptions } from "../../src/cache/list-cache";
import { answerFromSnapshot, isLive, liveUntilMs, planListFetch, wasCut } from "../../src/cache/list-rule";
import { MemoryStore } from "../../src/cache/memory-store";
import type { ExecutorSetView } from "../../src/cache/executor-set";
import { FanoutReport } from "../../src/core/report";
import { FLTask } from "../../src/gen/task/task";
import { selectForList, type ListQuery } from "../../src/merge/filter";
import { KNOWN_STATUSES } from "../../src/merge/status";
import { decodeTaskView, type TaskView } from "../../src/wire/task-view";

const NOW_MS = 1_764_316_800_000;
const NOW_NS = BigInt(NOW_MS) * 1_000_000n;
const KEYS = [0, 1, 2, 3].map((i) => Buffer.alloc(64, i + 1));

const taskArb: fc.Arbitrary<TaskSpec> = fc.record({
  requester: fc.integer({ min: 0, max: 3 }),
  executors: fc.uniqueArray(fc.integer({ min: 0, max: 3 }), { maxLength: 2 }),
  status: fc.constantFrom(...KNOWN_STATUSES),
  // Few distinct times around "now" (ties are common), a few in the future beyond any horizon.
  publishOffset: fc.oneof(
    fc.integer({ min: -8, max: 2 }).map((n) => BigInt(n) * 1_000_000_000n),
    fc.constantFrom(-1n, 1n, 3_600_000_000_000n),
  ),
});

interface TaskSpec {
  requester: number;
  executors: number[];
  status: string;
  publishOffset: bigint;
}

function buildLedger(specs: TaskSpec[]): TaskView[] {
  return specs.map((s, i) =>
    decodeTaskView(
      Buffer.from(
        FLTask.encode(
          FLTask.fromPartial({
            iD: `task-${String(i).padStart(3, "0")}-${(i * 7919) % 101}`,
            requester: KEYS[s.requester],
            dataSets: s.executors.map((e) => ({ executor: KEYS[e], address: `10.0.0.${e}:8184` })),
            status: s.status,
            publishTime: NOW_NS + s.publishOffset,
          }),
        ).finish(),
      ),
    ),
  );
}

const timeArb = fc.oneof(
  fc.integer({ min: -9, max: 3 }).map((n) => NOW_NS + BigInt(n) * 1_000_000_000n),
  fc.integer({ min: -3, max: 3 }).map((n) => NOW_NS + BigInt(n)),
  // 0 and below: no upper bound (spec §4).
  fc.constantFrom(0n, -1n, 9_223_372_036_854_775_807n, NOW_NS + 3_600_000_000_000n),
);

const queryArb = fc.record({
  pubKey: fc.constantFrom(...KEYS, Buffer.alloc(0)),
  status: fc.constantFrom("", "Finished", "Processing", "Confirming"),
  timeStart: fc.constantFrom(0n, NOW_NS - 5_000_000_000n, NOW_NS),
  timeEnd: timeArb,
  limit: fc.constantFrom(0n, -1n, 1n, 2n, 3n, 5n, 100n),
});

/**
 * The fresh answer, written from spec §4 independently of src/merge: a v2.x Executor
 * holding the whole ledger (`timeEnd <= 0`: no upper bound; `limit <= 0`: no cap).
 */
function freshAnswer(ledger: readonly TaskView[], q: ListQuery): TaskView[] {
  const hits = ledger.filter(
    (t) =>
      (q.pubKey.length === 0 || t.requester.equals(q.pubKey) || t.dataSets.some((d) => d.executor.equals(q.pubKey))) &&
      (q.status === "" || t.status === q.status) &&
      q.timeStart <= t.publishTime &&
      (q.timeEnd <= 0n || t.publishTime <= q.timeEnd),
  );
  hits.sort((a, b) =>
    a.publishTime !== b.publishTime
      ? a.publishTime > b.publishTime
        ? -1
        : 1
      : Buffer.compare(Buffer.from(a.id, "utf8"), Buffer.from(b.id, "utf8")),
  );
  return q.limit > 0n ? hits.slice(0, Number(q.limit)) : hits;
}

/** An end above every int64 time stands for timeEnd <= 0. */
const endOf = (t: bigint): bigint => (t > 0n ? t : 1n << 63n);

const same = (a: readonly TaskView[] | undefined, b: readonly TaskView[]): boolean =>
  a !== undefined && a.length === b.length && a.every((t, i) => t.raw.equals(b[i]!.raw));

describe("answerFromSnapshot: exact or nothing", () => {
  test("an answer from a snapshot equals the fresh answer; an uncut snapshot always answers", () => {
    let answered = 0;
    let refusedCut = 0;
    fc.assert(
      fc.property(
        fc.array(taskArb, { maxLength: 30 }),
        queryArb,
        fc.record({ timeEnd: timeArb, limit: fc.constantFrom(0n, 1n, 2n, 3n, 4n, 10n) }),
        (specs, req, f) => {
          const ledger = buildLedger(specs);
          const fetchQ: ListQuery = { ...req, timeEnd: f.timeEnd, limit: f.limit };
          const tasks = selectForList(ledger, fetchQ);
          const snap = { fetchEnd: fetchQ.timeEnd, cut: wasCut(tasks, fetchQ.limit), tasks };
          const fresh = freshAnswer(ledger, req);
          const got = answerFromSnapshot(snap, req);
          if (got !== undefined) {
            answered++;
            if (!same(got, fresh)) return false;
          } else if (snap.cut) refusedCut++;
          if (!snap.cut && endOf(req.timeEnd) <= endOf(snap.fetchEnd) && got === undefined) return false;
          return true;
        },
      ),
      { numRuns: 3000 },
    );
    // The property was exercised both ways, not vacuously.
    expect(answered).toBeGreaterThan(300);
    expect(refusedCut).toBeGreaterThan(30);
  });
});

const options = (listFetchLimit: number): ListCacheOptions => ({
  liveHorizonMs: 60_000,
  listFetchLimit,
  listTtlMs: 2000,
  refreshAheadMs: 0,
  staleGraceMs: 0,
  maxStaleMs: 60_000,
  maxEntryBytes: 8 * 1024 * 1024,
  leaseMs: 1000,
  leaseWaitMs: 100,
  backgroundDeadlineMs: 1000,
});

const fixedSet: ExecutorSetView = {
  pull: async () => {},
  publish: async () => {},
  setId: () => "set",
  askedAll: () => true,
};

describe("ListAnswerCache over random request sequences", () => {
  test("every answer, hit or miss, equals the fresh fan-out answer; live requests hit", async () => {
    const totals = { hits: 0, fetches: 0, requests: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(taskArb, { maxLength: 25 }),
        fc.constantFrom(1, 2, 3, 100),
        fc.array(
          fc.record({
            q: queryArb,
            // Most requests are stock-client style: timeEnd = the moment they are sent.
            live: fc.boolean(),
            // Most share the first request's key (pubKey, status, timeStart): only timeEnd/limit differ.
            sameKey: fc.integer({ min: 0, max: 9 }).map((n) => n < 8),
            advanceMs: fc.integer({ min: 0, max: 900 }),
          }),
          { minLength: 1, maxLength: 25 },
        ),
        async (specs, floor, requests) => {
          const ledger = buildLedger(specs);
          let now = NOW_MS;
          const stats = new CacheStats();
          const fetcher = async (q: ListQuery) => {
            const report = new FanoutReport();
            report.asked.push("10.0.0.1:8184");
            report.answered.push("10.0.0.1:8184");
            return { tasks: selectForList(ledger, q), report };
          };
          const cache = new ListAnswerCache(
            new MemoryStore(1 << 20),
            fixedSet,
            fetcher,
            options(floor),
            stats,
            pino({ level: "silent" }),
            () => now,
          );
          const base = requests[0]!.q;
          for (const r of requests) {
            now += r.advanceMs;
            const keyed = r.sameKey
              ? { ...r.q, pubKey: base.pubKey, status: base.status, timeStart: base.timeStart }
              : r.q;
            const q = r.live ? { ...keyed, timeEnd: BigInt(now) * 1_000_000n } : keyed;
            const answer = await cache.list(q, { deadline: Date.now() + 5000, requestId: "t" });
            const fresh = freshAnswer(ledger, q);
            if (!same(answer.tasks, fresh)) return false;
          }
          totals.hits += stats.hits;
          totals.fetches += stats.fetches;
          totals.requests += requests.length;
          return true;
        },
      ),
      { numRuns: 400 },
    );
    expect(totals.hits).toBeGreaterThan(totals.requests / 4);
  });

  test("a stock client's stream of timeEnd = now requests is served by one fetch per TTL", async () => {
    const ledger = buildLedger(
      Array.from({ length: 300 }, (_, i) => ({
        requester: i % 3,
        executors: [i % 4],
        status: KNOWN_STATUSES[i % 7]!,
        publishOffset: -BigInt(i) * 1_000_000_000n,
      })),
    );
    let now = NOW_MS;
    let fetches = 0;
    const cache = new ListAnswerCache(
      new MemoryStore(1 << 22),
      fixedSet,
      async (q) => {
        fetches++;
        const report = new FanoutReport();
        report.asked.push("a");
        report.answered.push("a");
        return { tasks: selectForList(ledger, q), report };
      },
      options(100),
      new CacheStats(),
      pino({ level: "silent" }),
      () => now,
    );
    for (let i = 0; i < 30; i++) {
      now += 33;
      const q = { pubKey: KEYS[0]!, status: "", timeStart: 0n, timeEnd: BigInt(now) * 1_000_000n, limit: 100n };
      const a = await cache.list(q, { deadline: Date.now() + 5000, requestId: "t" });
      expect(same(a.tasks, selectForList(ledger, q))).toBe(true);
      expect(a.cache).toBe(i === 0 ? "miss" : "hit");
    }
    expect(fetches).toBe(1);
    // The plan reaches past later "now"s and keeps the limit floor.
    const plan = planListFetch(
      { pubKey: KEYS[0]!, status: "", timeStart: 0n, timeEnd: NOW_NS, limit: 10n },
      NOW_MS,
      options(100),
    );
    expect(plan.windowClass).toBe("live");
    expect(plan.fetch.timeEnd).toBe(NOW_NS + 60_000n * 1_000_000n);
    expect(plan.fetch.limit).toBe(100n);
  });
});

describe("timeEnd = 0 is no upper bound (v2.x, spec §4)", () => {
  test("an open-ended request gets every task, future-dated ones included, from its own entry", async () => {
    const ledger = buildLedger(
      [-5n, 0n, 1n, 3600n].map((off, i) => ({
        requester: 0,
        executors: [1],
        status: KNOWN_STATUSES[i]!,
        publishOffset: off * 1_000_000_000n,
      })),
    );
    const plan = planListFetch(
      { pubKey: KEYS[0]!, status: "", timeStart: 0n, timeEnd: 0n, limit: 0n },
      NOW_MS,
      options(100),
    );
    expect(plan.windowClass).toBe("open");
    expect(plan.fetch.timeEnd).toBe(0n);
    let fetches = 0;
    const cache = new ListAnswerCache(
      new MemoryStore(1 << 20),
      fixedSet,
      async (q) => {
        fetches++;
        const report = new FanoutReport();
        report.asked.push("a");
        report.answered.push("a");
        return { tasks: selectForList(ledger, q), report };
      },
      options(100),
      new CacheStats(),
      pino({ level: "silent" }),
      () => NOW_MS,
    );
    const ctx = { deadline: Date.now() + 5000, requestId: "t" };
    for (const limit of [0n, 100n, 2n]) {
      const q = { pubKey: KEYS[0]!, status: "", timeStart: 0n, timeEnd: 0n, limit };
      const a = await cache.list(q, ctx);
      expect(a.tasks.length).toBe(limit === 2n ? 2 : 4);
      expect(same(a.tasks, freshAnswer(ledger, q))).toBe(true);
    }
    // A live request (timeEnd = now) is another class: the future-dated task is not in its answer.
    const live = await cache.list({ pubKey: KEYS[0]!, status: "", timeStart: 0n, timeEnd: NOW_NS, limit: 100n }, ctx);
    expect(live.tasks.length).toBe(2);
    expect(fetches).toBe(2);
  });
});

describe("the live class in time (kept hit replies check it without BigInt arithmetic)", () => {
  test("isLive(q, now) is timeEnd >= floor(now) - liveHorizon in ns, at and around every boundary", () => {
    const opts = { liveHorizonMs: 60_000, listFetchLimit: 100 };
    const now0 = 1_764_000_000_123.4;
    for (const dMs of [-60_001, -60_000, -59_999, -1, 0, 1, 60_000]) {
      for (const dNs of [-1n, 0n, 1n, 999_999n]) {
        const timeEnd = (BigInt(Math.floor(now0)) + BigInt(dMs)) * 1_000_000n + dNs;
        if (timeEnd <= 0n) continue;
        const q = { pubKey: Buffer.alloc(0), status: "", timeStart: 0n, timeEnd, limit: 10n };
        for (const now of [now0, now0 + 0.5, now0 + 1, now0 + 60_000, now0 + 60_001]) {
          const want = timeEnd >= BigInt(Math.floor(now)) * 1_000_000n - 60_000n * 1_000_000n;
          expect(isLive(q, now, opts)).toBe(want);
          expect(Math.floor(now) <= liveUntilMs(q, opts)).toBe(want);
          expect(planListFetch(q, now, opts).windowClass === "live").toBe(want);
        }
      }
    }
  });
});
