/**
 * The wire-level scan (src/wire/list-scan.ts) gives today's ListTask answer byte for
 * byte: random ledgers (lagging Executors, ties, UTF-8 ID orders), random queries and
 * limits, every arrival order, and Executors that ignore their limit or filter, send
 * implausible or duplicate tasks, rewrite a task's publish time, or send tasks whose nested
 * messages only a client's full decode finds malformed (dropped; another copy takes the place).
 */
import fc from "fast-check";
import { ListReducer } from "../../src/fanout/reduce";
import { upstreamQuery } from "../../src/fanout/task-fanout";
import { FLTask } from "../../src/gen/task/task";
import { matchesQuery, selectForList, type ListQuery } from "../../src/merge/filter";
import { compareListOrder, mergeCopies } from "../../src/merge/merge";
import { screenTasks, taskProblem } from "../../src/merge/sanity";
import {
  decodeTaskList,
  decodeTaskView,
  encodeTaskList,
  scanTaskList,
  WireError,
  type TaskView,
} from "../../src/wire/task-view";
import { ledgerArb, queryArb, STEP_NS, type RandomLedger } from "../helpers/ledger-gen";

interface Reply {
  buf: Buffer;
  sent: ListQuery;
}

function stockDecodes(t: TaskView): boolean {
  try {
    FLTask.decode(t.raw);
    return true;
  } catch {
    return false;
  }
}

/** Today's reduce, as src/fanout/task-fanout.ts does it per reply and at the end. */
function todayAnswer(replies: readonly Reply[], q: ListQuery): Buffer {
  const merged = new Map<string, TaskView>();
  for (const r of replies) {
    let tasks: TaskView[];
    try {
      tasks = decodeTaskList(r.buf);
    } catch (err) {
      if (err instanceof WireError) continue;
      throw err;
    }
    const valid = screenTasks(tasks, (t) => matchesQuery(t, r.sent), {});
    if (r.sent.limit > 0n && BigInt(valid.length) > r.sent.limit) {
      valid.sort(compareListOrder);
      valid.length = Number(r.sent.limit);
    }
    // A copy a client's own full decode fails on never reaches the merge.
    mergeCopies(valid.filter(stockDecodes), merged);
  }
  return encodeTaskList(selectForList(merged.values(), q));
}

/** The gateway's real reduce (src/fanout/reduce.ts, on ListScan), replies in arrival order. */
function scanAnswer(replies: readonly Reply[], q: ListQuery): { bytes: Buffer; scan: ListReducer } {
  const scan = new ListReducer(q);
  for (const r of replies) {
    try {
      scan.add(r.buf, r.sent);
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
    }
  }
  return { bytes: encodeTaskList(scan.result().tasks), scan };
}

/** Today's discovery input: every task each reply kept after the screen and the cut. */
function todayDiscovered(replies: readonly Reply[]): Set<string> {
  const out = new Set<string>();
  for (const r of replies) {
    let tasks: TaskView[];
    try {
      tasks = decodeTaskList(r.buf);
    } catch (err) {
      if (err instanceof WireError) continue;
      throw err;
    }
    const valid = screenTasks(tasks, (t) => matchesQuery(t, r.sent), {});
    if (r.sent.limit > 0n && BigInt(valid.length) > r.sent.limit) {
      valid.sort(compareListOrder);
      valid.length = Number(r.sent.limit);
    }
    for (const t of valid) out.add(t.raw.toString("hex"));
  }
  return out;
}

/** What the scan offers discovery: the screened decoded tasks, plus the undecoded ones that pass the same screen. */
function scanDiscovered(scan: ListReducer): Set<string> {
  const out = new Set<string>();
  for (const [t] of scan.screened()) out.add(t.raw.toString("hex"));
  for (const u of scan.undecoded()) {
    let t: TaskView;
    try {
      t = decodeTaskView(Buffer.from(u.bytes));
    } catch (err) {
      if (err instanceof WireError) continue;
      throw err;
    }
    if (taskProblem(t) === undefined && u.sent.some((s) => matchesQuery(t, s))) out.add(t.raw.toString("hex"));
  }
  return out;
}

