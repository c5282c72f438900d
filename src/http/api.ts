/**
 * Everything a person reaches over HTTP besides health and metrics: the JSON Task
 * routes, the Executor status route and the dashboard.
 */
import type { Logger } from "pino";
import type { CallAdmission } from "../api/admission";
import type { GatewayConfig } from "../config/schema";
import type { Generation } from "../generations/list-request";
import type { ClusterTasks } from "../fanout/cluster-tasks";
import { ExecutorStatusTracker } from "../upstream/executor-status";
import type { UpstreamPool } from "../upstream/pool";
import type { ExecutorRegistry } from "../upstream/registry";
import { registerDashboard } from "./dashboard/route";
import { registerExecutorRoutes } from "./executor-routes";
import type { HttpServer } from "./server";
import type { StatusSources } from "./status-sources";
import { registerTaskRoutes, type JsonRouteOptions } from "./task-routes";

export interface HttpApiDeps {
  cluster: ClusterTasks;
  registry: ExecutorRegistry;
  pool: UpstreamPool;
  config: GatewayConfig;
  log: Logger;
  /** Admission limits shared with the gRPC server. */
  admission?: CallAdmission;
  /** Circuit state and cache counts, where those subsystems exist. */
  sources?: StatusSources;
  /** Each Executor's wire generation (v2 when absent). */
  generationOf?: (address: string) => Generation;
}

export function registerHttpApi(server: HttpServer, deps: HttpApiDeps): void {
  const { config } = deps;
  const log = deps.log.child({ component: "http-api" });
  const opts: JsonRouteOptions = {
    admission: deps.admission,
    maxListLimit: config.api.maxListLimit,
    defaultDeadlineMs: config.api.defaultDeadlineMs,
    maxRequestBytes: config.api.maxRequestBytes,
    corsOrigins: config.http.corsOrigins,
  };
  registerTaskRoutes(server, deps.cluster, opts, log);
  const health = new ExecutorStatusTracker(deps.registry, deps.pool, {
    callTimeoutMs: config.executors.callTimeoutMs,
    concurrency: config.executors.concurrency,
    probeIntervalMs: config.http.probeIntervalMs,
    generationOf: deps.generationOf,
  });
  registerExecutorRoutes(server, deps.registry, health, deps.sources ?? {}, opts, log, deps.generationOf);
  if (config.http.dashboard) registerDashboard(server);
}
