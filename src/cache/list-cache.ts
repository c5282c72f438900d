/**
 * Merged ListTask answers, cached so that requests differing only in timeEnd (and,
 * where exactly answerable, in limit) share one fan-out. See list-rule.ts for when an
 * entry answers a request, and README "Cache" for the whole contract.
 */
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import type { ListAnswer, ReadOptions } from "../core/reader";
import { FanoutReport, type CallContext } from "../core/report";
import { windowEnd, type ListQuery } from "../merge/filter";
import type { TaskView } from "../wire/task-view";
import { leasedFetch, readEntry, type ReadEntry } from "./cached-read";
import { decodeListEntry, encodeListEntry, FORMAT, type ListEntry } from "./entry-codec";
import type { ExecutorSetView } from "./executor-set";
import { SingleFlight } from "./flight";
import { answerFromSnapshot, planListFetch, wasCut, type ListFetchPlan, type ListRuleOptions } from "./list-rule";
import type { CacheStats, CacheStore } from "./store";

/** The reader the cache decorates, as far as lists go. */
export type ListFetcher = (
  q: ListQuery,
  ctx: CallContext,
) => Promise<{ tasks: readonly TaskView[]; report: FanoutReport }>;

export interface ListCacheOptions extends ListRuleOptions {
  listTtlMs: number;
  refreshAheadMs: number;
  staleGraceMs: number;
  maxStaleMs: number;
  maxEntryBytes: number;
  leaseMs: number;
  leaseWaitMs: number;
  /** Deadline of a background revalidation. */
  backgroundDeadlineMs: number;
}

interface Fetched {
  entry: ListEntry;
  report: FanoutReport;
}

const reportFromEntry = (answered: readonly string[]): FanoutReport => FanoutReport.fromAnswered(answered);

/**
 * Hits answered from kept renderings (the API's framed reply and trailers): a request
 * (its query and the API's prefix, see `renderName`) maps to the entry key it was
 * answered from, and a rendering is kept *with the snapshot* it was made from (a WeakMap
 * on the decoded entry). So a rendering is served only while the store still returns
 * that very entry: one replaced (a refill, no-cache, another replica's write through
 * Redis), expired or evicted is another object or none, and its renderings go with it.
 *
 * Stock clients send timeEnd = now, a new value on every call. A live request's name
 * leaves timeEnd out; its rendering says which timeEnds it answers: those between the
 * snapshot's publishTimes around the one it was made for (no task enters or leaves the
 * window there, so the selection and its bytes are the same) and within the fetch.
 */
const MAX_REQUESTS = 1024;
/** Renderings kept per snapshot (requests differing in limit or timeEnd). */
const MAX_RENDERINGS = 8;
/** Shared stores hand back fresh bytes on every read: the last decoded entry per key, while its bytes are equal. */
const MAX_DECODED = 64;
const MAX_DECODED_BYTES = 32 * 1024 * 1024;

/** Where a request's hit was answered from. */
interface HitRef {
  key: string;
  setId: string;
}

interface Rendering {
  /** Departed Executors when it was made (its trailers say so). */
  departed: number;
  value: unknown;
  /** The request timeEnds it answers: from <= timeEnd < until (ns). */
  from: bigint;
  until: bigint;
}

/** Unambiguous text of a byte string inside a name. */
const field = (b: Buffer | undefined): string => (b === undefined ? "-" : `${b.length}:${b.toString("latin1")}`);

/**
 * A request's name for kept renderings: the API's prefix (what else changes its reply),
 * everything of the query its answer depends on, and its window class (the entry key's
 * part), which holds timeEnd except for the live class.
 */
function renderName(prefix: string, q: ListQuery, windowClass: string): string {
  const status = `${q.status.length}:${q.status}`;
  return `${prefix}|${field(q.pubKey)}|${field(q.ePubKey)}|${status}|${q.timeStart}|${q.limit}|${windowClass}`;
}

/**
 * The timeEnds whose answer from `entry` is the one for `timeEnd`: between the nearest
 * publishTimes at or below it and above it, and not past the fetch's end.
 */
function sameAnswerRange(entry: ListEntry, timeEnd: bigint): { from: bigint; until: bigint } {
  let from = -1n << 63n;
  let until = windowEnd(entry.fetchEnd) + 1n;
  for (const t of entry.tasks) {
    const p = t.publishTime;
    if (p <= timeEnd) {
      if (p > from) from = p;
    } else if (p < until) until = p;
  }
  return { from, until };
}

export class ListAnswerCache {
  private readonly flights = new SingleFlight<Fetched>();

