/**
 * GET /v1/executors: the Executor set with health, last latency, circuit state and
 * task counts, plus the cache hit ratio — what `dai-gateway executors` and the
 * dashboard show. Public keys are shown as hex, as PaddleDTX tools print them.
 */
import type { RequestPipeline } from "../api/pipeline";
import type { ExecutorStatusTracker } from "../upstream/executor-status";
import type { ExecutorHealth } from "../upstream/health";
import type { ExecutorRegistry } from "../upstream/registry";
import type { HttpServer } from "./server";
import { hitRatio, type CacheCounts } from "./status-sources";
import { jsonRoute } from "./task-routes";

export interface ExecutorStatusJson {
  address: string;
  /** The seed's configured name (`executors.seeds[].name`); null when none. */
  name: string | null;
  source: string;
  pubKey: string | null;
  healthy: boolean | null;
  lastLatencyMs: number | null;
  lastCallAt: string | null;
  lastError: string | null;
  circuit: string | null;
  tasks: number | null;
}

export interface ExecutorRouteDeps {
  registry: ExecutorRegistry;
  status: ExecutorStatusTracker;
  circuits: ExecutorHealth;
  /** The cache's counters (none without a cache). */
  cacheStats?: CacheCounts;
}

export function registerExecutorRoutes(server: HttpServer, pipeline: RequestPipeline, deps: ExecutorRouteDeps): void {
  jsonRoute(server, pipeline, "GET", "/v1/executors", "GET /v1/executors", async () => {
    const snapshot = await deps.status.snapshot();
    const byAddress = new Map(snapshot.map((h) => [h.address, h]));
    const executors: ExecutorStatusJson[] = deps.registry.list().map((e) => {
      const h = byAddress.get(e.address);
      return {
        address: e.address,
        name: e.name ?? null,
        source: e.source,
        pubKey: e.pubKey ? e.pubKey.toString("hex") : null,
        healthy: h?.healthy ?? null,
        lastLatencyMs: h?.lastLatencyMs ?? null,
        lastCallAt: h?.lastCallAt ? new Date(h.lastCallAt).toISOString() : null,
        lastError: h?.lastError ?? null,
        circuit: deps.circuits.state(e.address).state,
        tasks: h?.tasks ?? null,
      };
    });
    const counts = deps.cacheStats;
    return {
      data: {
        executors,
        cache: { available: counts !== undefined, hitRatio: hitRatio(counts), ...(counts ?? {}) },
        circuitsAvailable: true,
        generatedAt: new Date().toISOString(),
      },
    };
  });
}
