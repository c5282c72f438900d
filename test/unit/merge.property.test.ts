/**
 * Merge, filter, order and limit checked against a small reference written here,
 * independently of src/merge: the reference works on the generator's plain facts,
 * never on the gateway's decoded view.
 */
import fc from "fast-check";
import { reduceList, upstreamQuery } from "../../src/fanout/reduce";
import { selectForList, type ListQuery } from "../../src/merge/filter";
import { mergeCopies } from "../../src/merge/merge";
import { decodeTaskView, encodeTaskList, type TaskView } from "../../src/wire/task-view";
import { FLTask } from "../../src/gen/task/task";
import { ledgerArb, queryArb, STATUSES, type Query, type RandomLedger, type Snapshot } from "../helpers/ledger-gen";

// ---- the reference: one Executor, written from spec §3/§4 and issue 2 §6 ----

const REF_RANK: Record<string, number> = {
  Confirming: 1,
  Ready: 2,
  ToProcess: 3,
  Processing: 4,
  Finished: 5,
  Failed: 5,
  Rejected: 5,
};

/** [status rank, endTime, startTime, decisions]: compared left to right, bigger is more advanced. */
function advancement(s: Snapshot): bigint[] {
  return [BigInt(REF_RANK[s.status] ?? 0), s.endTime, s.startTime, BigInt(s.decisions)];
}

