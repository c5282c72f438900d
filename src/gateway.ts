/**
 * Wires the data path together: api (Task service) -> fan-out and merge ->
 * upstream pool and discovery, with the answer cache in front of the fan-out, plus the HTTP side.
 */
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { CallAdmission } from "./api/admission";
import { serverCredentials } from "./api/server-tls";
import { createTaskService, RAW_TASK_SERVICE } from "./api/task-service";
import { GatewayCache } from "./cache/gateway-cache";
import { RedisStore } from "./cache/redis-store";
import type { GatewayConfig } from "./config/schema";
import { ClusterTasks } from "./fanout/cluster-tasks";
import { PredictService } from "./fanout/predict-service";
import { TaskFanout } from "./fanout/task-fanout";
import { registerHttpApi } from "./http/api";
import { HttpServer } from "./http/server";
import { GatewayHealth, shutdownGrpcServer } from "./observability/health";
import { GatewayMetrics } from "./observability/metrics";
import { addReflection } from "./observability/reflection";
import { addOperatorRoutes } from "./observability/routes";
import { AllowList } from "./upstream/allowlist";
import { parseListen } from "./upstream/address";
import { DnsGuard, UpstreamConnector } from "./upstream/connect";
import { ExecutorHealth } from "./upstream/health";
import { UpstreamPool } from "./upstream/pool";
import { ExecutorRegistry } from "./upstream/registry";
import { ExecutorGenerations } from "./generations/executors";
import { V3HttpServer } from "./v3http/http-server";

export interface RunningGateway {
  grpcPort: number;
  httpPort: number;
  /** `v3.listen`'s port (v3 clients), when on. */
  v3GrpcPort?: number;
  /** `v3.httpListen`'s port (the v3 HTTP/JSON API), when on. */
  v3HttpPort?: number;
  /** Each Executor's generation (executors.generation, per-seed overrides). */
  generations: ExecutorGenerations;
  registry: ExecutorRegistry;
  cluster: ClusterTasks;
  /** Per-Executor circuit state (metrics, `/v1/executors`, CLI). */
  health: ExecutorHealth;
  admission: CallAdmission;
  cache: GatewayCache;
  metrics: GatewayMetrics;
  /** Readiness, shared by /readyz and gRPC health. */
  readiness: GatewayHealth;
  stop(): Promise<void>;
}