type Mode =
  | "honest"
  | "ignores limit"
  | "ignores filters"
  | "noisy"
  | "rewrites time"
  | "malformed nested"
  | "malformed, older and advanced";
const MODES: Mode[] = [
  "honest",
  "honest",
  "honest",
  "ignores limit",
  "ignores filters",
  "noisy",
  "rewrites time",
  "malformed nested",
  "malformed, older and advanced",
];

/** One more algoParam whose modelParams.thetas[0] holds a tag of wire type 7: only a full decode sees it. */
const MALFORMED_ALGO_PARAM = Buffer.from([0x32, 0x06, 0x2a, 0x04, 0x0a, 0x02, 0x0f, 0x00]);

function reencode(raw: Buffer, f: (t: FLTask) => void): Buffer {
  const t = FLTask.decode(raw);
  f(t);
  return Buffer.from(FLTask.encode(t).finish());
}

/** What Executor `e` sends for `sent`, behaving as `mode`. */
function replyOf(ledger: RandomLedger, e: number, sent: ListQuery, mode: Mode): Buffer {
  const held = ledger.holdings[e]!.map((s) => decodeTaskView(s.raw));
  let out: { raw: Buffer }[];
  if (mode === "ignores filters") out = held;
  else {
    const list = held.filter((t) => matchesQuery(t, sent)).sort(compareListOrder);
    if (mode !== "ignores limit" && sent.limit > 0n && BigInt(list.length) > sent.limit)
      list.length = Number(sent.limit);
    out = list;
  }
  if (mode === "noisy" && out.length > 0) {
    const first = out[0]!.raw;
    out = [
      { raw: reencode(first, (t) => (t.requester = Buffer.alloc(3))) }, // implausible key
      ...out,
      { raw: first }, // duplicate
      { raw: reencode(first, (t) => (t.iD = "")) }, // empty id
    ];
  }
  if (mode === "rewrites time")
    out = out.map((t) => ({
      raw: reencode(t.raw, (x) => {
        x.publishTime += STEP_NS;
        x.status = "Failed";
        x.endTime = x.publishTime + 5000n;
      }),
    }));
  // The malformed copy wins the merge (terminal) at an older place: the next copy's place is newer.
  if (mode === "malformed, older and advanced")
    out = out.map((t) => ({
      raw: Buffer.concat([
        reencode(t.raw, (x) => {
          x.publishTime -= STEP_NS;
          x.status = "Failed";
          x.endTime = x.publishTime + 5000n;
        }),
        MALFORMED_ALGO_PARAM,
      ]),
    }));
  if (mode === "malformed nested")
    out = out.map((t, i) => (i % 2 === 0 ? { raw: Buffer.concat([t.raw, MALFORMED_ALGO_PARAM]) } : t));
  return encodeTaskList(out);
}

const caseArb = fc.boolean().chain((emptyKey) =>
  ledgerArb.chain((ledger) =>
    fc.tuple(
      fc.constant(ledger),
      queryArb(ledger, { emptyKey }),
      fc.shuffledSubarray([...ledger.executors.keys()], {
        minLength: ledger.executors.length,
        maxLength: ledger.executors.length,
      }),
      fc.array(fc.constantFrom(...MODES), { minLength: ledger.executors.length, maxLength: ledger.executors.length }),
    ),
  ),
);

function repliesFor(ledger: RandomLedger, q: ListQuery, order: number[], modes: Mode[]): Reply[] {
  const fwd = upstreamQuery(q);
  return order.map((e) => {
    const sent: ListQuery = {
      ...q,
      pubKey: q.pubKey.length === 0 ? ledger.executors[e]!.key : q.pubKey,
      status: fwd.status,
      limit: fwd.limit,
    };
    return { buf: replyOf(ledger, e, sent, modes[e]!), sent };
  });
}

