/**
 * Everything a person reaches over HTTP besides health and metrics: the JSON Task
 * routes, the Executor status route and the dashboard — all through the one request
 * pipeline the gRPC service uses.
 */
import type { RequestPipeline } from "../api/pipeline";
import type { GatewayConfig } from "../config/schema";
import type { TaskReader } from "../core/reader";
import type { PredictService } from "../predict/service";
import type { ExecutorClients } from "../upstream/executor-client";
import { ExecutorStatusTracker } from "../upstream/executor-status";
import type { ExecutorRegistry } from "../upstream/registry";
import type { Generation } from "../generations/list-request";
import { registerDashboard } from "./dashboard/route";
import { registerExecutorRoutes } from "./executor-routes";
import type { HttpServer } from "./server";
import type { CacheCounts } from "./status-sources";
import { registerTaskRoutes } from "./task-routes";

export interface HttpApiDeps {
  reader: TaskReader;
  predictions?: PredictService;
  registry: ExecutorRegistry;
  clients: ExecutorClients;
  config: GatewayConfig;
  pipeline: RequestPipeline;
  cacheStats?: CacheCounts;
  /** Each Executor's wire generation (v2 when absent). */
  generationOf?: (address: string) => Generation;
}

export function registerHttpApi(server: HttpServer, deps: HttpApiDeps): void {
  const { config } = deps;
  registerTaskRoutes(server, deps.pipeline, deps.reader, deps.predictions, {
    maxListTasks: config.api.maxListTasks,
    predictWriteTimeoutMs: config.predict.writeTimeoutMs,
  });
  const status = new ExecutorStatusTracker(deps.registry, deps.clients, {
    callTimeoutMs: config.executors.callTimeoutMs,
    probeIntervalMs: config.http.probeIntervalMs,
    generationOf: deps.generationOf,
  });
  registerExecutorRoutes(server, deps.pipeline, {
    registry: deps.registry,
    status,
    circuits: deps.clients.circuits,
    cacheStats: deps.cacheStats,
    generationOf: deps.generationOf,
  });
  if (config.http.dashboard) registerDashboard(server);
}
