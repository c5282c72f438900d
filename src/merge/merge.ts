/**
 * Pure functions that turn many Executors' copies of the ledger into the one answer
 * a single Executor holding the union of all ledgers would give (spec §4).
 */
import type { TaskView } from "../wire/task-view";
import { statusRank } from "./status";

function decisions(t: TaskView): number {
  let n = 0;
  for (const ds of t.dataSets) if (ds.confirmedAt !== 0n || ds.rejectedAt !== 0n) n++;
  return n;
}

function cmpBigInt(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Orders two copies of one task by how advanced they are: status, then later endTime,
 * later startTime, more data-set decisions. The final byte comparison only makes the
 * choice independent of the order Executors answered in.
 * Returns > 0 when `a` is more advanced than `b`.
 */
export function compareAdvancement(a: TaskView, b: TaskView): number {
  return (
    statusRank(a.status) - statusRank(b.status) ||
    cmpBigInt(a.endTime, b.endTime) ||
    cmpBigInt(a.startTime, b.startTime) ||
    decisions(a) - decisions(b) ||
    Buffer.compare(a.raw, b.raw)
  );
}

export interface MergeResult {
  tasks: Map<string, TaskView>;
  /** Task IDs whose copies disagreed and were resolved to the most advanced one. */
  conflicts: number;
}

/** Deduplicates by task ID, keeping the most advanced copy of each task. */
export function mergeCopies(copies: Iterable<TaskView>, into?: Map<string, TaskView>): MergeResult {
  const tasks = into ?? new Map<string, TaskView>();
  let conflicts = 0;
  for (const t of copies) {
    const prev = tasks.get(t.id);
    if (prev === undefined) {
      tasks.set(t.id, t);
      continue;
    }
    if (prev.raw.equals(t.raw)) continue;
    conflicts++;
    if (compareAdvancement(t, prev) > 0) tasks.set(t.id, t);
  }
  return { tasks, conflicts };
}

/**
 * Orders two strings as their UTF-8 bytes would be ordered, without encoding them
 * (sorting calls this O(n log n) times). UTF-8 byte order is code point order; UTF-16
 * code unit order differs from it only where a surrogate (a code point >= U+10000)
 * meets a unit in U+E000..U+FFFF.
 */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x < y ? -1 : 1;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

/** Newest publishTime first; equal times by ascending task ID, compared as bytes like the Executor does. */
export function compareListOrder(a: TaskView, b: TaskView): number {
  if (a.publishTime !== b.publishTime) return a.publishTime > b.publishTime ? -1 : 1;
  return compareUtf8(a.id, b.id);
}
