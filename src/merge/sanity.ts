/**
 * Sanity checks on tasks an Executor sent, before they are merged, cached or used for
 * discovery. A hostile or broken Executor must not be able to poison the merged
 * answer: a task that breaks the ledger's invariants (spec §2) is dropped and counted.
 */
import { KEY_BYTES, MAX_TASK_ID_CHARS } from "../wire/facts";
import type { TaskView } from "../wire/task-view";

export { MAX_TASK_ID_CHARS };

/** Real tasks have a handful of parties; thousands of data sets is an attack on discovery. */
export const MAX_DATA_SETS = 64;
const MAX_ADDRESS_CHARS = 300;
export const MAX_STATUS_CHARS = 64;
/** 2200-01-01T00:00:00Z in ns: later times are nonsense (int64 ns runs out in 2262). */
export const MAX_TIME_NS = 7_258_118_400n * 1_000_000_000n;

export type TaskProblem =
  | "empty id"
  | "id too long"
  | "status too long"
  | "bad requester key"
  | "bad executor key"
  | "too many data sets"
  | "address too long"
  | "time out of range";

function timeOk(t: bigint): boolean {
  return t >= 0n && t <= MAX_TIME_NS;
}

/** What is wrong with a task, or undefined when it is plausible. Pure. */
export function taskProblem(t: TaskView): TaskProblem | undefined {
  if (t.id === "") return "empty id";
  if (t.id.length > MAX_TASK_ID_CHARS) return "id too long";
  if (t.status.length > MAX_STATUS_CHARS) return "status too long";
  if (t.requester.length !== KEY_BYTES) return "bad requester key";
  if (t.dataSets.length > MAX_DATA_SETS) return "too many data sets";
  if (!timeOk(t.publishTime) || !timeOk(t.startTime) || !timeOk(t.endTime)) return "time out of range";
  for (const ds of t.dataSets) {
    if (ds.executor.length !== KEY_BYTES) return "bad executor key";
    if (ds.address.length > MAX_ADDRESS_CHARS) return "address too long";
    if (!timeOk(ds.confirmedAt) || !timeOk(ds.rejectedAt)) return "time out of range";
  }
  return undefined;
}

/** Drop counts by reason, for logs and metrics. */
/** "malformed": a nested message a client's full decode would fail on (src/wire/list-scan.ts). */
export type DropCounts = Partial<Record<TaskProblem | "off filter" | "wrong task" | "malformed", number>>;

export function countDrop(counts: DropCounts, reason: keyof DropCounts): void {
  counts[reason] = (counts[reason] ?? 0) + 1;
}

/**
 * Splits an Executor's tasks into the plausible ones that `accept` (e.g. the request's
 * filters) and counts the rest by reason.
 */
export function screenTasks(
  tasks: readonly TaskView[],
  accept: (t: TaskView) => boolean,
  counts: DropCounts,
): TaskView[] {
  const kept: TaskView[] = [];
  for (const t of tasks) {
    const problem = taskProblem(t);
    if (problem !== undefined) countDrop(counts, problem);
    else if (!accept(t)) countDrop(counts, "off filter");
    else kept.push(t);
  }
  return kept;
}
