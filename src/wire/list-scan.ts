/**
 * "Decode only what the answer needs" (issue 15): the reduce of a cluster-wide ListTask
 * over many Executors' FLTasks replies, reading only (ID, publishTime) of each task and
 * decoding fully only the tasks that can still make the answer.
 *
 * The answer is, byte for byte, the one today's reduce gives (src/fanout/task-fanout.ts:
 * per reply decodeTaskList → screenTasks against what that Executor was sent → a capped
 * reply longer than its cap keeps its newest → mergeCopies; then selectForList):
 *
 * - Copies are grouped by ID. When every copy of an ID has the same bytes (the common
 *   case: ~2.5 Executors hold each task, in sync), the merged copy is those bytes and its
 *   place in the list order is (publishTime, ID) — known without decoding. When copies
 *   differ (a lagging Executor), all of them are decoded, screened and merged as today,
 *   which gives the group its exact place.
 * - Groups are taken in list order from a heap (O(groups) to build, O(log) per pop):
 *   each popped group is decoded (if not already), screened and filtered; popping stops
 *   once `limit` have been accepted. The k-th accepted task is the running cutoff: no
 *   group after it is ever decoded. Every group popped before the cutoff is one today's
 *   code would also have had to consider, so the accepted set and its order are today's.
 * - A reply with more tasks than the limit it was sent is decoded whole (today's cap
 *   keeps its newest valid tasks, which needs every task's validity).
 *
 * Differences from today, by design: a reply's framing and each task's top-level fields
 * are checked while scanning (a malformed reply still fails as a whole, WireError), but
 * the nested messages of a task that is never decoded are not looked at; a candidate
 * whose nested bytes turn out malformed is dropped alone (today the whole reply would
 * fail). Drop and conflict counts cover the decoded tasks only.
 *
 * Discovery: today every valid task's data-set addresses feed discovery. The screened
 * decoded tasks are `validTasks()` (the fan-out offers them at once); the tasks this scan
 * never decoded are `undecoded()` (views into the replies, one per distinct copy, with the
 * queries they were sent), for the bounded background pass (src/fanout/discovery-pass.ts).
 * Together they are exactly the tasks today's discovery reads (property-tested).
 */
import { matchesQuery, windowEnd, type ListQuery } from "../merge/filter";
import { compareAdvancement, compareListOrder, compareUtf8 } from "../merge/merge";
import { screenTasks, taskProblem, type DropCounts } from "../merge/sanity";
import { decodeTaskView, scanTaskList, WireError, type TaskView } from "./task-view";

/** One task copy: a view into an Executor's reply (a class: one shape for ~10k copies per fan-out). */
class Copy {
  /** Screened against what it was sent (once). */
  valid: boolean | undefined = undefined;
  /** Decoded (once). */
  view: TaskView | undefined = undefined;
  /** From a reply decoded whole: screened valid there already. */
  prevalidated = false;

  constructor(
    readonly buf: Buffer,
    readonly start: number,
    readonly end: number,
    readonly sent: ListQuery,
    /** The Executor whose reply held it (discovery charges its budget). */
    readonly source: string | undefined,
  ) {}
}

interface Group {
  id: string;
  publishTime: bigint;
  copies: Copy[];
  /** Every copy has the same bytes. */
  identical: boolean;
  /** For groups whose copies differ: the merged copy (undefined: not decided since the last copy came). */
  merged?: TaskView | null;
  /** Copies that differed from the one kept so far, when merged (today's conflict count). */
  conflicts: number;
}

function sameBytes(a: Copy, b: Copy): boolean {
  return a.end - a.start === b.end - b.start && a.buf.compare(b.buf, b.start, b.end, a.start, a.end) === 0;
}

function orderKey(a: { publishTime: bigint; id: string }, b: { publishTime: bigint; id: string }): number {
  if (a.publishTime !== b.publishTime) return a.publishTime > b.publishTime ? -1 : 1;
  return compareUtf8(a.id, b.id);
}

export interface ListScanStats {
  /** Task copies read (ID and publishTime only). */
  scanned: number;
  /** Task copies decoded fully. */
  decoded: number;
  /** Tasks that failed the sanity checks or the filter they were sent, among the decoded. */
  drops: DropCounts;
}

