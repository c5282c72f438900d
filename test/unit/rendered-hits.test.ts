/**
 * A ListTask cache hit answered from the reply made for the same request from the same
 * cache entry (src/cache/list-cache.ts, src/api/task-service.ts): the same bytes and
 * trailers as the slow path, and never once the entry it was made from is gone.
 */
import { FLTasks, type ListTaskRequest } from "../../src/gen/task/task";
import { task } from "../helpers/memory-transport";
import { contentOf, hitsSetup, ledger } from "../helpers/rendered-hits";

const idsOf = (body: Buffer): string[] => FLTasks.decode(body).fLTasks.map((t) => t.iD);

describe("kept hit replies", () => {
  test("a repeated hit is the reply made for the first one: same objects, same bytes and trailers as the slow path", async () => {
    const s = hitsSetup();
    expect((await s.list()).cache).toBe("miss");
    const first = await s.list();
    expect(first.cache).toBe("hit");
    const hitsBefore = s.reader.stats.hits;
    const again = await s.list();
    expect(again.cache).toBe("hit");
    // Nothing re-encoded, no new trailers: the very reply of the first hit.
    expect(again.reply).toBe(first.reply);
    expect(s.reader.stats.hits).toBe(hitsBefore + 1);
    // What the handler without kept replies answers, byte for byte.
    const slow = await s.listSlow();
    expect(slow.cache).toBe("hit");
    expect(contentOf(again.reply)).toEqual(contentOf(slow.reply));
    expect(contentOf(again.reply).trailers).toEqual({
      "dai-executors-asked": "2",
      "dai-executors-answered": "2",
      "dai-cache": "hit",
    });
    expect(idsOf(again.reply.body)).toEqual(["t4", "t3", "t2"]);
    expect(s.calls.list).toBe(1);
    await s.close();
  });

  test("an entry replaced (no-cache refill) is never answered from the old reply", async () => {
    const s = hitsSetup();
    await s.list();
    const kept = (await s.list()).reply;
    s.tasks = ledger(7);
    const refill = await s.list({}, { "dai-cache-control": "no-cache" });
    expect(refill.cache).toBe("miss");
    const next = await s.list();
    expect(next.cache).toBe("hit");
    expect(next.reply).not.toBe(kept);
    expect(idsOf(next.reply.body)).toEqual(["t6", "t5", "t4"]);
    expect(contentOf(next.reply)).toEqual(contentOf((await s.listSlow()).reply));
    await s.close();
  });

  test("an expired entry is not a hit: the old reply is not served, the slow path says stale", async () => {
    const s = hitsSetup({ cache: { listTtlMs: 2000, refreshAheadMs: 0, staleGraceMs: 5000 } });
    await s.list();
    const kept = (await s.list()).reply;
    s.clock.t += 2000;
    const late = await s.list();
    expect(late.cache).toBe("stale");
    expect(late.reply).not.toBe(kept);
    expect(late.reply.trailers?.get("dai-cache")).toEqual(["stale"]);
    await s.close();
  });

  test("inside refresh-ahead a kept reply still answers and starts the revalidation, as the slow path does", async () => {
    const s = hitsSetup({ cache: { listTtlMs: 2000, refreshAheadMs: 500 } });
    await s.list();
    const kept = (await s.list()).reply;
    s.tasks = ledger(6);
    s.clock.t += 1600;
    const r = await s.list();
    expect(r.reply).toBe(kept);
    expect(r.cache).toBe("hit");
    await new Promise((resolve) => setImmediate(resolve));
    expect(s.calls.list).toBe(2);
    // The revalidated entry replaced the old one: its reply is made anew.
    const next = await s.list();
    expect(next.reply).not.toBe(kept);
    expect(idsOf(next.reply.body)).toEqual(["t5", "t4", "t3"]);
    await s.close();
  });

  test("a change of the Executor set (another key) is not answered from a reply made for the old set", async () => {
    const s = hitsSetup();
    await s.list();
    const kept = (await s.list()).reply;
    // Another member: the set's ID, part of every entry key, changes.
    s.registry.addSeed("10.0.0.3:8184");
    const r = await s.list();
    expect(r.cache).toBe("miss");
    expect(r.reply).not.toBe(kept);
    await s.close();
  });

  test("requests that differ keep replies of their own; a strict or other-generation request is not another's", async () => {
    const s = hitsSetup();
    await s.list({ limit: 2n });
    const two = (await s.list({ limit: 2n })).reply;
    const three = (await s.list({ limit: 3n })).reply;
    expect(idsOf(two.body)).toEqual(["t4", "t3"]);
    expect(idsOf(three.body)).toEqual(["t4", "t3", "t2"]);
    expect((await s.list({ limit: 2n })).reply).toBe(two);
    const strict = (await s.list({ limit: 2n }, { "dai-consistency": "strict" })).reply;
    expect(strict).not.toBe(two);
    expect(contentOf(strict)).toEqual(contentOf(two));
    await s.close();
  });

  test("a stock client's timeEnd = now, new on every call, is answered from the one kept reply", async () => {
    const s = hitsSetup();
    const now = (): Partial<ListTaskRequest> => ({ timeEnd: BigInt(s.clock.t) * 1_000_000n });
    expect((await s.list(now())).cache).toBe("miss");
    s.clock.t += 7;
    const first = await s.list(now());
    expect(first.cache).toBe("hit");
    for (let i = 0; i < 3; i++) {
      s.clock.t += 13;
      const again = await s.list(now());
      expect(again.reply).toBe(first.reply);
      expect(contentOf(again.reply)).toEqual(contentOf((await s.listSlow(now())).reply));
    }
    expect(s.calls.list).toBe(1);
    await s.close();
  });

  test("a live timeEnd that moves past a task's publishTime is not answered from a reply without it", async () => {
    const s = hitsSetup();
    const ms = (t: number): bigint => BigInt(t) * 1_000_000n;
    // Tasks published 300, 200 and 100 ms ago: all live for a stock client.
    s.tasks = [1, 2, 3].map((i) => task(`n${i}`, { status: "Finished", publishTime: ms(s.clock.t - 100 * i) }));
    const at = (t: number): Partial<ListTaskRequest> => ({ timeEnd: ms(t) });
    await s.list(at(s.clock.t));
    const all = await s.list(at(s.clock.t));
    expect(all.cache).toBe("hit");
    expect(idsOf(all.reply.body)).toEqual(["n1", "n2", "n3"]);
    // Between n2 and n1: the window holds two tasks, so another reply, the slow path's bytes.
    const two = await s.list(at(s.clock.t - 150));
    expect(two.cache).toBe("hit");
    expect(two.reply).not.toBe(all.reply);
    expect(idsOf(two.reply.body)).toEqual(["n2", "n3"]);
    expect(contentOf(two.reply)).toEqual(contentOf((await s.listSlow(at(s.clock.t - 150))).reply));
    // Kept for its range; exactly at n1's publishTime the window holds n1 again: made anew, then kept.
    expect((await s.list(at(s.clock.t - 120))).reply).toBe(two.reply);
    const again = await s.list(at(s.clock.t - 100));
    expect(again.reply).not.toBe(two.reply);
    expect(contentOf(again.reply)).toEqual(contentOf(all.reply));
    expect((await s.list(at(s.clock.t))).reply).toBe(again.reply);
    expect(idsOf((await s.list(at(s.clock.t - 101))).reply.body)).toEqual(["n2", "n3"]);
    expect(s.calls.list).toBe(1);
    await s.close();
  });

  test("bounded: replies per entry and requests remembered are capped, the oldest dropped first", async () => {
    const s = hitsSetup();
    const limits = Array.from({ length: 9 }, (_, i) => BigInt(i + 1));
    const kept = new Map<bigint, unknown>();
    for (const limit of limits) {
      await s.list({ limit });
      kept.set(limit, (await s.list({ limit })).reply);
    }
    // Eight per entry: the first one's was dropped (served anew, same content), the last is kept.
    const first = await s.list({ limit: 1n });
    expect(first.cache).toBe("hit");
    expect(first.reply).not.toBe(kept.get(1n));
    expect((await s.list({ limit: 9n })).reply).toBe(kept.get(9n));

    // 1024 requests remembered: after 1024 others, the first is answered by the slow path again.
    const t = await s.list({ timeStart: 1n });
    const t1 = (await s.list({ timeStart: 1n })).reply;
    expect(t.cache).toBe("miss");
    for (let i = 2; i <= 1025; i++) {
      await s.list({ timeStart: BigInt(i) });
      await s.list({ timeStart: BigInt(i) });
    }
    expect((await s.list({ timeStart: 1025n })).reply).toBe((await s.list({ timeStart: 1025n })).reply);
    const old = await s.list({ timeStart: 1n });
    expect(old.cache).toBe("hit");
    expect(old.reply).not.toBe(t1);
    expect(contentOf(old.reply)).toEqual(contentOf(t1));
    await s.close();
  });
});
