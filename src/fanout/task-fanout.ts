/**
 * Fan-out of ListTask and GetTaskById to the Executor set, with discovery: the tasks
 * one round returns name Executors (`dataSets[].address`); allowed new ones are asked
 * in a further round of the same call, until the set stops growing or
 * `executors.discoveryRounds` further rounds have run.
 */
import * as grpc from "@grpc/grpc-js";
import pLimit from "p-limit";
import type { Logger } from "pino";
import { GetTaskRequest } from "../gen/task/task";
import { upstreamListRequest } from "../generations/executors";
import type { Generation } from "../generations/list-request";
import { selectForList, matchesQuery, type ListQuery } from "../merge/filter";
import { compareListOrder, mergeCopies } from "../merge/merge";
import { countDrop, screenTasks, taskProblem, type DropCounts } from "../merge/sanity";
import { isTerminal } from "../merge/status";
import { RefusedAddressError } from "../upstream/connect";
import { classifyUpstreamError, isNotFound } from "../upstream/errors";
import { CircuitOpenError, ExecutorHealth, NotCountedError } from "../upstream/health";
import type { UpstreamMethod, UpstreamPool } from "../upstream/pool";
import type { ExecutorRegistry } from "../upstream/registry";
import { decodeTaskList, decodeTaskView, WireError, type TaskView } from "../wire/task-view";
import { upstreamDeadline } from "./deadline";
import { FanoutReport, type CallContext } from "./report";

export interface FanoutOptions {
  callTimeoutMs: number;
  concurrency: number;
  discoveryRounds: number;
  /** GetTaskById: stop waiting for stragglers this long after the first copy (0: off). */
  hedgeDelayMs?: number;
  /** Each Executor's wire generation (executors.generation, per-seed `generation`); v2 when absent. */
  generationOf?: (address: string) => Generation;
}

export interface ListOutcome {
  tasks: TaskView[];
  report: FanoutReport;
}

export interface GetOutcome {
  /** The most advanced copy, or undefined when no Executor had it. */
  task?: TaskView;
  report: FanoutReport;
  /** Executors that returned a copy. */
  holders: string[];
}

/**
 * What each Executor is asked for a client query. Status and limit are forwarded only
 * when that keeps the merged answer exact: a copy in a terminal status can never be
 * superseded by another Executor's copy, but a non-terminal one can (a lagging
 * Executor still says Processing when another says Finished), so a non-terminal
 * status filter is applied only after merging, over the uncapped window.
 */
export function upstreamQuery(q: ListQuery): { status: string; limit: bigint } {
  if (q.status === "" || isTerminal(q.status)) return { status: q.status, limit: q.limit };
  return { status: "", limit: 0n };
}

/** Reason given to a straggler the hedged GetTaskById did not wait for. */
export const HEDGE_REASON = "not awaited (hedged answer)";

function describe(err: unknown): string {
  if (err instanceof CircuitOpenError) return "circuit open";
  if (err instanceof RefusedAddressError) return err.message.slice(0, 200);
  if (err instanceof WireError) return `malformed reply: ${err.message}`;
  const f = classifyUpstreamError(err);
  return f.message.slice(0, 200);
}

/** Observes each finished fan-out (metrics: partial answers, conflicts, dropped tasks). */
export type FanoutObserver = (method: "ListTask" | "GetTaskById", report: FanoutReport) => void;

export class TaskFanout {
  private readonly observers: FanoutObserver[] = [];

  observe(fn: FanoutObserver): void {
    this.observers.push(fn);
  }

  constructor(
    private readonly registry: ExecutorRegistry,
    private readonly pool: UpstreamPool,
    private readonly opts: FanoutOptions,
    private readonly log: Logger,
    /** Per-Executor circuits (the gateway passes its one shared instance). */
    readonly health: ExecutorHealth = new ExecutorHealth({
      failures: 5,
      halfOpenAfterMs: 5000,
      maxHalfOpenAfterMs: 60_000,
    }),
  ) {}