function lexCompare(a: bigint[], b: bigint[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return 0;
}

function refMerge(copies: Iterable<Snapshot>): Map<string, Snapshot> {
  const out = new Map<string, Snapshot>();
  for (const c of copies) {
    const prev = out.get(c.id);
    if (!prev || lexCompare(advancement(c), advancement(prev)) > 0) out.set(c.id, c);
  }
  return out;
}

/**
 * What one v2.x Executor holding `tasks` answers (spec §4): `timeEnd <= 0` is no upper
 * bound, `limit <= 0` no cap. `matchAll` is the gateway's empty-key view.
 */
function refList(tasks: Iterable<Snapshot>, q: Query, matchAll = false): Snapshot[] {
  const involved = (t: Snapshot): boolean =>
    matchAll || t.requester.equals(q.pubKey) || t.executors.some((k) => k.equals(q.pubKey));
  const hits = [...tasks].filter(
    (t) =>
      involved(t) &&
      (q.status === "" || t.status === q.status) &&
      q.timeStart <= t.publishTime &&
      (q.timeEnd <= 0n || t.publishTime <= q.timeEnd),
  );
  hits.sort((a, b) => {
    if (a.publishTime !== b.publishTime) return a.publishTime > b.publishTime ? -1 : 1;
    return Buffer.compare(Buffer.from(a.id, "utf8"), Buffer.from(b.id, "utf8"));
  });
  return q.limit > 0n ? hits.slice(0, Number(q.limit)) : hits;
}

// ---- the gateway's pipeline, with the reference playing each Executor ----

const views = new WeakMap<Buffer, TaskView>();
function view(s: Snapshot): TaskView {
  let v = views.get(s.raw);
  if (!v) views.set(s.raw, (v = decodeTaskView(s.raw)));
  return v;
}

/**
 * upstreamQuery -> each Executor filters its own ledger -> the gateway's own reduce
 * (screen -> cut -> merge -> select, src/fanout/reduce.ts), replies in `order`.
 */
function gatewayAnswer(
  ledger: RandomLedger,
  q: Query,
  order: number[],
  forward: (q: ListQuery) => { status: string; limit: bigint; timeEnd?: bigint } = upstreamQuery,
): string[] {
  const fwd = forward(q);
  const replies = order.map((e) => {
    const key = q.pubKey.length === 0 ? ledger.executors[e]!.key : q.pubKey;
    const sent = { ...q, pubKey: key, status: fwd.status, limit: fwd.limit, timeEnd: fwd.timeEnd ?? q.timeEnd };
    return { reply: encodeTaskList(refList(ledger.holdings[e]!, sent).map(view)), sent };
  });
  const reduced = reduceList(replies, q);
  // The generated ledgers are plausible: the screen must not drop anything the reference keeps.
  expect(reduced.dropped).toBe(0);
  return reduced.tasks.map((t) => t.raw.toString("hex"));
}

/** One Executor holding the union of all ledgers (the most advanced copy of each task). */
function unionAnswer(ledger: RandomLedger, q: Query): string[] {
  return refList(ledger.truth.values(), q).map((t) => t.raw.toString("hex"));
}

/** Empty pubKey: the union of each Executor's own tasks, merged, then filtered, ordered, capped. */
function clusterViewAnswer(ledger: RandomLedger, q: Query): string[] {
  const own = ledger.holdings.flatMap((held, e) =>
    refList(held, { ...q, pubKey: ledger.executors[e]!.key, status: "", limit: 0n }),
  );
  return refList(refMerge(own).values(), q, true).map((t) => t.raw.toString("hex"));
}

const ledgerAndQuery = (emptyKey: boolean) =>
  ledgerArb.chain((ledger) =>
    fc.tuple(
      fc.constant(ledger),
      queryArb(ledger, { emptyKey }),
      fc.shuffledSubarray([...ledger.executors.keys()], {
        minLength: ledger.executors.length,
        maxLength: ledger.executors.length,
      }),
    ),
  );

const RUNS = { numRuns: 400 };

describe("merge against the reference", () => {
  const copyArb = fc.record({
    status: fc.constantFrom(...STATUSES, "Paused"),
    endTime: fc.constantFrom(0n, 5n, 1_764_316_800_000_000_001n),
    startTime: fc.constantFrom(0n, 3n, 1_764_316_800_000_000_000n),
    decisions: fc.integer({ min: 0, max: 3 }),
    name: fc.constantFrom("a", "b"),
  });

  function snapshot(id: string, c: typeof copyArb extends fc.Arbitrary<infer T> ? T : never): Snapshot {
    const dataSets = [0, 1, 2].map((i) => ({ confirmedAt: i < c.decisions ? 7n : 0n, address: `h${i}:1` }));
    const raw = Buffer.from(
      FLTask.encode(
        FLTask.fromPartial({
          iD: id,
          name: c.name,
          status: c.status,
          startTime: c.startTime,
          endTime: c.endTime,
          dataSets,
        }),
      ).finish(),
    );
    return { id, ...c, publishTime: 0n, requester: Buffer.alloc(0), executors: [], raw };
  }

  test("dedupes by ID; the most advanced copy wins; the answer does not depend on arrival order", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("t1", "t2", "t3"), copyArb), { minLength: 1, maxLength: 12 }),
        fc.func(fc.integer()),
        (raw, shuffleKey) => {
          const copies = raw.map(([id, c]) => snapshot(id, c));
          const permuted = [...copies].sort(
            (a, b) => shuffleKey(a.raw.toString("hex")) - shuffleKey(b.raw.toString("hex")),
          );
          const a = mergeCopies(copies.map(view)).tasks;
          const b = mergeCopies(permuted.map(view)).tasks;
          const ref = refMerge(copies);
          expect([...a.keys()].sort()).toEqual([...ref.keys()].sort());
          for (const [id, winner] of a) {
            // Same answer whatever the order, and it is a copy with the maximal advancement.
            expect(b.get(id)!.raw.equals(winner.raw)).toBe(true);
            const won = copies.find((c) => c.raw.equals(winner.raw))!;
            expect(lexCompare(advancement(won), advancement(ref.get(id)!))).toBe(0);
          }
        },
      ),
      RUNS,
    );
  });

  test("a copy identical to one already merged is not a conflict; a different one is", () => {
    const x = snapshot("t", { status: "Processing", endTime: 0n, startTime: 3n, decisions: 2, name: "a" });
    const y = snapshot("t", { status: "Finished", endTime: 5n, startTime: 3n, decisions: 2, name: "a" });
    expect(mergeCopies([view(x), view(x)]).conflicts).toBe(0);
    const r = mergeCopies([view(y), view(x)]);
    expect(r.conflicts).toBe(1);
    expect(r.tasks.get("t")!.status).toBe("Finished");
  });
});

