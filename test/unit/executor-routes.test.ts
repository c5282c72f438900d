/**
 * GET /v1/executors over in-memory parts (a real registry and circuit table, a fake
 * status tracker), served by the HTTP server on a loopback port in this process
 * (fastify's inject needs an ESM-only dependency jest cannot load).
 */
import pino from "pino";
import { RequestPipeline } from "../../src/api/pipeline";
import { registerExecutorRoutes, type ExecutorStatusJson } from "../../src/http/executor-routes";
import { HttpServer } from "../../src/http/server";
import type { CacheCounts } from "../../src/http/status-sources";
import { AllowList } from "../../src/upstream/allowlist";
import type { ExecutorStatus, ExecutorStatusTracker } from "../../src/upstream/executor-status";
import { ExecutorHealth } from "../../src/upstream/health";
import { ExecutorRegistry } from "../../src/upstream/registry";

interface Body {
  code: string;
  data: {
    executors: ExecutorStatusJson[];
    cache: { available: boolean; hitRatio: number | null; hits?: number; misses?: number; stale?: number };
    circuitsAvailable: boolean;
    generatedAt: string;
  };
}

const KEY = Buffer.alloc(64, 0xab);

async function serve(statuses: ExecutorStatus[], cacheStats?: CacheCounts) {
  const registry = new ExecutorRegistry(new AllowList(["10.0.0.0/8"]), 100);
  registry.addSeed("10.0.0.1:8184", KEY, "alpha");
  registry.offer("10.0.0.2:8184", undefined);
  const circuits = new ExecutorHealth({ failures: 1, halfOpenAfterMs: 60_000, maxHalfOpenAfterMs: 60_000 });
  await circuits.run(
    "10.0.0.2:8184",
    async () => "refused",
    () => "failure",
  );
  let snapshots = 0;
  const status = {
    snapshot: async () => {
      snapshots++;
      return statuses;
    },
  } as unknown as ExecutorStatusTracker;
  const s = await HttpServer.create({ maxRequestBytes: 1024, corsOrigins: [] });
  registerExecutorRoutes(s, new RequestPipeline({ defaultDeadlineMs: 1000 }, pino({ level: "silent" })), {
    registry,
    status,
    circuits,
    cacheStats,
  });
  const base = `http://127.0.0.1:${await s.listen("127.0.0.1", 0)}`;
  return {
    s,
    snapshots: () => snapshots,
    get: async (): Promise<{ status: number; body: Body }> => {
      const res = await fetch(`${base}/v1/executors`);
      return { status: res.status, body: (await res.json()) as Body };
    },
  };
}

describe("GET /v1/executors", () => {
  test("one row per Executor in the set, health joined by address, keys as hex, circuits by address", async () => {
    const at = Date.UTC(2026, 0, 2, 3, 4, 5);
    const t = await serve([
      { address: "10.0.0.1:8184", healthy: true, lastLatencyMs: 1.5, lastCallAt: at, tasks: 7 },
      { address: "10.9.9.9:8184", healthy: false }, // not in the set: not shown
    ]);
    try {
      const { status, body } = await t.get();
      expect(status).toBe(200);
      expect(body.code).toBe("0");
      expect(t.snapshots()).toBe(1);
      const rows = body.data.executors.sort((a, b) => a.address.localeCompare(b.address));
      expect(rows).toEqual([
        {
          address: "10.0.0.1:8184",
          name: "alpha",
          source: "seed",
          pubKey: "ab".repeat(64),
          healthy: true,
          lastLatencyMs: 1.5,
          lastCallAt: "2026-01-02T03:04:05.000Z",
          lastError: null,
          circuit: "closed",
          generation: "v2",
          tasks: 7,
        },
        {
          address: "10.0.0.2:8184",
          name: null,
          source: "discovered",
          pubKey: null,
          healthy: null,
          lastLatencyMs: null,
          lastCallAt: null,
          lastError: null,
          circuit: "open",
          generation: "v2",
          tasks: null,
        },
      ]);
      expect(body.data.circuitsAvailable).toBe(true);
      expect(Number.isNaN(Date.parse(body.data.generatedAt))).toBe(false);
    } finally {
      await t.s.close();
    }
  });

  test.each([
    ["no cache", undefined, { available: false, hitRatio: null }],
    ["a cold cache", { hits: 0, misses: 0 }, { available: true, hitRatio: null, hits: 0, misses: 0 }],
    [
      "stale answers count as hits",
      { hits: 1, misses: 2, stale: 1 },
      { available: true, hitRatio: 0.5, hits: 1, misses: 2, stale: 1 },
    ],
  ])("cache block: %s", async (_name, counts, cache) => {
    const t = await serve([], counts);
    try {
      expect((await t.get()).body.data.cache).toEqual(cache);
    } finally {
      await t.s.close();
    }
  });

  test("an Executor that failed shows its last error, and zero tasks is not null", async () => {
    const t = await serve([{ address: "10.0.0.2:8184", healthy: false, lastError: "connection refused", tasks: 0 }]);
    try {
      const row = (await t.get()).body.data.executors.find((e) => e.address === "10.0.0.2:8184");
      expect(row).toMatchObject({ healthy: false, lastError: "connection refused", tasks: 0 });
    } finally {
      await t.s.close();
    }
  });
});
