/**
 * Tasks by ID, and which Executors hold them.
 *
 * Finished/Failed/Rejected tasks never change, so they are kept `terminalTtlMs`
 * whatever the Executor set; other tasks `taskTtlMs`, and only for the set they were
 * fetched with. A miss asks the task's known holders first; a terminal copy from a
 * holder is the answer (no other copy can be more advanced). Otherwise the remaining
 * Executors are asked too, because a lagging holder may still say Processing while
 * an Executor that was not a holder last time already says Finished.
 */
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import type { GetAnswer, ReadOptions } from "../fanout/cluster-tasks";
import { FanoutReport, type CallContext } from "../fanout/report";
import type { GetOutcome } from "../fanout/task-fanout";
import { mergeCopies } from "../merge/merge";
import { isTerminal } from "../merge/status";
import type { TaskView } from "../wire/task-view";
import { decodeHolders, decodeTaskEntry, encodeHolders, encodeTaskEntry, FORMAT, type TaskEntry } from "./entry-codec";
import type { ExecutorSetView } from "./executor-set";
import { SingleFlight } from "./flight";
import { leaseKey, waitForEntry } from "./lease";
import { reportFromEntry } from "./list-cache";
import type { CacheStats, CacheStore } from "./store";

export type TaskFetcher = (
  taskID: string,
  ctx: CallContext,
  scope?: { only?: readonly string[]; skip?: Iterable<string>; prior?: TaskView },
) => Promise<GetOutcome>;

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

function combine(a: GetOutcome, b: GetOutcome): GetOutcome {
  const report = new FanoutReport();
  for (const r of [a.report, b.report]) {
    report.asked.push(...r.asked);
    report.answered.push(...r.answered);
    report.failed.push(...r.failed);
    report.dropped += r.dropped;
    report.conflicts += r.conflicts;
  }
  const copies = [a.task, b.task].filter((t): t is TaskView => t !== undefined);
  const { tasks, conflicts } = mergeCopies(copies);
  report.conflicts += conflicts;
  return { task: copies[0] && tasks.get(copies[0].id), report, holders: [...a.holders, ...b.holders] };
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
    const age = Date.now() - e.fetchedAtMs;
    if (isTerminal(e.task.status)) return age < this.opts.terminalTtlMs;
    return age < this.opts.taskTtlMs && e.setId === this.set.setId();
  }

  async get(taskID: string, ctx: CallContext, ro: ReadOptions = {}): Promise<GetAnswer> {
    await this.set.pull();
    const key = this.taskKey(taskID);
    const got = await this.store.get(key);
    let bypass = !got.ok;
    let old: TaskEntry | undefined;
    if (got.ok && got.value) {
      try {
        old = decodeTaskEntry(got.value);
      } catch {
        old = undefined;
      }
    }
    if (old && old.task.id !== taskID) old = undefined;
    if (old && !ro.noCache && this.fresh(old, taskID)) {
      this.stats.hits++;
      const holders = ro.holders ? await this.holders(taskID) : undefined;
      return { task: old.task, report: reportFromEntry(old.answered), cache: "hit", holders };
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
      Date.now() - old.fetchedAtMs <=
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
    let leased = false;
    if (this.store.shared && useLease) {
      const lease = await this.store.lease(leaseKey(key), this.opts.leaseMs);
      leased = lease.ok && lease.value;
      if (lease.ok && !lease.value) {
        const entry = await waitForEntry(
          this.store,
          key,
          decodeTaskEntry,
          (e) => e.fetchedAtMs > oldFetchedAt && this.fresh(e, taskID),
          Math.min(Date.now() + this.opts.leaseWaitMs, ctx.deadline - 50),
          ctx.signal,
        );
        if (entry) {
          this.stats.leaseWaitHits++;
          return { task: entry.task, report: reportFromEntry(entry.answered) };
        }
      }
    }
    try {
      this.stats.fetches++;
      const shared: CallContext = { deadline: ctx.deadline, requestId: ctx.requestId };
      const holders = await this.holders(taskID);
      let outcome: GetOutcome;
      if (holders.length > 0) {
        const first = await this.fetch(taskID, shared, { only: holders });
        outcome =
          first.task && isTerminal(first.task.status)
            ? first
            : combine(first, await this.fetch(taskID, shared, { skip: first.report.asked, prior: first.task }));
      } else {
        outcome = await this.fetch(taskID, shared);
      }
      await this.set.publish();
      await this.maybeStore(taskID, outcome);
      return { task: outcome.task, report: outcome.report, holders: outcome.holders };
    } finally {
      if (leased) await this.store.delete(leaseKey(key));
    }
  }

  private async maybeStore(taskID: string, outcome: GetOutcome): Promise<void> {
    const { task, report } = outcome;
    if (outcome.holders.length > 0) {
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
      fetchedAtMs: Date.now(),
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