  /**
   * One call to one Executor under its circuit, decoded by `decode` (a malformed reply
   * counts against the Executor like a failed call). Failures the Executor is not to
   * blame for — the caller went away, a deadline the client cut short, an address
   * refused before connecting — do not count.
   */
  private ask<T>(
    address: string,
    method: UpstreamMethod,
    req: Buffer,
    ctx: CallContext,
    decode: (reply: Buffer) => T,
    signal: AbortSignal | undefined = ctx.signal,
  ): Promise<T> {
    return this.health.run(address, async () => {
      const deadline = upstreamDeadline(ctx.deadline, this.opts.callTimeoutMs);
      // A timeout counts against the Executor only if it had a fair share of callTimeoutMs:
      // a client sending tiny deadlines must not be able to open every circuit.
      const cutShort = deadline.getTime() - Date.now() < this.opts.callTimeoutMs / 4;
      try {
        return decode(await this.pool.call(address, method, req, deadline, { signal }));
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (
          err instanceof RefusedAddressError ||
          signal?.aborted ||
          (cutShort && code === grpc.status.DEADLINE_EXCEEDED)
        ) {
          throw new NotCountedError(err);
        }
        throw err;
      }
    });
  }

  /** Executors to ask in one round; in the cluster-wide view only those whose key is known. */
  private pending(asked: Set<string>, needKey: boolean): string[] {
    return this.registry
      .list()
      .filter((e) => !asked.has(e.address) && (!needKey || e.pubKey !== undefined))
      .map((e) => e.address);
  }

  async list(q: ListQuery, ctx: CallContext): Promise<ListOutcome> {
    const report = new FanoutReport();
    const clusterView = q.pubKey.length === 0;
    const fwd = upstreamQuery(q);
    const asked = new Set<string>();
    const merged = new Map<string, TaskView>();
    const limit = pLimit(this.opts.concurrency);
    const log = this.log.child({ requestId: ctx.requestId, method: "ListTask" });
    const drops: DropCounts = {};

    for (let round = 0; round <= this.opts.discoveryRounds; round++) {
      const targets = this.pending(asked, clusterView);
      if (targets.length === 0 || ctx.signal?.aborted) break;
      const before = this.registry.size;
      await Promise.all(
        targets.map((address) =>
          limit(async () => {
            asked.add(address);
            report.asked.push(address);
            const key = clusterView ? (this.registry.get(address)?.pubKey ?? Buffer.alloc(0)) : q.pubKey;
            // In the Executor's own layout (v2 or v3, src/generations/executors.ts).
            const { sent, bytes: req } = upstreamListRequest(this.opts.generationOf?.(address) ?? "v2", q, key, {
              ...fwd,
              timeEnd: q.timeEnd,
            });
            const started = Date.now();
            try {
              const tasks = await this.ask(address, "listTask", req, ctx, decodeTaskList);
              // Implausible or off-filter tasks never reach the merge, the cache or discovery.
              const valid = screenTasks(tasks, (t) => matchesQuery(t, sent), drops);
              report.dropped += tasks.length - valid.length;
              // A capped reply longer than its cap is not trustworthy beyond the cap. Keep its newest
              // tasks, not its first ones: an Executor that ignored the limit may ignore the order too.
              if (sent.limit > 0n && BigInt(valid.length) > sent.limit) {
                valid.sort(compareListOrder);
                valid.length = Number(sent.limit);
              }
              report.conflicts += mergeCopies(valid, merged).conflicts;
              this.registry.discoverFrom(valid);
              report.answered.push(address);
              log.debug({ executor: address, tasks: valid.length, ms: Date.now() - started }, "executor answered");
            } catch (err) {
              const reason = describe(err);
              report.failed.push({ address, reason });
              log.warn({ executor: address, reason, ms: Date.now() - started }, "executor failed");
            }
          }),
        ),
      );
      if (this.registry.size === before && this.pending(asked, clusterView).length === 0) break;
    }
    if (report.dropped > 0) log.warn({ dropped: report.dropped, reasons: drops }, "dropped tasks from Executors");
    for (const o of this.observers) o("ListTask", report);
    return { tasks: selectForList(merged.values(), q), report };
  }

