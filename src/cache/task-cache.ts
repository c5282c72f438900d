/**
 * Tasks by ID, and which Executors hold them.
 *
 * Finished/Failed/Rejected tasks never change, so they are kept `terminalTtlMs`
 * whatever the Executor set; other tasks `taskTtlMs`, and only for the set they were
 * fetched with. The cache also remembers which Executors held a task and hands them
 * to the reader it decorates as `preferred` (asked first; see TaskFanout.get).
 */
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import type { GetAnswer, ReadOptions } from "../core/reader";
import { FanoutReport, type CallContext } from "../core/report";
import { isTerminal } from "../merge/status";
import type { TaskView } from "../wire/task-view";
import { leasedFetch, readEntry } from "./cached-read";
import { decodeHolders, decodeTaskEntry, encodeHolders, encodeTaskEntry, FORMAT, type TaskEntry } from "./entry-codec";
import type { ExecutorSetView } from "./executor-set";
import { SingleFlight } from "./flight";
import type { CacheStats, CacheStore } from "./store";

/** The reader the cache decorates, as far as tasks go. */
export type TaskFetcher = (
  taskID: string,
  ctx: CallContext,
  opts: { preferred?: readonly string[] },
) => Promise<{ task?: TaskView; report: FanoutReport; holders?: string[] }>;

export interface TaskCacheOptions {
  taskTtlMs: number;
  terminalTtlMs: number;
  maxStaleMs: number;
  maxEntryBytes: number;
  leaseMs: number;
  leaseWaitMs: number;
}

interface Fetched {
  task?: TaskView;
  report: FanoutReport;
  holders?: string[];
}

export class TaskCache {
  private readonly flights = new SingleFlight<Fetched>();

