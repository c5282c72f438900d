/**
 * A reference Executor for integration tests, written from spec §3/§4 and issue 2 §6
 * on the generated FLTask objects a test starts from (never on the gateway's view).
 */
import { FLTask } from "../../src/gen/task/task";

const RANK: Record<string, number> = {
  Confirming: 1,
  Ready: 2,
  ToProcess: 3,
  Processing: 4,
  Finished: 5,
  Failed: 5,
  Rejected: 5,
};

function advancement(t: FLTask): bigint[] {
  const decisions = t.dataSets.filter((d) => d.confirmedAt !== 0n || d.rejectedAt !== 0n).length;
  return [BigInt(RANK[t.status] ?? 0), t.endTime, t.startTime, BigInt(decisions)];
}

function moreAdvanced(a: FLTask, b: FLTask): boolean {
  const x = advancement(a);
  const y = advancement(b);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! > y[i]!;
  return false;
}

/** Dedupes by ID, keeping the most advanced copy. */
export function refMerge(copies: Iterable<FLTask>): FLTask[] {
  const out = new Map<string, FLTask>();
  for (const c of copies) {
    const prev = out.get(c.iD);
    if (!prev || moreAdvanced(c, prev)) out.set(c.iD, c);
  }
  return [...out.values()];
}

export interface RefQuery {
  pubKey: Buffer;
  status: string;
  timeStart: bigint;
  timeEnd: bigint;
  limit: bigint;
}

export function involves(t: FLTask, key: Buffer): boolean {
  return t.requester.equals(key) || t.dataSets.some((d) => d.executor.equals(key));
}

/** One v2.x Executor's ListTask answer over `tasks` (limit <= 0: no cap); `anyKey` skips the key filter (the gateway's empty-key view). */
export function refList(tasks: Iterable<FLTask>, q: RefQuery, anyKey = false): FLTask[] {
  const hits = [...tasks].filter(
    (t) =>
      (anyKey || involves(t, q.pubKey)) &&
      (q.status === "" || t.status === q.status) &&
      q.timeStart <= t.publishTime &&
      // v2.x: timeEnd <= 0 is no upper bound (spec §4).
      (q.timeEnd <= 0n || t.publishTime <= q.timeEnd),
  );
  hits.sort((a, b) =>
    a.publishTime !== b.publishTime
      ? a.publishTime > b.publishTime
        ? -1
        : 1
      : Buffer.compare(Buffer.from(a.iD, "utf8"), Buffer.from(b.iD, "utf8")),
  );
  return q.limit > 0n ? hits.slice(0, Number(q.limit)) : hits;
}

export function bytesOf(t: FLTask): Buffer {
  return Buffer.from(FLTask.encode(t).finish());
}