describe("the reduce on ListScan equals today's reduce", () => {
  test("byte for byte over random ledgers, queries, limits, arrival orders and Executor behaviours", () => {
    let withCutoff = 0;
    fc.assert(
      fc.property(caseArb, ([ledger, q, order, modes]) => {
        const replies = repliesFor(ledger, q, order, modes);
        const { bytes, scan } = scanAnswer(replies, q);
        expect(bytes.equals(todayAnswer(replies, q))).toBe(true);
        // Discovery (at once + the background pass) reads exactly the tasks today's does.
        expect([...scanDiscovered(scan)].sort()).toEqual([...todayDiscovered(replies)].sort());
        if (scan.stats.setAside > 0) withCutoff++;
      }),
      { numRuns: Number(process.env.LIST_SCAN_RUNS ?? 1500) },
    );
    // The running cutoff was exercised (copies set aside), not only the exact path.
    expect(withCutoff).toBeGreaterThan(10);
  });

  test("regression: a malformed copy set aside, grouped later, shares the verdict of its judged twin", () => {
    // Found by the property above in CI (seed -339040943): limit 1, two Executors sending a
    // malformed, older, "advanced" copy of the answer's task. One copy was grouped and judged
    // malformed; the other was set aside, grouped when the cutoff's guess was checked, and,
    // never judged, kept winning the merge until the group was given up: an older task took
    // the place. Replayed here by its seed and path.
    fc.assert(
      fc.property(caseArb, ([ledger, q, order, modes]) => {
        const replies = repliesFor(ledger, q, order, modes);
        expect(scanAnswer(replies, q).bytes.equals(todayAnswer(replies, q))).toBe(true);
      }),
      { seed: -339040943, path: "1362", endOnFailure: true },
    );
  });

  test("with honest, in-sync Executors and a limit, only tasks up to the cutoff are decoded", () => {
    fc.assert(
      fc.property(caseArb, ([ledger, q, order]) => {
        const honest = ledger.executors.map((): Mode => "honest");
        const replies = repliesFor(ledger, q, order, honest);
        const { bytes, scan } = scanAnswer(replies, q);
        expect(bytes.equals(todayAnswer(replies, q))).toBe(true);
        expect(scan.stats.decoded).toBeLessThanOrEqual(scan.stats.scanned);
      }),
      { numRuns: 300 },
    );
    // A concrete case: 3 Executors × 100 identical tasks, limit 10 → about 10 decoded, not 300.
    const tasks = Array.from({ length: 100 }, (_, i) =>
      Buffer.from(
        FLTask.encode(
          FLTask.fromPartial({
            iD: `task-${String(i).padStart(3, "0")}`,
            requester: Buffer.alloc(64, 1),
            status: "Finished",
            publishTime: 1_000_000n + BigInt(i),
          }),
        ).finish(),
      ),
    );
    const q: ListQuery = { pubKey: Buffer.alloc(0), status: "", timeStart: 0n, timeEnd: 1n << 62n, limit: 10n };
    const sent = { ...q, pubKey: Buffer.alloc(64, 1), limit: 100n };
    const replies = [0, 1, 2].map(() => ({ buf: encodeTaskList(tasks.map((raw) => ({ raw }))), sent }));
    const { bytes, scan } = scanAnswer(replies, q);
    expect(bytes.equals(todayAnswer(replies, q))).toBe(true);
    expect(scan.stats.scanned).toBe(300);
    expect(scan.stats.decoded).toBe(10);
  });

  test("the running cutoff sets most copies aside, and the answer is still today's", () => {
    // 20 Executors × 100 tasks, each task held by 2 neighbours; limit 10.
    const task = (i: number, requester = Buffer.alloc(64, 1)): Buffer =>
      Buffer.from(
        FLTask.encode(
          FLTask.fromPartial({
            iD: `t-${String(i).padStart(5, "0")}`,
            requester,
            status: "Finished",
            publishTime: 1_000_000n + BigInt(i),
          }),
        ).finish(),
      );
    const q: ListQuery = { pubKey: Buffer.alloc(0), status: "", timeStart: 0n, timeEnd: 1n << 62n, limit: 10n };
    const sent = { ...q, pubKey: Buffer.alloc(64, 1), limit: 100n };
    const replies = Array.from({ length: 20 }, (_, e) => ({
      buf: encodeTaskList(
        Array.from({ length: 100 }, (_, j) => ({ raw: task(e * 50 + j) })).sort((a, b) => b.raw.compare(a.raw)),
      ),
      sent,
    }));
    const { bytes, scan } = scanAnswer(replies, q);
    expect(bytes.equals(todayAnswer(replies, q))).toBe(true);
    expect(scan.stats.scanned).toBe(2000);
    expect(scan.stats.setAside).toBeGreaterThan(1000);
    // Every order: the same answer.
    const reversed = scanAnswer([...replies].reverse(), q);
    expect(reversed.bytes.equals(bytes)).toBe(true);
    // The newest tasks implausible (a bad requester key): the cutoff guessed wrong, every copy
    // set aside is grouped, and the answer is still today's.
    const bad = replies.map((r, e) => ({
      ...r,
      buf: encodeTaskList(
        Array.from({ length: 100 }, (_, j) => {
          const i = e * 50 + j;
          return { raw: i >= 990 ? task(i, Buffer.alloc(3)) : task(i) };
        }),
      ),
    }));
    const guessed = scanAnswer(bad, q);
    expect(guessed.bytes.equals(todayAnswer(bad, q))).toBe(true);
    expect(guessed.scan.result().tasks).toHaveLength(10);
    // The first reply all implausible and newest: every copy of the second is set aside,
    // then grouped when the answer finds nothing valid above the cutoff.
    const first = {
      buf: encodeTaskList(Array.from({ length: 100 }, (_, j) => ({ raw: task(200 + j, Buffer.alloc(3)) }))),
      sent,
    };
    const second = { buf: encodeTaskList(Array.from({ length: 100 }, (_, j) => ({ raw: task(j) }))), sent };
    const wrong = scanAnswer([first, second], q);
    expect(wrong.scan.stats.setAside).toBe(100);
    expect(wrong.bytes.equals(todayAnswer([first, second], q))).toBe(true);
    expect(wrong.scan.result().tasks.map((t) => t.id)[0]).toBe("t-00099");
    // Discovery still reads what today's reads.
    expect([...scanDiscovered(scan)].sort()).toEqual([...todayDiscovered(replies)].sort());
    expect([...scanDiscovered(guessed.scan)].sort()).toEqual([...todayDiscovered(bad)].sort());
  });

  test("a reply with malformed framing fails whole, as decodeTaskList does", () => {
    const good = encodeTaskList([
      { raw: Buffer.from(FLTask.encode(FLTask.fromPartial({ iD: "a", publishTime: 5n })).finish()) },
    ]);
    const bad = Buffer.concat([good, Buffer.from([0x0a, 0x7f, 0x01])]); // a task cut short
    expect(() => decodeTaskList(bad)).toThrow(WireError);
    expect(() => scanTaskList(bad)).toThrow(WireError);
    expect(scanTaskList(good)).toEqual([{ start: 2, end: good.length, id: "a", publishTime: 5n }]);
  });

  test("scanTaskList reads ID and publishTime exactly as decodeTaskView does (last occurrence wins)", () => {
    fc.assert(
      fc.property(ledgerArb, (ledger) => {
        const raws = ledger.holdings.flat().map((s) => ({ raw: s.raw }));
        // A task repeating its ID and time fields: protobuf's last-one-wins.
        const twice = raws.length
          ? Buffer.concat([
              raws[0]!.raw,
              Buffer.from(FLTask.encode(FLTask.fromPartial({ iD: "z", publishTime: 7n })).finish()),
            ])
          : undefined;
        const all = twice ? [...raws, { raw: twice }] : raws;
        const buf = encodeTaskList(all);
        const keys = scanTaskList(buf);
        const views = decodeTaskList(buf);
        expect(keys.map((k) => [k.id, k.publishTime])).toEqual(views.map((v) => [v.id, v.publishTime]));
        keys.forEach((k, i) => expect(buf.subarray(k.start, k.end).equals(views[i]!.raw)).toBe(true));
      }),
      { numRuns: 200 },
    );
  });
});
