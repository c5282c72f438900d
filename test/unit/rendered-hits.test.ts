/**
 * A ListTask cache hit answered from the reply made for the same request from the same
 * cache entry (src/cache/list-cache.ts, src/api/task-service.ts): the same bytes and
 * trailers as the slow path, and never once the entry it was made from is gone.
 */
import { FLTasks } from "../../src/gen/task/task";
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