export async function startGateway(config: GatewayConfig, log: Logger): Promise<RunningGateway> {
  const registry = new ExecutorRegistry(new AllowList(config.executors.discoveryAllow), config.executors.maxExecutors);
  for (const seed of config.executors.seeds) {
    if (typeof seed === "string") registry.addSeed(seed);
    else registry.addSeed(seed.address, seed.pubKey ? Buffer.from(seed.pubKey, "hex") : undefined);
  }
  const metrics = new GatewayMetrics({ maxExecutors: config.executors.maxExecutors, executors: registry });
  const readiness = new GatewayHealth(() => metrics.executorSetSizes());
  registry.onAdded((e) => {
    if (e.source === "discovered") log.info({ executor: e.address, known: registry.size }, "discovered Executor");
    readiness.refresh();
  });

  const connector = new UpstreamConnector(
    config.executors.tls,
    new DnsGuard(config.executors.dns, config.executors.discoveryAllow),
    (address) => registry.get(address)?.source === "seed",
  );
  registry.onAdded((e) => {
    // Check discovered names at once (warms the DNS cache, logs a refusal early); every call re-checks.
    if (e.source === "discovered")
      connector
        .connect(e.address)
        .catch((err: Error) => log.warn({ executor: e.address, reason: err.message }, "refused"));
  });
  const pool = new UpstreamPool({
    maxResponseBytes: config.executors.maxResponseBytes,
    maxPredictBytes: config.predict.maxBytes,
    connector,
  });
  const health = new ExecutorHealth({
    failures: config.executors.circuitFailures,
    halfOpenAfterMs: config.executors.circuitHalfOpenAfterMs,
    maxHalfOpenAfterMs: config.executors.circuitMaxHalfOpenAfterMs,
  });
  health.onStateChange((executor, state) => log.warn({ executor, circuit: state }, "Executor circuit changed"));
  health.onStateChange((executor, state) => metrics.circuitState(executor, state));
  pool.observe(metrics.upstreamCall);
  const generations = ExecutorGenerations.fromConfig(config.executors);
  const generationOf = (address: string) => generations.of(address);
  const fanout = new TaskFanout(registry, pool, { ...config.executors, generationOf }, log, health);
  fanout.observe(metrics.fanout);
  const cache = new GatewayCache(config, registry, fanout, log);
  metrics.trackCacheStore(cache);
  if (cache.store instanceof RedisStore) cache.store.observeLatency((ms) => metrics.redisLatency(ms));
  const cluster = new ClusterTasks(fanout, registry, pool, config.executors, log, cache);
  cluster.predictions = new PredictService(cluster, registry, pool, { ...config.predict, generationOf }, log);
  cluster.predictions.events.on("refusal", (reason) => metrics.predictRefusal(reason));

  const admission = new CallAdmission(config.api);
  const server = new grpc.Server({
    "grpc.max_receive_message_length": config.api.maxRequestBytes,
    "grpc.max_send_message_length": -1,
    // HTTP/2 backstop on streams per connection; the admission counter refuses first, cleanly.
    "grpc.max_concurrent_streams": config.api.maxConcurrentCallsPerConnection * 2,
  });
  server.addService(
    RAW_TASK_SERVICE,
    createTaskService(
      cluster,
      { ...config.api, admission, generation: config.api.generation },
      log,
      metrics.servedCall,
    ),
  );
  readiness.addToServer(server);
  addReflection(server);
  const listen = parseListen(config.listen);
  const grpcPort = await new Promise<number>((resolve, reject) => {
    server.bindAsync(listen.target, serverCredentials(config.tls), (err, port) => (err ? reject(err) : resolve(port)));
  });

  // v3 clients' own listener: same service, requests without layout evidence read as v3.
  let v3Server: grpc.Server | undefined;
  let v3GrpcPort: number | undefined;
  if (config.v3.listen !== "") {
    const v3 = new grpc.Server({
      "grpc.max_receive_message_length": config.api.maxRequestBytes,
      "grpc.max_send_message_length": -1,
      "grpc.max_concurrent_streams": config.api.maxConcurrentCallsPerConnection * 2,
    });
    v3.addService(
      RAW_TASK_SERVICE,
      createTaskService(cluster, { ...config.api, admission, generation: "v3" }, log, metrics.servedCall),
    );
    readiness.addToServer(v3);
    const v3Listen = parseListen(config.v3.listen);
    v3GrpcPort = await new Promise<number>((resolve, reject) => {
      v3.bindAsync(v3Listen.target, serverCredentials(config.tls), (err, port) => (err ? reject(err) : resolve(port)));
    });
    v3Server = v3;
  }

  readiness.markServing();

  const http = new HttpServer();
  addOperatorRoutes(http, readiness, metrics);
  registerHttpApi(http, {
    cluster,
    registry,
    pool,
    config,
    log,
    admission,
    sources: { circuit: (address) => health.state(address).state, cache: () => cache.stats },
    generationOf,
  });
  const httpListen = parseListen(config.httpListen);
  const httpPort = await http.listen(httpListen.host, httpListen.port);
  let v3Http: V3HttpServer | undefined;
  let v3HttpPort: number | undefined;
  if (config.v3.httpListen !== "") {
    v3Http = new V3HttpServer(
      cluster,
      {
        allowCors: config.v3.allowCors,
        maxListLimit: config.api.maxListLimit,
        defaultDeadlineMs: config.api.defaultDeadlineMs,
        predictDeadlineMs: Math.max(config.api.defaultDeadlineMs, config.predict.callTimeoutMs),
        maxRequestBytes: config.api.maxRequestBytes,
        admission,
      },
      log.child({ component: "v3-http" }),
    );
    const l = parseListen(config.v3.httpListen);
    v3HttpPort = await v3Http.listen(l.host, l.port);
  }
  log.info(
    {
      grpc: `${listen.host}:${grpcPort}`,
      http: `${httpListen.host}:${httpPort}`,
      ...(v3GrpcPort !== undefined ? { v3Grpc: v3GrpcPort } : {}),
      ...(v3HttpPort !== undefined ? { v3Http: v3HttpPort } : {}),
      executors: registry.size,
    },
    "gateway listening",
  );

  return {
    grpcPort,
    httpPort,
    v3GrpcPort,
    v3HttpPort,
    generations,
    registry,
    cluster,
    health,
    admission,
    cache,
    metrics,
    readiness,
    /**
     * Graceful stop: NOT_SERVING (gRPC health, /readyz) at once, still serving for
     * `health.drainDelayMs` so balancers stop routing here; then new calls are refused
     * (UNAVAILABLE) and in-flight calls get up to `shutdownGraceMs` to finish; then
     * health Watch streams end and the server, the HTTP side and the upstream channels close.
     */
    async stop() {
      readiness.markShuttingDown();
      if (config.health.drainDelayMs > 0) {
        await new Promise((resolve) => setTimeout(resolve, config.health.drainDelayMs));
      }
      const drained = await admission.drain(config.shutdownGraceMs);
      if (!drained) log.warn({ inFlight: admission.active }, "shutdown grace ran out; cancelling calls in flight");
      readiness.endWatches();
      await shutdownGrpcServer(server, 1000);
      if (v3Server) await shutdownGrpcServer(v3Server, 1000);
      await http.close();
      await v3Http?.close();
      pool.close();
      await cache.close();
    },
  };
}
