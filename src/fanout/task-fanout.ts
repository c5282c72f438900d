/**
 * Fan-out of ListTask and GetTaskById to the Executor set, with discovery: the tasks
 * one round returns name Executors (`dataSets[].address`); allowed new ones are asked
 * in a further round of the same call, until the set stops growing or
 * `executors.discoveryRounds` further rounds have run.
 */
import pLimit from "p-limit";
import type { Logger } from "pino";
import { GetTaskRequest, ListTaskRequest } from "../gen/task/task";
import { selectForList, matchesQuery, type ListQuery } from "../merge/filter";
import { compareListOrder, mergeCopies } from "../merge/merge";
import { isTerminal } from "../merge/status";
import { classifyUpstreamError, isNotFound } from "../upstream/errors";
import type { UpstreamPool } from "../upstream/pool";
import type { ExecutorRegistry } from "../upstream/registry";
import { decodeTaskList, decodeTaskView, WireError, type TaskView } from "../wire/task-view";
import { upstreamDeadline } from "./deadline";
import { FanoutReport, type CallContext } from "./report";

export interface FanoutOptions {
  callTimeoutMs: number;
  concurrency: number;
  discoveryRounds: number;
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

function describe(err: unknown): string {
  if (err instanceof WireError) return `malformed reply: ${err.message}`;
  const f = classifyUpstreamError(err);
  return f.message.slice(0, 200);
}

export class TaskFanout {
  constructor(
    private readonly registry: ExecutorRegistry,
    private readonly pool: UpstreamPool,
    private readonly opts: FanoutOptions,
    private readonly log: Logger,
  ) {}

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
            const sent: ListQuery = { ...q, pubKey: key, status: fwd.status, limit: fwd.limit };
            const req = Buffer.from(
              ListTaskRequest.encode({
                pubKey: key,
                status: sent.status,
                timeStart: q.timeStart,
                timeEnd: q.timeEnd,
                limit: sent.limit,
              }).finish(),
            );
            const started = Date.now();
            try {
              const reply = await this.pool.call(
                address,
                "listTask",
                req,
                upstreamDeadline(ctx.deadline, this.opts.callTimeoutMs),
                { signal: ctx.signal },
              );
              const tasks = decodeTaskList(reply);
              const valid = tasks.filter((t) => t.id !== "" && matchesQuery(t, sent));
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
    if (report.dropped > 0) log.warn({ dropped: report.dropped }, "dropped tasks that did not match the request");
    return { tasks: selectForList(merged.values(), q), report };
  }

  async getTask(taskID: string, ctx: CallContext): Promise<GetOutcome> {
    const report = new FanoutReport();
    const asked = new Set<string>();
    const copies: TaskView[] = [];
    const holders: string[] = [];
    const limit = pLimit(this.opts.concurrency);
    const log = this.log.child({ requestId: ctx.requestId, method: "GetTaskById" });
    const req = Buffer.from(GetTaskRequest.encode({ taskID }).finish());

    for (let round = 0; round <= this.opts.discoveryRounds; round++) {
      const targets = this.pending(asked, false);
      if (targets.length === 0 || ctx.signal?.aborted) break;
      await Promise.all(
        targets.map((address) =>
          limit(async () => {
            asked.add(address);
            report.asked.push(address);
            try {
              const reply = await this.pool.call(
                address,
                "getTaskById",
                req,
                upstreamDeadline(ctx.deadline, this.opts.callTimeoutMs),
                { signal: ctx.signal },
              );
              const task = decodeTaskView(Buffer.from(reply));
              report.answered.push(address);
              if (task.id !== taskID) {
                report.dropped++;
                log.warn({ executor: address }, "executor returned a different task than asked for");
                return;
              }
              copies.push(task);
              holders.push(address);
              this.registry.discoverFrom([task]);
            } catch (err) {
              if (isNotFound(err)) {
                report.answered.push(address);
                return;
              }
              const reason = describe(err);
              report.failed.push({ address, reason });
              log.warn({ executor: address, reason }, "executor failed");
            }
          }),
        ),
      );
    }
    const { tasks, conflicts } = mergeCopies(copies);
    report.conflicts = conflicts;
    return { task: tasks.get(taskID), report, holders };
  }
}
