/**
 * Kept hit replies over a shared Redis (real redis-server): another replica's write of
 * the entry is never answered from the reply made for the entry it replaced.
 */
import { FLTasks } from "../../src/gen/task/task";
import { contentOf, hitsSetup, ledger, type HitsSetup } from "../helpers/rendered-hits";
import { startRedis } from "../helpers/redis";

const idsOf = (body: Buffer): string[] => FLTasks.decode(body).fLTasks.map((t) => t.iD);

let redis: Awaited<ReturnType<typeof startRedis>>;
let replicas: HitsSetup[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});
afterEach(async () => {
  await Promise.all(replicas.map((r) => r.close()));
  replicas = [];
});

async function replica(): Promise<HitsSetup> {
  const r = hitsSetup({ redis: { url: redis.url }, cache: { redisTimeoutMs: 1000 } }, { now: Date.now });
  replicas.push(r);
  const store = r.reader.store as unknown as { waitReady(ms: number): Promise<boolean> };
  expect(await store.waitReady(10_000)).toBe(true);
  return r;
}

test("replica B refills the entry: replica A's next hit is B's entry, not A's kept reply", async () => {
  const a = await replica();
  const b = await replica();
  await redis.cli("flushall");
  expect((await a.list()).cache).toBe("miss");
  const kept = (await a.list()).reply;
  // Equal bytes read back from Redis are the same entry: the kept reply answers.
  expect((await a.list()).reply).toBe(kept);
  expect(a.calls.list).toBe(1);

  b.tasks = ledger(8);
  expect((await b.list({}, { "dai-cache-control": "no-cache" })).cache).toBe("miss");
  const after = await a.list();
  expect(after.cache).toBe("hit");
  expect(after.reply).not.toBe(kept);
  expect(idsOf(after.reply.body)).toEqual(["t7", "t6", "t5"]);
  expect(contentOf(after.reply)).toEqual(contentOf((await a.listSlow()).reply));
  expect(a.calls.list).toBe(1);
});

test("the entry deleted in Redis (expired, evicted, flushed): the kept reply is not served", async () => {
  const a = await replica();
  await redis.cli("flushall");
  await a.list();
  const kept = (await a.list()).reply;
  await redis.cli("flushall");
  const r = await a.list();
  expect(r.cache).toBe("miss");
  expect(r.reply).not.toBe(kept);
  expect(a.calls.list).toBe(2);
});
