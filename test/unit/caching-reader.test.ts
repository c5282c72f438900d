/** CachingReader over the in-process store: the decorator caches its inner reader and reports departed Executors. */
import pino from "pino";
import { CachingReader } from "../../src/cache/caching-reader";
import { loadConfig } from "../../src/config/load";
import type { GetAnswer, ListAnswer, TaskReader } from "../../src/core/reader";
import { FanoutReport } from "../../src/core/report";
import { decodeTaskView } from "../../src/wire/task-view";
import { AllowList } from "../../src/upstream/allowlist";
import { ExecutorRegistry } from "../../src/upstream/registry";
import { task, taskReply } from "../helpers/memory-transport";

const log = pino({ level: "silent" });
const ctx = () => ({ deadline: Date.now() + 5000, requestId: "r" });
const query = { pubKey: Buffer.alloc(0), status: "", timeStart: 0n, timeEnd: 0n, limit: 0n };

function setup() {
  const config = loadConfig(undefined, {});
  let t = 1_000_000;
  const registry = new ExecutorRegistry(new AllowList([]), 10, { departAfterMs: 1000 }, () => t);
  registry.addSeed("10.0.0.1:8184");
  registry.addSeed("10.0.0.2:8184");
  const calls = { list: 0, get: 0 };
  const inner: TaskReader = {
    list: async (): Promise<ListAnswer> => {
      calls.list++;
      const r = new FanoutReport();
      r.asked.push("10.0.0.1:8184");
      r.answered.push("10.0.0.1:8184");
      return { tasks: [decodeTaskView(taskReply(task("t1", { status: "Finished" })))], report: r, cache: "bypass" };
    },
    get: async (id): Promise<GetAnswer> => {
      calls.get++;
      const r = new FanoutReport();
      r.asked.push("10.0.0.1:8184");
      r.answered.push("10.0.0.1:8184");
      return {
        task: decodeTaskView(taskReply(task(id, { status: "Finished" }))),
        report: r,
        cache: "bypass",
        holders: ["10.0.0.1:8184"],
      };
    },
  };
  const reader = new CachingReader(config, registry, inner, log, () => t);
  const depart = (address: string) => {
    registry.observe(address, "failed");
    t += 1000;
    registry.observe(address, "failed");
  };
  return { reader, registry, calls, depart };
}

describe("CachingReader", () => {
  test("without Redis settings the store is the in-process one", async () => {
    const { reader } = setup();
    expect(reader.store.kind).toBe("memory");
    expect(reader.store.shared).toBe(false);
    await reader.close();
  });

  test("a second identical list is served from the cache", async () => {
    const { reader, calls } = setup();
    const a = await reader.list(query, ctx());
    const b = await reader.list(query, ctx());
    expect(calls.list).toBe(1);
    expect(a.cache).toBe("miss");
    expect(b.cache).toBe("hit");
    expect(b.tasks.map((v) => v.id)).toEqual(["t1"]);
    await reader.close();
  });

  test("a terminal task fetched by ID is served from the cache", async () => {
    const { reader, calls } = setup();
    expect((await reader.get("t9", ctx())).task?.id).toBe("t9");
    const again = await reader.get("t9", ctx());
    expect(again.task?.id).toBe("t9");
    expect(again.cache).toBe("hit");
    expect(calls.get).toBe(1);
    await reader.close();
  });

  test("task hits from the in-process store are one decoded task: the same bytes object, framed once by the own server", async () => {
    const { reader } = setup();
    await reader.get("t7", ctx());
    const first = await reader.get("t7", ctx());
    const again = await reader.get("t7", ctx());
    expect(again.cache).toBe("hit");
    expect(again.task).toBe(first.task);
    expect(again.task!.raw).toBe(first.task!.raw);
    await reader.close();
  });

  test("every answer, hit or miss, counts the departed Executors as the registry has them now", async () => {
    const { reader, registry, depart } = setup();
    expect((await reader.list(query, ctx())).report.departed).toBe(0);
    depart("10.0.0.2:8184");
    expect(registry.counts().departed).toBe(1);
    expect((await reader.list(query, ctx())).report.departed).toBe(1);
    expect((await reader.get("t1", ctx())).report.departed).toBe(1);
    await reader.close();
  });
});