  constructor(
    private readonly store: CacheStore,
    private readonly set: ExecutorSetView,
    private readonly fetch: ListFetcher,
    private readonly opts: ListCacheOptions,
    private readonly stats: CacheStats,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The key of an entry: format, Executor set, and the request without timeEnd and limit. */
  key(setId: string, q: ListQuery, windowClass: string): string {
    const h = createHash("sha256")
      .update(
        `${q.pubKey.toString("hex")}|${q.ePubKey?.toString("hex") ?? ""}|${q.status}|${q.timeStart}|${windowClass}`,
      )
      .digest("hex")
      .slice(0, 32);
    return `v${FORMAT}:l:${setId}:${h}`;
  }

  /** The in-process store hands back the same Buffer on every hit: decode it once. */
  private readonly decoded = new WeakMap<Buffer, ListEntry>();
  /** Shared stores: key -> the bytes last read and their entry (bounded in count and bytes). */
  private readonly lastRead = new Map<string, { bytes: Buffer; entry: ListEntry }>();
  private lastReadBytes = 0;

  private decodeOnce(buf: Buffer): ListEntry {
    const known = this.decoded.get(buf);
    if (known) return known;
    const entry = decodeListEntry(buf); // another format or damaged: throws, a miss
    this.decoded.set(buf, entry);
    return entry;
  }

  /** The entry stored under `key`: the same object for as long as the stored bytes are the same. */
  private readKey(key: string): Promise<ReadEntry<ListEntry>> {
    if (!this.store.shared) return readEntry(this.store, key, (b) => this.decodeOnce(b));
    return readEntry(this.store, key, (bytes) => {
      const last = this.lastRead.get(key);
      if (last && last.bytes.equals(bytes)) return last.entry;
      const entry = decodeListEntry(bytes);
      if (last) {
        this.lastRead.delete(key);
        this.lastReadBytes -= last.bytes.length;
      }
      this.lastRead.set(key, { bytes, entry });
      this.lastReadBytes += bytes.length;
      for (const [k, v] of this.lastRead) {
        if (this.lastRead.size <= MAX_DECODED && this.lastReadBytes <= MAX_DECODED_BYTES) break;
        this.lastRead.delete(k);
        this.lastReadBytes -= v.bytes.length;
      }
      return entry;
    });
  }

  private readonly refs = new Map<string, HitRef>();
  private readonly renderings = new WeakMap<ListEntry, Map<string, Rendering>>();
  /** Where each hit answer `list` returned came from (until the answer is dropped). */
  private readonly hitOf = new WeakMap<ListAnswer, HitRef & { entry: ListEntry; windowClass: string }>();

  /**
   * The rendering kept for query `q` (with the API's `prefix`) when it would be answered
   * now, as a hit, from the snapshot the rendering was made from (counted as a hit;
   * refreshed ahead as `list` does); undefined otherwise (then ask `list`).
   */
  async renderedHit(prefix: string, q: ListQuery, departed: number): Promise<unknown> {
    if (this.store.shared) await this.set.pull();
    const plan = planListFetch(q, this.now(), this.opts);
    // The key `list` would read now: the same set, the same window class (in the name).
    const name = renderName(prefix, q, plan.windowClass);
    const ref = this.refs.get(name);
    if (ref === undefined || this.set.setId() !== ref.setId) return undefined;
    const got = await this.readKey(ref.key);
    const entry = got.entry;
    if (entry === undefined) return undefined;
    const kept = this.renderings.get(entry)?.get(name);
    if (kept === undefined || kept.departed !== departed) return undefined;
    if (q.timeEnd < kept.from || q.timeEnd >= kept.until) return undefined;
    const age = this.now() - entry.fetchedAtMs;
    const { listTtlMs: ttl, refreshAheadMs } = this.opts;
    if (!(age < ttl)) return undefined;
    if (age >= ttl - refreshAheadMs) this.revalidate(ref.key, q, plan);
    this.stats.hits++;
    return kept.value;
  }

  /** Keeps `value`, made from the hit `answer` (from `list` for `q`), for the query with `prefix`. */
  keepRendering(prefix: string, q: ListQuery, answer: ListAnswer, departed: number, value: unknown): void {
    const hit = this.hitOf.get(answer);
    if (hit === undefined) return;
    const { entry, windowClass, key, setId } = hit;
    const name = renderName(prefix, q, windowClass);
    if (!this.refs.has(name) && this.refs.size >= MAX_REQUESTS) {
      this.refs.delete(this.refs.keys().next().value as string);
    }
    this.refs.set(name, { key, setId });
    let kept = this.renderings.get(entry);
    if (kept === undefined) this.renderings.set(entry, (kept = new Map()));
    if (!kept.has(name) && kept.size >= MAX_RENDERINGS) kept.delete(kept.keys().next().value as string);
    kept.set(name, { departed, value, ...sameAnswerRange(entry, q.timeEnd) });
  }

  async list(q: ListQuery, ctx: CallContext, ro: ReadOptions = {}): Promise<ListAnswer> {
    await this.set.pull();
    const plan = planListFetch(q, this.now(), this.opts);
    const setId = this.set.setId();
    const key = this.key(setId, q, plan.windowClass);
    const got = await this.readKey(key);
    let bypass = !got.ok;
    const old = got.entry;
    const oldAnswer = old && answerFromSnapshot(old, q);
    const age = old ? this.now() - old.fetchedAtMs : Infinity;

    if (oldAnswer && !ro.noCache) {
      const { listTtlMs: ttl, refreshAheadMs, staleGraceMs } = this.opts;
      if (age < ttl) {
        if (age >= ttl - refreshAheadMs) this.revalidate(key, q, plan);
        this.stats.hits++;
        const answer: ListAnswer = { tasks: oldAnswer, report: reportFromEntry(old.answered), cache: "hit" };
        this.hitOf.set(answer, { key, setId, windowClass: plan.windowClass, entry: old });
        return answer;
      }
      if (age < ttl + staleGraceMs) {
        this.revalidate(key, q, plan);
        this.stats.stale++;
        return { tasks: oldAnswer, report: reportFromEntry(old.answered), cache: "stale" };
      }
    }

    const flightKey = `${key}|${plan.fetch.limit}`;
    const work = () => this.fetchAndStore(key, q, plan, ctx, old?.fetchedAtMs ?? 0, !bypass && !ro.noCache);
    // no-cache forces a fan-out of its own; everyone else joins a running one.
    const fetched = ro.noCache ? await work() : await this.flights.run(flightKey, work).promise;
    if (!this.store.healthy && this.store.shared) bypass = true;
    const { report } = fetched;

    if (report.asked.length > 0 && report.answered.length === 0 && oldAnswer && age <= this.opts.maxStaleMs) {
      // Every Executor failed: an old complete answer beats none; the trailer says so.
      this.stats.stale++;
      return { tasks: oldAnswer, report, cache: "stale" };
    }
    const answer = answerFromSnapshot(fetched.entry, q);
    if (answer) {
      this.count(bypass);
      return { tasks: answer, report, cache: bypass ? "bypass" : "miss" };
    }
    // The shared fetch cannot answer this request exactly (e.g. a larger limit): ask for it as is.
    this.stats.fetches++;
    const direct = await this.fetch(q, ctx);
    this.count(bypass);
    return { tasks: direct.tasks, report: direct.report, cache: bypass ? "bypass" : "miss" };
  }

  private count(bypass: boolean): void {
    if (bypass) this.stats.bypass++;
    else this.stats.misses++;
  }

  private revalidate(key: string, q: ListQuery, plan: ListFetchPlan): void {
    const ctx: CallContext = { deadline: this.now() + this.opts.backgroundDeadlineMs, requestId: "revalidate" };
    const { leader, promise } = this.flights.run(`${key}|${plan.fetch.limit}`, () =>
      this.fetchAndStore(key, q, plan, ctx, 0, true),
    );
    if (!leader) return;
    this.stats.revalidations++;
    promise.catch((err: unknown) => this.log.debug({ err }, "background revalidation failed"));
  }

  private async fetchAndStore(
    key: string,
    q: ListQuery,
    plan: ListFetchPlan,
    ctx: CallContext,
    oldFetchedAt: number,
    useLease: boolean,
  ): Promise<Fetched> {
    return leasedFetch({
      store: this.store,
      key,
      leaseMs: this.opts.leaseMs,
      useLease,
      waitUntil: Math.min(this.now() + this.opts.leaseWaitMs, ctx.deadline - 50),
      signal: ctx.signal,
      decode: decodeListEntry,
      accept: (e) => e.fetchedAtMs > oldFetchedAt && this.now() - e.fetchedAtMs < this.opts.listTtlMs,
      fromEntry: (entry) => ({ entry, report: reportFromEntry(entry.answered) }),
      now: this.now,
      onWaitHit: () => this.stats.leaseWaitHits++,
      fetch: async () => {
        this.stats.fetches++;
        // Followers share this fetch: one client going away must not cancel it for the others.
        const outcome = await this.fetch(plan.fetch, { deadline: ctx.deadline, requestId: ctx.requestId });
        await this.set.publish();
        const entry: ListEntry = {
          fetchedAtMs: this.now(),
          fetchEnd: plan.fetch.timeEnd,
          fetchLimit: plan.fetch.limit,
          cut: wasCut(outcome.tasks, plan.fetch.limit),
          tasks: outcome.tasks,
          answered: outcome.report.answered,
        };
        await this.maybeStore(q, plan, entry, outcome.report);
        return { entry, report: outcome.report };
      },
    });
  }

  private async maybeStore(q: ListQuery, plan: ListFetchPlan, entry: ListEntry, report: FanoutReport): Promise<void> {
    // Only complete answers: nobody failed, and the whole set (as it is after this call's discovery) was asked.
    if (report.partial || report.answered.length === 0 || !this.set.askedAll(report, q.pubKey.length === 0)) {
      this.stats.notStoredPartial++;
      return;
    }
    const bytes = encodeListEntry(entry);
    if (bytes.length > this.opts.maxEntryBytes) {
      this.stats.notStoredTooLarge++;
      return;
    }
    const keepMs = this.opts.listTtlMs + Math.max(this.opts.staleGraceMs, this.opts.maxStaleMs);
    await this.store.set(this.key(this.set.setId(), q, plan.windowClass), bytes, keepMs);
  }
}