export class ListScan {
  private readonly groups = new Map<string, Group>();
  private readonly decodedViews: TaskView[] = [];
  private readonly validViews = new Map<TaskView, string | undefined>();
  /** The answer since the last reply was added (answer() is pure between replies). */
  private answered: TaskView[] | undefined;
  readonly stats: ListScanStats = { scanned: 0, decoded: 0, drops: {} };

  /** `q`: the client's query (final filter, order and limit). */
  constructor(private readonly q: ListQuery) {}

  /**
   * Adds one Executor's reply to the query it was `sent`. Throws WireError when the
   * reply's framing is malformed (the Executor failed; none of its tasks count).
   * Returns how many tasks the reply held.
   */
  add(reply: Buffer, sent: ListQuery, source?: string): number {
    // The whole reply is scanned before any of it counts: a malformed one adds nothing.
    const copies: Copy[] = [];
    const ids: string[] = [];
    const times: bigint[] = [];
    scanTaskList(reply, (start, end, id, publishTime) => {
      copies.push(new Copy(reply, start, end, sent, source));
      ids.push(id);
      times.push(publishTime);
    });
    this.answered = undefined;
    if (sent.limit > 0n && BigInt(copies.length) > sent.limit) return this.addDecoded(reply, copies, sent, source);
    this.stats.scanned += copies.length;
    for (let i = 0; i < copies.length; i++) this.put(ids[i]!, times[i]!, copies[i]!);
    return copies.length;
  }

  /** An Executor that ignored its limit: today's rule keeps its newest valid tasks. */
  private addDecoded(reply: Buffer, keys: readonly Copy[], sent: ListQuery, source?: string): number {
    this.stats.scanned += keys.length;
    const tasks = keys.map((k) => decodeTaskView(Buffer.from(reply.subarray(k.start, k.end))));
    this.stats.decoded += tasks.length;
    this.decodedViews.push(...tasks);
    const valid = screenTasks(tasks, (t) => matchesQuery(t, sent), this.stats.drops);
    if (BigInt(valid.length) > sent.limit) {
      valid.sort(compareListOrder);
      valid.length = Number(sent.limit);
    }
    for (const v of valid) {
      const c = this.put(v.id, v.publishTime, new Copy(v.raw, 0, v.raw.length, sent, source));
      c.view = v;
      c.prevalidated = true;
      c.valid = true;
      this.validViews.set(v, source);
    }
    return keys.length;
  }

  private put(id: string, publishTime: bigint, c: Copy): Copy {
    const g = this.groups.get(id);
    if (g === undefined) {
      this.groups.set(id, { id, publishTime, copies: [c], identical: true, conflicts: 0 });
      return c;
    }
    if (g.identical && !sameBytes(g.copies[0]!, c)) g.identical = false;
    g.copies.push(c);
    g.merged = undefined;
    return c;
  }

  private decode(c: Copy): TaskView | undefined {
    if (c.view) return c.view;
    try {
      // A copy, as today: the task may outlive the reply buffer (caches keep it).
      const v = decodeTaskView(Buffer.from(c.buf.subarray(c.start, c.end)));
      this.stats.decoded++;
      this.decodedViews.push(v);
      c.view = v;
      return v;
    } catch (err) {
      if (err instanceof WireError) return undefined;
      throw err;
    }
  }

  /** Today's mergeCopies over the valid copies: the most advanced one (order-independent). */
  private mergeGroup(g: Group): TaskView | null {
    let best: TaskView | null = null;
    let conflicts = 0;
    for (const c of g.copies) {
      const v = this.decode(c);
      if (v === undefined) continue;
      if (!this.copyValid(c, v)) continue;
      if (best === null) best = v;
      else if (!best.raw.equals(v.raw)) {
        conflicts++;
        if (compareAdvancement(v, best) > 0) best = v;
      }
    }
    g.conflicts = conflicts;
    return best;
  }

  /** Today's screenTasks for one copy against what its Executor was sent. */
  private copyValid(c: Copy, v: TaskView): boolean {
    if (c.valid !== undefined) return c.valid;
    const problem = taskProblem(v) ?? (matchesQuery(v, c.sent) ? undefined : "off filter");
    c.valid = problem === undefined;
    if (problem !== undefined) this.stats.drops[problem] = (this.stats.drops[problem] ?? 0) + 1;
    else if (!this.validViews.has(v)) this.validViews.set(v, c.source);
    return c.valid;
  }

