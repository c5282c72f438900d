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
 * - The running cutoff across replies: the k-th newest publish time among the groups so
 *   far (k = the client's limit). A copy older than it, of an ID not grouped yet, is set
 *   aside as it is scanned — no group, no copy object, no byte comparison (at N = 100 most
 *   copies). The answer then checks the guess: it must be full, every group it looked at
 *   newer than every copy set aside, and none of those groups' IDs among them; otherwise
 *   (implausible or off-filter tasks above the cutoff, rewritten times) every copy set
 *   aside is grouped and the answer is made again, exactly as without the cutoff.
 *
 * Differences from today, by design: a reply's framing and each task's top-level fields
 * are checked while scanning (a malformed reply still fails as a whole, WireError), but
 * the nested messages of a task that is never decoded are not looked at; a candidate
 * whose nested bytes turn out malformed is dropped alone (today the whole reply would
 * fail). A task about to enter the answer has every nested message checked as a client's
 * full decode would read it (checkTaskStructure, once per copy; a group whose copies
 * differ has its merged copy checked when merged, as that copy gives the group its
 * place): a malformed copy is dropped ("malformed"; `malformed()` names its Executor)
 * and the next copy of the same task, or the next task, takes its place. Drop and
 * conflict counts cover the decoded tasks only (a copy set aside is never compared with
 * its group).
 *
 * Discovery: today every valid task's data-set addresses feed discovery. The screened
 * decoded tasks are `validTasks()` (the fan-out offers them at once); the tasks this scan
 * never decoded are `undecoded()` (views into the replies, one per distinct grouped copy and
 * one per copy set aside, with the queries they were sent), for the bounded background pass
 * (src/fanout/discovery-pass.ts).
 * Together they are exactly the tasks today's discovery reads (property-tested).
 */
import { matchesQuery, windowEnd, type ListQuery } from "../merge/filter";
import { compareAdvancement, compareListOrder, compareUtf8 } from "../merge/merge";
import { screenTasks, taskProblem, type DropCounts } from "../merge/sanity";
import { checkTaskStructure, decodeTaskView, scanTaskList, WireError, type TaskView } from "./task-view";

/** One task copy: a view into an Executor's reply (a class: one shape for ~10k copies per fan-out). */
class Copy {
  /** Screened against what it was sent (once). */
  valid: boolean | undefined = undefined;
  /** Decoded (once). */
  view: TaskView | undefined = undefined;
  /** From a reply decoded whole: screened valid there already. */
  prevalidated = false;
  /** Every nested message decodes (checked once, only when it is about to reach the answer). */
  wellFormed: boolean | undefined = undefined;
  /** Why it is not well formed. */
  problem: string | undefined = undefined;

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
  /** Task copies set aside below the running cutoff, never grouped (unless the cutoff guessed wrong). */
  setAside: number;
}

/**
 * One reply's copies below the running cutoff: indexes into the reply's scan arrays (one
 * object per reply, none per copy).
 */
interface Aside {
  buf: Buffer;
  sent: ListQuery;
  source?: string;
  ids: readonly string[];
  times: readonly bigint[];
  starts: readonly number[];
  ends: readonly number[];
  idx: number[];
}

export class ListScan {
  private readonly groups = new Map<string, Group>();
  private readonly decodedViews: TaskView[] = [];
  private readonly validViews = new Map<TaskView, string | undefined>();
  /** The answer since the last reply was added (answer() is pure between replies). */
  private answered: TaskView[] | undefined;
  /** The running cutoff: a min-heap of the newest `k` grouped publish times in the window. */
  private readonly cut: bigint[] = [];
  private readonly k: number;
  /** Copies set aside below the cutoff, by reply; the newest of their publish times. */
  private aside: Aside[] = [];
  private asideMax: bigint | undefined;
  /** Executors that sent a malformed copy meant for the answer, with the first problem. */
  private readonly malformedFrom = new Map<string, string>();
  readonly stats: ListScanStats = { scanned: 0, decoded: 0, drops: {}, setAside: 0 };

  /** `q`: the client's query (final filter, order and limit). */
  constructor(private readonly q: ListQuery) {
    // No limit (or an absurd one): no cutoff, every copy is grouped.
    this.k = q.limit > 0n && q.limit <= 100_000n ? Number(q.limit) : 0;
  }

  /**
   * Adds one Executor's reply to the query it was `sent`. Throws WireError when the
   * reply's framing is malformed (the Executor failed; none of its tasks count).
   * Returns how many tasks the reply held.
   */
  add(reply: Buffer, sent: ListQuery, source?: string): number {
    // The whole reply is scanned before any of it counts: a malformed one adds nothing.
    const starts: number[] = [];
    const ends: number[] = [];
    const ids: string[] = [];
    const times: bigint[] = [];
    scanTaskList(reply, (start, end, id, publishTime) => {
      starts.push(start);
      ends.push(end);
      ids.push(id);
      times.push(publishTime);
    });
    this.answered = undefined;
    const n = starts.length;
    if (sent.limit > 0n && BigInt(n) > sent.limit) return this.addDecoded(reply, starts, ends, sent, source);
    this.stats.scanned += n;
    let aside: Aside | undefined;
    for (let i = 0; i < n; i++) {
      const id = ids[i]!;
      const publishTime = times[i]!;
      // Below the running cutoff, of an ID not grouped yet: set aside without a Copy or a
      // group (most copies of a large fan-out); answer() checks it could not have counted.
      if (this.k > 0 && this.cut.length === this.k && publishTime < this.cut[0]! && !this.groups.has(id)) {
        aside ??= { buf: reply, sent, source, ids, times, starts, ends, idx: [] };
        aside.idx.push(i);
        if (this.asideMax === undefined || publishTime > this.asideMax) this.asideMax = publishTime;
        continue;
      }
      this.put(id, publishTime, new Copy(reply, starts[i]!, ends[i]!, sent, source));
    }
    if (aside) {
      this.aside.push(aside);
      this.stats.setAside += aside.idx.length;
    }
    return n;
  }

  /** An Executor that ignored its limit: today's rule keeps its newest valid tasks. */
  private addDecoded(
    reply: Buffer,
    starts: readonly number[],
    ends: readonly number[],
    sent: ListQuery,
    source?: string,
  ): number {
    this.stats.scanned += starts.length;
    const tasks = starts.map((start, i) => decodeTaskView(Buffer.from(reply.subarray(start, ends[i]))));
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
    return starts.length;
  }

  /** Every copy set aside becomes a grouped copy (the cutoff guessed wrong: the exact path). */
  private materialize(): void {
    const aside = this.aside;
    this.aside = [];
    this.asideMax = undefined;
    for (const a of aside)
      for (const i of a.idx)
        this.put(a.ids[i]!, a.times[i]!, new Copy(a.buf, a.starts[i]!, a.ends[i]!, a.sent, a.source));
  }

  /** A new group in the query's window: its place feeds the running cutoff (the k-th newest). */
  private feedCut(publishTime: bigint): void {
    const h = this.cut;
    if (h.length < this.k) {
      h.push(publishTime);
      for (let i = h.length - 1; i > 0;) {
        const p = (i - 1) >> 1;
        if (h[p]! <= h[i]!) break;
        [h[p], h[i]] = [h[i]!, h[p]!];
        i = p;
      }
      return;
    }
    if (publishTime <= h[0]!) return;
    h[0] = publishTime;
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      if (l >= h.length) return;
      const r = l + 1;
      const m = r < h.length && h[r]! < h[l]! ? r : l;
      if (h[i]! <= h[m]!) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }

  private put(id: string, publishTime: bigint, c: Copy): Copy {
    const g = this.groups.get(id);
    if (g === undefined) {
      this.groups.set(id, { id, publishTime, copies: [c], identical: true, conflicts: 0 });
      if (this.k > 0 && publishTime >= this.q.timeStart && publishTime <= windowEnd(this.q.timeEnd))
        this.feedCut(publishTime);
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

  /**
   * Today's mergeCopies over the valid, well-formed copies: the most advanced one
   * (order-independent). The winner's structure is checked here, not when popped: it
   * gives the group its place, and a malformed winner gives way to the next copy, whose
   * place may differ (another publish time). Only groups whose copies differ pay it.
   */
  private mergeGroup(g: Group): TaskView | null {
    // Each malformed winner marks at least its own copy, so this ends; the bound says so.
    for (let tries = 0; tries <= g.copies.length; tries++) {
      const best = this.mostAdvanced(g);
      if (best === null || this.wellFormed(g, best)) return best;
    }
    return null;
  }

  private mostAdvanced(g: Group): TaskView | null {
    let best: TaskView | null = null;
    let conflicts = 0;
    for (const c of g.copies) {
      if (c.wellFormed === false) continue;
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
    const popped = this.aside.length > 0 ? new Set<string>() : undefined;
    let last: bigint | undefined;
    while (out.length < limit && heap.length > 0) {
      const e = pop(heap);
      popped?.add(e.id);
      last = e.publishTime;
      const g = e.g;
      const t = g.identical ? this.identicalMerged(g) : g.merged;
      // Identical copies: a malformed one drops the task (every copy is the same bytes; the
      // group's place is theirs either way). Copies that differ were checked when merged.
      if (t && matchesQuery(t, q) && (!g.identical || this.wellFormed(g, t))) out.push(t);
    }
    if (popped && !this.asideCannotCount(out.length === limit, last, popped)) {
      this.materialize();
      return this.computeAnswer();
    }
    return out;
  }

  /**
   * The copies set aside could not have changed the answer: it is full, every group it
   * looked at is newer than every copy set aside (so none of them, or a group of them,
   * could come before), and none of them has the ID of a group it looked at (so no merge
   * it used could change).
   */
  private asideCannotCount(full: boolean, last: bigint | undefined, popped: ReadonlySet<string>): boolean {
    if (!full || last === undefined || this.asideMax === undefined || last <= this.asideMax) return false;
    for (const a of this.aside) for (const i of a.idx) if (popped.has(a.ids[i]!)) return false;
    return true;
  }

  /**
   * The relay is lossless, so a task's bytes reach the client as they came: they must be
   * what a stock client's full decode accepts (checkTaskStructure). Checked only for tasks
   * about to enter the answer and for the merged copy of a group whose copies differ, once
   * per copy; the copies with `t`'s bytes share the verdict. A malformed one is dropped
   * (counted "malformed") and its Executor noted.
   */
  private wellFormed(g: Group, t: TaskView): boolean {
    const same = g.identical ? g.copies : g.copies.filter((c) => c.view !== undefined && c.view.raw.equals(t.raw));
    // A copy with these bytes judged before (one that came later, from a reply or set
    // aside, has not been): its verdict is theirs. Unmarked, a later malformed copy kept
    // winning the merge and the group was lost (mergeGroup gave up), so an older task
    // took its place in the answer.
    const judged = same.find((c) => c.wellFormed !== undefined);
    let problem: string | undefined;
    if (judged !== undefined) problem = judged.problem;
    else {
      try {
        checkTaskStructure(t.raw);
      } catch (err) {
        if (!(err instanceof WireError)) throw err;
        problem = err.message;
      }
    }
    for (const c of same) {
      if (c.wellFormed !== undefined) continue;
      c.wellFormed = problem === undefined;
      c.problem = problem;
      if (problem === undefined) continue;
      this.stats.drops.malformed = (this.stats.drops.malformed ?? 0) + 1;
      if (c.source !== undefined && !this.malformedFrom.has(c.source)) this.malformedFrom.set(c.source, problem);
    }
    return problem === undefined;
  }

  /** Executors whose copies were dropped as malformed on their way to the answer, with the first problem. */
  malformed(): ReadonlyMap<string, string> {
    return this.malformedFrom;
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
    // The copies set aside (each with what its Executor was sent; the pass reads one per ID).
    for (const a of this.aside)
      for (const i of a.idx) {
        const id = a.ids[i]!;
        if (skip?.(id, a.ends[i]! - a.starts[i]!)) continue;
        yield { id, bytes: a.buf.subarray(a.starts[i], a.ends[i]), sent: [a.sent], source: a.source };
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
