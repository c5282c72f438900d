/**
 * GET /v1/executors: the Executor set with health, last latency, circuit state and
 * task counts, plus the cache hit ratio — what `dai-gateway executors` and the
 * dashboard show. Public keys are shown as hex, as PaddleDTX tools print them.
 */
import type { Logger } from "pino";
import type { Generation } from "../generations/list-request";
import type { ExecutorStatusTracker } from "../upstream/executor-status";
import type { ExecutorRegistry } from "../upstream/registry";
import type { HttpServer } from "./server";
import { hitRatio, type StatusSources } from "./status-sources";
import { jsonRoute, type JsonRouteOptions } from "./task-routes";

export interface ExecutorStatusJson {
  address: string;
  source: string;
  pubKey: string | null;
  healthy: boolean | null;
  lastLatencyMs: number | null;
  lastCallAt: string | null;
  lastError: string | null;
  circuit: string | null;
  tasks: number | null;
  /** The Executor's wire generation (executors.generation, per-seed `generation`). */
  generation: Generation;
}

export function registerExecutorRoutes(
  server: HttpServer,
  registry: ExecutorRegistry,
  health: ExecutorStatusTracker,
  sources: StatusSources,
  opts: JsonRouteOptions,
  log: Logger,
  generationOf: (address: string) => Generation = () => "v2",
): void {
  jsonRoute(server, "GET", "/v1/executors", opts, log, async () => {
    const snapshot = await health.snapshot();
    const byAddress = new Map(snapshot.map((h) => [h.address, h]));
    const executors: ExecutorStatusJson[] = registry.list().map((e) => {
      const h = byAddress.get(e.address);
      return {
        address: e.address,
        source: e.source,
        pubKey: e.pubKey ? e.pubKey.toString("hex") : null,
        healthy: h?.healthy ?? null,
        lastLatencyMs: h?.lastLatencyMs ?? null,
        lastCallAt: h?.lastCallAt ? new Date(h.lastCallAt).toISOString() : null,
        lastError: h?.lastError ?? null,
        circuit: sources.circuit?.(e.address) ?? null,
        tasks: h?.tasks ?? null,
        generation: generationOf(e.address),
      };
    });
    const counts = sources.cache?.();
    return {
      data: {
        executors,
        cache: { available: counts !== undefined, hitRatio: hitRatio(counts), ...(counts ?? {}) },
        circuitsAvailable: sources.circuit !== undefined,
        generatedAt: new Date().toISOString(),
      },
    };
  });
}
