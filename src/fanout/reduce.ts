/**
 * The reduce half of a fan-out: pure, no I/O, fed the replies in whatever order they
 * arrived. ListTask: screen (implausible or off-filter tasks never reach the merge, the
 * cache or discovery) -> cut (a capped reply longer than its cap keeps its newest
 * tasks) -> merge (one copy per task ID, the most advanced) -> select (filter, order,
 * limit as one Executor would). GetTaskById: screen -> merge.
 *
 * The gather half (src/fanout/task-fanout.ts) adds replies as they arrive; the
 * property tests call `reduceList` directly, with reply bytes.
 */
import { INT64_MAX, matchesQuery, type ListQuery } from "../merge/filter";
import { compareListOrder, mergeCopies } from "../merge/merge";
import { countDrop, screenTasks, taskProblem, type DropCounts } from "../merge/sanity";
import { isTerminal } from "../merge/status";
import { ListScan } from "../wire/list-scan";
import { WireError, type TaskView } from "../wire/task-view";

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

/**
 * Reduces ListTask replies incrementally, from their bytes (src/wire/list-scan.ts): each
 * task's (ID, publishTime) is read, and only the tasks that can still reach the answer
 * are decoded, screened, cut and merged; the answer is today's, byte for byte, for every
 * arrival order. `dropped` and `conflicts` count over the tasks that could reach the
 * answer (the others were never looked at).
 */
export class ListReducer {
  private readonly scan: ListScan;

  constructor(q: ListQuery) {
    this.scan = new ListScan(q);
  }

  /**
   * Adds one Executor's reply bytes to a query `sent`; throws WireError when the reply
   * does not scan (none of it counts). Returns how many tasks it held.
   */
  add(reply: Buffer, sent: ListQuery, source?: string): number {
    return this.scan.add(reply, sent, source);
  }

  /** Tasks scanned and decoded (how much the cutoff saved). */
  get stats(): ListScan["stats"] {
    return this.scan.stats;
  }

  /** The answer so far (may be asked again after more replies). */
  peek(): TaskView[] {
    return this.scan.answer();
  }

  /** Screened tasks decoded so far: what discovery reads at once. */
  screened(): Iterable<[TaskView, string | undefined]> {
    return this.scan.validTasks();
  }

  /** Task copies never decoded, for the bounded discovery pass (without those `skip` says it knows). */
  undecoded(skip?: (id: string, length: number) => boolean): ReturnType<ListScan["undecoded"]> {
    return this.scan.undecoded(skip);
  }

  /** Executors that sent a malformed copy of a task of the answer (the copy was dropped), with the problem. */
  malformed(): ReadonlyMap<string, string> {
    return this.scan.malformed();
  }

  result(): Reduced & { tasks: TaskView[] } {
    const tasks = this.scan.answer();
    const drops = this.scan.stats.drops;
    const dropped = Object.values(drops).reduce((a, n) => a + n, 0);
    return { dropped, conflicts: this.scan.conflicts(), drops, tasks };
  }
}

/** The whole ListTask reduce over a set of replies (what the property tests check); a reply that does not scan is skipped. */
export function reduceList(
  replies: Iterable<{ reply: Buffer; sent: ListQuery }>,
  q: ListQuery,
): Reduced & { tasks: TaskView[] } {
  const r = new ListReducer(q);
  for (const reply of replies) {
    try {
      r.add(reply.reply, reply.sent);
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
    }
  }
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