  /**
   * The answer: what selectForList over today's merge gives, in order. May be asked
   * again after more replies (each copy is decoded and screened at most once).
   */
  answer(): TaskView[] {
    // Asked again with no reply added since (discovery before a round, then the result): the same answer.
    if (this.answered !== undefined) return this.answered;
    this.answered = this.computeAnswer();
    return this.answered;
  }

  private computeAnswer(): TaskView[] {
    const q = this.q;
    const limit = q.limit > 0n ? Number(q.limit) : Infinity;
    // Candidates in a heap by list order. A group whose copies differ is merged now: its
    // place is its merged copy's. A group of identical copies has its place already.
    const heap: { publishTime: bigint; id: string; g: Group }[] = [];
    for (const g of this.groups.values()) {
      if (g.identical) {
        // The window depends on publishTime alone (the same rule as inWindow).
        if (g.publishTime < q.timeStart || g.publishTime > windowEnd(q.timeEnd)) continue;
        heap.push({ publishTime: g.publishTime, id: g.id, g });
      } else {
        if (g.merged === undefined) g.merged = this.mergeGroup(g);
        if (g.merged) heap.push({ publishTime: g.merged.publishTime, id: g.merged.id, g });
      }
    }
    heapify(heap);
    const out: TaskView[] = [];
    while (out.length < limit && heap.length > 0) {
      const { g } = pop(heap);
      const t = g.identical ? this.identicalMerged(g) : g.merged;
      if (t && matchesQuery(t, q)) out.push(t);
    }
    return out;
  }

  /** A group of identical copies: the copy, if any of them was valid for what it was sent. */
  private identicalMerged(g: Group): TaskView | null {
    const pre = g.copies.find((c) => c.prevalidated);
    if (pre) return pre.view!;
    const v = this.decode(g.copies[0]!);
    if (v === undefined) return null;
    // Same bytes: the sanity checks agree for every copy; the filter each was sent may not.
    for (const c of g.copies) if (this.copyValid(c, v)) return v;
    return null;
  }

  /** Tasks decoded so far (valid or not). */
  decodedTasks(): readonly TaskView[] {
    return this.decodedViews;
  }

  /** Decoded tasks that passed the screen for what their Executor was sent (what discovery reads at once). */
  validTasks(): Iterable<[TaskView, string | undefined]> {
    return this.validViews;
  }

  /** Copies whose bytes differed from the copy kept so far, over the merged groups (today's count). */
  conflicts(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.conflicts;
    return n;
  }

  /**
   * The task bytes never read beyond (ID, publishTime), one per distinct copy (views
   * into the replies), with every query the copy was sent (a task is valid for
   * discovery if it passes the screen for any of them) and the Executor that sent it.
   * A group whose bytes were read already (decoded, merged) is not repeated. `skip`: copies
   * the caller already knows (by ID and byte length) are left out before anything is built
   * for them (the same tasks come back in every fan-out).
   */
  *undecoded(
    skip?: (id: string, length: number) => boolean,
  ): Generator<{ id: string; bytes: Buffer; sent: ListQuery[]; source?: string }> {
    for (const g of this.groups.values()) {
      if (g.identical) {
        const first = g.copies[0]!;
        if (first.view || skip?.(g.id, first.end - first.start)) continue;
        yield {
          id: g.id,
          bytes: first.buf.subarray(first.start, first.end),
          sent: g.copies.map((c) => c.sent),
          source: first.source,
        };
      } else {
        for (const c of g.copies)
          if (!c.view && !skip?.(g.id, c.end - c.start))
            yield { id: g.id, bytes: c.buf.subarray(c.start, c.end), sent: [c.sent], source: c.source };
      }
    }
  }
}

type Entry = { publishTime: bigint; id: string };

function heapify<T extends Entry>(h: T[]): void {
  for (let i = (h.length >> 1) - 1; i >= 0; i--) down(h, i);
}

function down<T extends Entry>(h: T[], i: number): void {
  const n = h.length;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) return;
    const r = l + 1;
    const m = r < n && orderKey(h[r]!, h[l]!) < 0 ? r : l;
    if (orderKey(h[m]!, h[i]!) >= 0) return;
    [h[i], h[m]] = [h[m]!, h[i]!];
    i = m;
  }
}

function pop<T extends Entry>(h: T[]): T {
  const top = h[0]!;
  const last = h.pop()!;
  if (h.length > 0) {
    h[0] = last;
    down(h, 0);
  }
  return top;
}