describe("filter, order and limit (spec §4) against the reference", () => {
  test("selectForList over distinct tasks equals one Executor's answer", () => {
    fc.assert(
      fc.property(
        ledgerArb.chain((l) => fc.tuple(fc.constant(l), queryArb(l))),
        ([ledger, q]) => {
          const got = selectForList([...ledger.truth.values()].map(view), q).map((t) => t.raw.toString("hex"));
          expect(got).toEqual(unionAnswer(ledger, q));
        },
      ),
      RUNS,
    );
  });

  test("window is inclusive at both ends, status is case-sensitive, limit counts after filters", () => {
    // A fixed scenario whose expectations come from the reference, checked to be non-trivial.
    fc.assert(
      fc.property(
        ledgerArb
          .filter((l) => l.truth.size >= 3)
          .chain((l) => fc.tuple(fc.constant(l), fc.constantFrom(...l.truth.values()))),
        ([ledger, pivot]) => {
          const all = [...ledger.truth.values()].map(view);
          const q = {
            pubKey: pivot.requester,
            status: pivot.status,
            timeStart: pivot.publishTime,
            timeEnd: pivot.publishTime,
            limit: 0n,
          };
          const got = selectForList(all, q);
          expect(got.map((t) => t.id)).toContain(pivot.id);
          expect(selectForList(all, { ...q, status: pivot.status.toLowerCase() })).toEqual([]);
          expect(selectForList(all, { ...q, timeEnd: pivot.publishTime - 1n })).toEqual([]);
          expect(selectForList(all, { ...q, timeStart: pivot.publishTime + 1n })).toEqual([]);
          expect(selectForList(all, { ...q, limit: 1n })).toEqual(got.slice(0, 1));
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe("fan-out + merge equals one Executor holding the union", () => {
  test("keyed ListTask: upstreamQuery, per-Executor filtering, merge and selectForList", () => {
    fc.assert(
      fc.property(ledgerAndQuery(false), ([ledger, q, order]) => {
        expect(gatewayAnswer(ledger, q, order)).toEqual(unionAnswer(ledger, q));
      }),
      RUNS,
    );
  });

  test("cluster-wide view (empty pubKey): each Executor asked with its own key", () => {
    fc.assert(
      fc.property(ledgerAndQuery(true), ([ledger, q, order]) => {
        expect(gatewayAnswer(ledger, q, order)).toEqual(clusterViewAnswer(ledger, q));
      }),
      RUNS,
    );
  });

  test("upstreamQuery forwards status and limit only for empty or terminal statuses", () => {
    const q = (status: string) => ({ pubKey: Buffer.alloc(64), status, timeStart: 0n, timeEnd: 9n, limit: 7n });
    for (const s of ["", "Finished", "Failed", "Rejected"])
      expect(upstreamQuery(q(s))).toEqual({ status: s, limit: 7n, timeEnd: 9n });
    for (const s of ["Confirming", "Ready", "ToProcess", "Processing", "finished", "Paused"]) {
      expect(upstreamQuery(q(s))).toEqual({ status: "", limit: 0n, timeEnd: 9n });
    }
    // No upper bound goes out as the largest int64: a v1.x Executor, which matches nothing for 0, reads it alike.
    expect(upstreamQuery({ ...q(""), timeEnd: 0n }).timeEnd).toBe(9_223_372_036_854_775_807n);
  });

  test("the property has teeth: forwarding every status and limit upstream is caught", () => {
    const naive = (q: ListQuery) => ({ status: q.status, limit: q.limit });
    const result = fc.check(
      fc.property(ledgerAndQuery(false), ([ledger, q, order]) => {
        expect(gatewayAnswer(ledger, q, order, naive)).toEqual(unionAnswer(ledger, q));
      }),
      { numRuns: 2000, seed: 42 },
    );
    expect(result.failed).toBe(true);
  });
});
