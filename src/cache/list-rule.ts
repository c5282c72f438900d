/**
 * When one cached ListTask answer can answer another request exactly (README, "Cache").
 *
 * An entry holds the merged answer to (pubKey, status, timeStart, fetchEnd, fetchLimit):
 * the first `fetchLimit` tasks, in list order, of those with timeStart <= publishTime <=
 * fetchEnd. List order is total (publishTime desc, then ID), and "publishTime <= T" cuts
 * that order into a prefix (> T) and a suffix (<= T). So for a request with the same
 * pubKey/status/timeStart and timeEnd T <= fetchEnd, its full answer is the suffix of the
 * entry's window, and the entry holds that suffix's first n tasks where n = the entry's
 * tasks with publishTime <= T. The request's answer (its first `limit` of the suffix) is
 * therefore in the entry when the entry was not cut, or when limit > 0 and n >= limit.
 * `timeEnd <= 0` is no upper bound (spec §4): it stands for an end above every time
 * (`windowEnd`), so the same argument holds with fetchEnd or timeEnd unbounded.
 */
import { INT64_MAX, inWindow, selectForList, windowEnd, type ListQuery } from "../merge/filter";
import type { TaskView } from "../wire/task-view";

export { INT64_MAX };
const NS_PER_MS = 1_000_000n;

export interface ListRuleOptions {
  liveHorizonMs: number;
  listFetchLimit: number;
}

export interface ListFetchPlan {
  /** "live" for timeEnd = now-style requests (they share one entry); "at:<timeEnd>" otherwise. */
  windowClass: string;
  /** What the cached fan-out asks for. */
  fetch: ListQuery;
}

/**
 * What a cacheable fetch for `q` asks: a window end reaching past later "now"s, and a
 * floor on the limit. Requests with no upper bound (`timeEnd <= 0`) share the "open"
 * class, fetched unbounded.
 */
export function planListFetch(q: ListQuery, nowMs: number, opts: ListRuleOptions): ListFetchPlan {
  const floor = BigInt(opts.listFetchLimit);
  const fetchLimit = q.limit <= 0n ? 0n : q.limit > floor ? q.limit : floor;
  if (q.timeEnd <= 0n) return { windowClass: "open", fetch: { ...q, timeEnd: 0n, limit: fetchLimit } };
  const nowNs = BigInt(Math.floor(nowMs)) * NS_PER_MS;
  const horizonNs = BigInt(opts.liveHorizonMs) * NS_PER_MS;
  const live = isLive(q, nowMs, opts);
  let fetchEnd = q.timeEnd;
  if (live && nowNs + horizonNs > fetchEnd) fetchEnd = nowNs + horizonNs;
  if (fetchEnd > INT64_MAX) fetchEnd = INT64_MAX;
  return {
    windowClass: live ? "live" : `at:${q.timeEnd}`,
    fetch: { ...q, timeEnd: fetchEnd, limit: fetchLimit },
  };
}

/**
 * The last whole millisecond at which a request with this timeEnd (> 0) is "live":
 * timeEnd >= now - liveHorizon, i.e. floor(now) <= floor((timeEnd + horizon) / 1 ms).
 * A request's class changes once, from live to "at:", when the clock passes it.
 */
export function liveUntilMs(q: ListQuery, opts: ListRuleOptions): number {
  return Number((q.timeEnd + BigInt(opts.liveHorizonMs) * NS_PER_MS) / NS_PER_MS);
}

/** Is `q` (timeEnd > 0) in the live class at `nowMs`? */
export function isLive(q: ListQuery, nowMs: number, opts: ListRuleOptions): boolean {
  return Math.floor(nowMs) <= liveUntilMs(q, opts);
}

export interface ListSnapshot {
  /** The fetch's timeEnd; <= 0: fetched with no upper bound. */
  fetchEnd: bigint;
  cut: boolean;
  tasks: readonly TaskView[];
}

/** True when the fetched tasks were cut by the limit (conservative: exactly `limit` counts as cut). */
export function wasCut(tasks: readonly unknown[], fetchLimit: bigint): boolean {
  return fetchLimit > 0n && BigInt(tasks.length) >= fetchLimit;
}

/**
 * The exact answer to `q` from a snapshot fetched for the same pubKey/status/timeStart,
 * or undefined when the snapshot cannot answer it exactly.
 */
export function answerFromSnapshot(s: ListSnapshot, q: ListQuery): readonly TaskView[] | undefined {
  if (windowEnd(q.timeEnd) > windowEnd(s.fetchEnd)) return undefined;
  if (s.cut) {
    if (q.limit <= 0n) return undefined;
    let n = 0n;
    for (const t of s.tasks) if (inWindow(t, q.timeStart, q.timeEnd)) n++;
    if (n < q.limit) return undefined;
  }
  const answer = selectForList(s.tasks, q);
  // The whole snapshot (the common case): hand back its own array, whose reply encoding is memoised.
  if (answer.length === s.tasks.length && answer.every((t, i) => t === s.tasks[i])) return s.tasks;
  return answer;
}
