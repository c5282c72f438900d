/**
 * The reduce half of a fan-out: pure, no I/O, fed the replies in whatever order they
 * arrived. ListTask: screen (implausible or off-filter tasks never reach the merge, the
 * cache or discovery) -> cut (a capped reply longer than its cap keeps its newest
 * tasks) -> merge (one copy per task ID, the most advanced) -> select (filter, order,
 * limit as one Executor would). GetTaskById: screen -> merge.
 *
 * The gather half (src/fanout/task-fanout.ts) adds replies as they arrive; the
 * property tests call `reduceList` directly.
 */
import { INT64_MAX, matchesQuery, selectForList, type ListQuery } from "../merge/filter";
import { compareListOrder, mergeCopies } from "../merge/merge";
import { countDrop, screenTasks, taskProblem, type DropCounts } from "../merge/sanity";
import { isTerminal } from "../merge/status";
import type { TaskView } from "../wire/task-view";

/**
 * What each Executor is asked for a client query. Status and limit are forwarded only
 * when that keeps the merged answer exact: a copy in a terminal status can never be
 * superseded by another Executor's copy, but a non-terminal one can (a lagging
 * Executor still says Processing when another says Finished), so a non-terminal
 * status filter is applied only after merging, over the uncapped window.
 */
export function upstreamQuery(q: ListQuery): { status: string; limit: bigint; timeEnd: bigint } {
  // No upper bound goes out as the largest int64: v1.x Executors match nothing for 0 (spec §4).
  const timeEnd = q.timeEnd > 0n ? q.timeEnd : INT64_MAX;
  if (q.status === "" || isTerminal(q.status)) return { status: q.status, limit: q.limit, timeEnd };
  return { status: "", limit: 0n, timeEnd };
}

/** The query one Executor is sent for `q` (its own key in the cluster-wide view). */
export function sentQuery(q: ListQuery, pubKey: Buffer): ListQuery {
  const fwd = upstreamQuery(q);
  return { ...q, pubKey, status: fwd.status, limit: fwd.limit, timeEnd: fwd.timeEnd };
}

export interface Reduced {
  dropped: number;
  conflicts: number;
  /** Dropped tasks by reason (logs). */
  drops: DropCounts;
}

/**
 * Screens and cuts one Executor's ListTask reply to what may be merged; `dropped` counts
 * the screened-out tasks (not those cut).
 */
export function screenListReply(
  tasks: readonly TaskView[],
  sent: ListQuery,
  drops: DropCounts,
): { kept: TaskView[]; dropped: number } {
  const valid = screenTasks(tasks, (t) => matchesQuery(t, sent), drops);
  const dropped = tasks.length - valid.length;
  // A capped reply longer than its cap is not trustworthy beyond the cap. Keep its newest
  // tasks, not its first ones: an Executor that ignored the limit may ignore the order too.
  if (sent.limit > 0n && BigInt(valid.length) > sent.limit) {
    valid.sort(compareListOrder);
    valid.length = Number(sent.limit);
  }
  return { kept: valid, dropped };
}

/** Reduces ListTask replies incrementally; the answer is the same for every arrival order. */
export class ListReducer {
  private readonly merged = new Map<string, TaskView>();
  private readonly stats: Reduced = { dropped: 0, conflicts: 0, drops: {} };

  constructor(private readonly q: ListQuery) {}

  /** Adds one Executor's reply to a query `sent`; returns the tasks it kept (what discovery may read). */
  add(tasks: readonly TaskView[], sent: ListQuery): TaskView[] {
    const { kept, dropped } = screenListReply(tasks, sent, this.stats.drops);
    this.stats.dropped += dropped;
    this.stats.conflicts += mergeCopies(kept, this.merged).conflicts;
    return kept;
  }

  result(): Reduced & { tasks: TaskView[] } {
    return { ...this.stats, tasks: selectForList(this.merged.values(), this.q) };
  }
}

/** The whole ListTask reduce over a set of replies (what the property tests check). */
export function reduceList(
  replies: Iterable<{ tasks: readonly TaskView[]; sent: ListQuery }>,
  q: ListQuery,
): Reduced & { tasks: TaskView[] } {
  const r = new ListReducer(q);
  for (const reply of replies) r.add(reply.tasks, reply.sent);
  return r.result();
}

/** Reduces GetTaskById copies: screen each, keep the most advanced. */
export class GetReducer {
  private readonly copies: TaskView[] = [];
  private readonly stats: Reduced = { dropped: 0, conflicts: 0, drops: {} };

  constructor(private readonly taskID: string) {}

  /** Adds one Executor's copy; returns why it was dropped, or undefined when kept. */
  add(task: TaskView): string | undefined {
    const problem = task.id !== this.taskID ? "wrong task" : taskProblem(task);
    if (problem !== undefined) {
      this.stats.dropped++;
      countDrop(this.stats.drops, problem);
      return problem;
    }
    this.copies.push(task);
    return undefined;
  }

  result(): Reduced & { task?: TaskView } {
    const { tasks, conflicts } = mergeCopies(this.copies);
    return { ...this.stats, conflicts, task: tasks.get(this.taskID) };
  }
}