  constructor(
    private readonly store: CacheStore,
    private readonly set: ExecutorSetView,
    private readonly fetch: TaskFetcher,
    private readonly resolve: (address: string) => string | undefined,
    private readonly opts: TaskCacheOptions,
    private readonly stats: CacheStats,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  private idHash(taskID: string): string {
    return createHash("sha256").update(taskID).digest("hex").slice(0, 32);
  }

  taskKey(taskID: string): string {
    return `v${FORMAT}:t:${this.idHash(taskID)}`;
  }

  holdersKey(taskID: string): string {
    return `v${FORMAT}:h:${this.idHash(taskID)}`;
  }

  private fresh(e: TaskEntry, taskID: string): boolean {
    if (e.task.id !== taskID) return false;
    const age = this.now() - e.fetchedAtMs;
    if (isTerminal(e.task.status)) return age < this.opts.terminalTtlMs;
    return age < this.opts.taskTtlMs && e.setId === this.set.setId();
  }

  /**
   * The in-process store hands back the same Buffer on every hit: decode it once, so a
   * hit's task (and its bytes, which the own server frames once per Buffer) is the same.
   */
  private readonly decoded = new WeakMap<Buffer, TaskEntry>();
  private readonly decodeOnce = (buf: Buffer): TaskEntry => {
    let e = this.decoded.get(buf);
    if (e === undefined) {
      e = decodeTaskEntry(buf); // another format or damaged: throws, a miss
      this.decoded.set(buf, e);
    }
    return e;
  };

  async get(taskID: string, ctx: CallContext, ro: ReadOptions = {}): Promise<GetAnswer> {
    await this.set.pull();
    const key = this.taskKey(taskID);
    const got = await readEntry(this.store, key, this.store.shared ? decodeTaskEntry : this.decodeOnce);
    let bypass = !got.ok;
    const old = got.entry && got.entry.task.id === taskID ? got.entry : undefined;
    if (old && !ro.noCache && this.fresh(old, taskID)) {
      this.stats.hits++;
      const holders = ro.holders ? await this.holders(taskID) : undefined;
      return { task: old.task, report: FanoutReport.fromAnswered(old.answered), cache: "hit", holders };
    }

    const work = () => this.fetchAndStore(taskID, ctx, old?.fetchedAtMs ?? 0, !bypass && !ro.noCache);
    const fetched = ro.noCache ? await work() : await this.flights.run(key, work).promise;
    if (!this.store.healthy && this.store.shared) bypass = true;
    const { report } = fetched;
    if (
      !fetched.task &&
      report.asked.length > 0 &&
      report.answered.length === 0 &&
      old &&
      this.now() - old.fetchedAtMs <=
        Math.max(this.opts.maxStaleMs, isTerminal(old.task.status) ? this.opts.terminalTtlMs : 0)
    ) {
      this.stats.stale++;
      return { task: old.task, report, cache: "stale" };
    }
    if (bypass) this.stats.bypass++;
    else this.stats.misses++;
    const holders = fetched.holders ?? (ro.holders ? await this.holders(taskID) : undefined);
    return { task: fetched.task, report, cache: bypass ? "bypass" : "miss", holders };
  }

  private async holders(taskID: string): Promise<string[]> {
    const got = await this.store.get(this.holdersKey(taskID));
    if (!got.ok || !got.value) return [];
    try {
      // Only Executors this replica knows (and its allow-list admitted) are asked.
      return decodeHolders(got.value)
        .map((a) => this.resolve(a))
        .filter((a): a is string => a !== undefined);
    } catch {
      return [];
    }
  }

  private async fetchAndStore(
    taskID: string,
    ctx: CallContext,
    oldFetchedAt: number,
    useLease: boolean,
  ): Promise<Fetched> {
    const key = this.taskKey(taskID);
    return leasedFetch<TaskEntry, Fetched>({
      store: this.store,
      key,
      leaseMs: this.opts.leaseMs,
      useLease,
      waitUntil: Math.min(this.now() + this.opts.leaseWaitMs, ctx.deadline - 50),
      signal: ctx.signal,
      decode: decodeTaskEntry,
      accept: (e) => e.fetchedAtMs > oldFetchedAt && this.fresh(e, taskID),
      fromEntry: (entry) => ({ task: entry.task, report: FanoutReport.fromAnswered(entry.answered) }),
      now: this.now,
      onWaitHit: () => this.stats.leaseWaitHits++,
      fetch: async () => {
        this.stats.fetches++;
        // Followers share this fetch: one client going away must not cancel it for the others.
        const shared: CallContext = { deadline: ctx.deadline, requestId: ctx.requestId };
        const preferred = await this.holders(taskID);
        const outcome = await this.fetch(taskID, shared, { preferred });
        await this.set.publish();
        await this.maybeStore(taskID, outcome);
        return { task: outcome.task, report: outcome.report, holders: outcome.holders };
      },
    });
  }

  private async maybeStore(taskID: string, outcome: Fetched): Promise<void> {
    const { task, report } = outcome;
    if (outcome.holders && outcome.holders.length > 0) {
      await this.store.set(
        this.holdersKey(taskID),
        encodeHolders([...new Set(outcome.holders)]),
        this.opts.terminalTtlMs,
      );
    }
    if (!task) return;
    const terminal = isTerminal(task.status);
    // A terminal copy is final whoever was asked; any other copy only with the whole set asked.
    if (report.partial || (!terminal && !this.set.askedAll(report, false))) {
      this.stats.notStoredPartial++;
      return;
    }
    const bytes = encodeTaskEntry({
      fetchedAtMs: this.now(),
      setId: this.set.setId(),
      task,
      answered: report.answered,
    });
    if (bytes.length > this.opts.maxEntryBytes) {
      this.stats.notStoredTooLarge++;
      return;
    }
    const keepMs = (terminal ? this.opts.terminalTtlMs : this.opts.taskTtlMs) + this.opts.maxStaleMs;
    await this.store.set(this.taskKey(taskID), bytes, keepMs);
    this.log.trace({ taskID, terminal }, "cached task");
  }
}