  /**
   * GetTaskById asks every Executor (any of them may hold a more advanced copy). With
   * `hedgeDelayMs` set, the call stops waiting for stragglers once its answer cannot
   * change (a copy in a terminal status: stragglers are cancelled, counted neither as
   * answered nor failed) or `hedgeDelayMs` after the first copy arrived (stragglers are
   * cancelled and named in the failed trailer: a more advanced copy may have been missed).
   * `scope.only` limits the call to those Executors (e.g. known holders of the task);
   * `scope.skip` leaves out Executors already asked; `scope.prior`, a copy those already
   * returned, starts the hedge as if it had just arrived in this call.
   */
  async getTask(
    taskID: string,
    ctx: CallContext,
    scope: { only?: readonly string[]; skip?: Iterable<string>; prior?: TaskView } = {},
  ): Promise<GetOutcome> {
    const report = new FanoutReport();
    const asked = new Set<string>(scope.skip);
    const copies: TaskView[] = [];
    const holders: string[] = [];
    const limit = pLimit(this.opts.concurrency);
    const log = this.log.child({ requestId: ctx.requestId, method: "GetTaskById" });
    const req = Buffer.from(GetTaskRequest.encode({ taskID }).finish());
    const drops: DropCounts = {};
    const hedgeMs = this.opts.hedgeDelayMs ?? 0;
    /** Calls still running, to cancel when the hedge settles the answer. */
    const outstanding = new Map<string, AbortController>();
    let settled = false;
    let settle: () => void = () => {};
    const hedged = new Promise<void>((resolve) => (settle = resolve));
    let hedgeTimer: NodeJS.Timeout | undefined;

    const onCopy = (task: TaskView): void => {
      if (hedgeMs <= 0 || settled) return;
      if (isTerminal(task.status)) settleNow(true);
      else hedgeTimer ??= setTimeout(() => settleNow(false), hedgeMs);
    };
    /**
     * Stops waiting. `final`: the answer can no longer change (terminal copy), so the
     * Executors still running are cancelled without being counted as failed.
     */
    const settleNow = (final: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(hedgeTimer);
      for (const [address, ac] of outstanding) {
        if (!final) report.failed.push({ address, reason: HEDGE_REASON });
        ac.abort();
      }
      outstanding.clear();
      settle();
    };

    if (scope.prior) onCopy(scope.prior);
    for (let round = 0; round <= this.opts.discoveryRounds; round++) {
      const targets = this.pending(asked, false).filter((a) => !scope.only || scope.only.includes(a));
      if (targets.length === 0 || ctx.signal?.aborted || settled) break;
      const calls = targets.map((address) =>
        limit(async () => {
          if (settled) return;
          asked.add(address);
          report.asked.push(address);
          const started = Date.now();
          const ac = new AbortController();
          outstanding.set(address, ac);
          const signal = ctx.signal ? AbortSignal.any([ctx.signal, ac.signal]) : ac.signal;
          try {
            const task = await this.ask(
              address,
              "getTaskById",
              req,
              ctx,
              (b) => decodeTaskView(Buffer.from(b)),
              signal,
            );
            outstanding.delete(address);
            if (settled) return;
            report.answered.push(address);
            const problem = task.id !== taskID ? "wrong task" : taskProblem(task);
            if (problem !== undefined) {
              report.dropped++;
              countDrop(drops, problem);
              log.warn({ executor: address, reason: problem }, "dropped the task an Executor sent");
              return;
            }
            copies.push(task);
            holders.push(address);
            log.debug({ executor: address, ms: Date.now() - started }, "executor answered");
            this.registry.discoverFrom([task]);
            onCopy(task);
          } catch (err) {
            outstanding.delete(address);
            if (settled) return;
            if (isNotFound(err)) {
              report.answered.push(address);
              return;
            }
            const reason = describe(err);
            report.failed.push({ address, reason });
            log.warn({ executor: address, reason, ms: Date.now() - started }, "executor failed");
          } finally {
            outstanding.delete(address);
          }
        }),
      );
      await Promise.race([Promise.all(calls), hedged]);
    }
    clearTimeout(hedgeTimer);
    settled = true;
    const { tasks, conflicts } = mergeCopies(copies);
    report.conflicts = conflicts;
    for (const o of this.observers) o("GetTaskById", report);
    return { task: tasks.get(taskID), report, holders };
  }
}
