/** ListTask filter, order and limit rules of an Executor (spec §4), as pure functions. */
import type { TaskView } from "../wire/task-view";
import { compareListOrder } from "./merge";

export interface ListQuery {
  /** Empty: no key filter (the gateway's cluster-wide view). */
  pubKey: Buffer;
  /**
   * v3's requester-AND-executor filter (spec §10): when set (with `pubKey`), only tasks
   * `pubKey` published in which this key's Executor takes part. Absent or empty: none.
   */
  ePubKey?: Buffer;
  status: string;
  timeStart: bigint;
  /** 0 (or less) means no upper bound, as on a v2.x Executor (spec §4). */
  timeEnd: bigint;
  /** 0 (or less) means no cap. */
  limit: bigint;
}

export const INT64_MAX = (1n << 63n) - 1n;

/** An upper bound above every int64 `publishTime`: what `timeEnd <= 0` stands for. */
export const NO_UPPER_BOUND = INT64_MAX + 1n;

/** The window's upper end, `timeEnd <= 0` read as no bound (v2.0.0 and later, spec §4). */
export function windowEnd(timeEnd: bigint): bigint {
  return timeEnd > 0n ? timeEnd : NO_UPPER_BOUND;
}

/** True when `pubKey` published the task or its Executor takes part in it. */
export function involvesKey(task: TaskView, pubKey: Buffer): boolean {
  if (task.requester.equals(pubKey)) return true;
  return task.dataSets.some((ds) => ds.executor.equals(pubKey));
}

/** `timeStart <= publishTime`, and `publishTime <= timeEnd` only when `timeEnd > 0`. */
export function inWindow(task: TaskView, timeStart: bigint, timeEnd: bigint): boolean {
  return timeStart <= task.publishTime && (timeEnd <= 0n || task.publishTime <= timeEnd);
}

/** Does the task satisfy the request's filters (the key filter only when a key is given)? */
export function matchesQuery(task: TaskView, q: ListQuery): boolean {
  if (q.ePubKey && q.ePubKey.length > 0) {
    if (!task.requester.equals(q.pubKey) || !task.dataSets.some((ds) => ds.executor.equals(q.ePubKey!))) return false;
  } else if (q.pubKey.length > 0 && !involvesKey(task, q.pubKey)) return false;
  if (q.status !== "" && task.status !== q.status) return false;
  return inWindow(task, q.timeStart, q.timeEnd);
}

/** Filters, orders and caps merged tasks exactly as one Executor would. */
export function selectForList(tasks: Iterable<TaskView>, q: ListQuery): TaskView[] {
  const out: TaskView[] = [];
  for (const t of tasks) if (matchesQuery(t, q)) out.push(t);
  out.sort(compareListOrder);
  if (q.limit > 0n && BigInt(out.length) > q.limit) out.length = Number(q.limit);
  return out;
}
