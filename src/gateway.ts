/**
 * Wires the data path together, one module a step (README "Layout"):
 *
 *   gRPC service / HTTP routes -> request pipeline -> TaskReader (cache decorator ->
 *   fan-out: gather, then reduce) -> ExecutorClient per Executor -> UnaryTransport
 *
 * GetPredictResult: pipeline -> PredictService (checks, tasks through the same
 * reader, routing, relay through the ExecutorClients). The Executor set has one owner
 * (ExecutorRegistry); discovery, the shared set in Redis and prediction routing offer
 * it candidates.
 */
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { CallAdmission } from "./api/admission";
import { deliveryInterceptor } from "./api/delivery";
import { RequestPipeline } from "./api/pipeline";
import { serverCredentials, serverTlsMaterial } from "./api/server-tls";
import { createHttp2TaskServer } from "./api/task-server-http2";
import { createTaskService, RAW_TASK_SERVICE, taskReadHandlers } from "./api/task-service";
import { CachingReader } from "./cache/caching-reader";
import { RedisStore } from "./cache/redis-store";
import { defaultDeadlines } from "./config/deadlines";
import type { GatewayConfig } from "./config/schema";
import { LoopMonitor } from "./core/loop-monitor";
import type { TaskReader } from "./core/reader";
import { applyRuntimeSettings } from "./core/runtime";
import { TaskFanout } from "./fanout/task-fanout";
import { registerHttpApi } from "./http/api";
import { HttpServer } from "./http/server";
import { GatewayHealth, shutdownGrpcServer } from "./observability/health";
import { GatewayMetrics } from "./observability/metrics";
import { addReflection } from "./observability/reflection";
import { addOperatorRoutes } from "./observability/routes";
import { PredictService } from "./predict/service";
import { parseListen } from "./upstream/address";
import { AllowList } from "./upstream/allowlist";
import { DnsGuard, UpstreamConnector } from "./upstream/connect";
import { ExecutorClients } from "./upstream/executor-client";
import { liveness } from "./upstream/outcome";
import { ExecutorHealth } from "./upstream/health";
import { Http2Transport } from "./transport/client";
import type { Http2GrpcServer } from "./transport/server";
import { UpstreamPool } from "./upstream/pool";
import { ExecutorRegistry } from "./upstream/registry";
import type { UnaryTransport } from "./upstream/transport";
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
  /** The Executor set's owner. */
  registry: ExecutorRegistry;
  /** The read path as the API sees it: the cache in front of the fan-out. */
  reader: TaskReader;
  fanout: TaskFanout;
  clients: ExecutorClients;
  /** Per-Executor circuit state (metrics, `/v1/executors`, CLI). */
  health: ExecutorHealth;
  predictions: PredictService;
  pipeline: RequestPipeline;
  admission: CallAdmission;
  cache: CachingReader;
  metrics: GatewayMetrics;
  /** Readiness, shared by /readyz and gRPC health. */
  readiness: GatewayHealth;
  stop(): Promise<void>;
}

/** Why a listen failed, in words (grpc-js says "No address added out of total 1 resolved"). */
function bindFailure(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const text = `${e?.code ?? ""} ${e?.message ?? String(err)}`;
  if (/EADDRINUSE|address already in use|No address added/i.test(text))
    return "address already in use (another process listens there; pick another port)";
  if (/EACCES|permission denied/i.test(text)) return "permission denied (ports below 1024 need privileges)";
  if (/EADDRNOTAVAIL|cannot assign/i.test(text)) return "this machine has no such address";
  return e?.message ?? String(err);
}

export async function startGateway(config: GatewayConfig, log: Logger): Promise<RunningGateway> {
  applyRuntimeSettings(config.runtime);
  const registry = new ExecutorRegistry(new AllowList(config.executors.discoveryAllow), config.executors.maxExecutors, {
    departAfterMs: config.executors.departAfterMs,
    forgetAfterMs: config.executors.forgetAfterMs,
    discoveryBudget: config.executors.discoveryBudget,
    discoveryBudgetIntervalMs: config.executors.discoveryBudgetIntervalMs,
  });
  for (const seed of config.executors.seeds) {
    if (typeof seed === "string") registry.addSeed(seed);
    else registry.addSeed(seed.address, seed.pubKey ? Buffer.from(seed.pubKey, "hex") : undefined, seed.name);
  }
  const loop = new LoopMonitor();
  const metrics = new GatewayMetrics({
    maxExecutors: config.executors.maxExecutors,
    executors: registry,
    lagMs: () => loop.lagMs(),
  });
  const readiness = new GatewayHealth(() => metrics.executorSetSizes());

  const connector = new UpstreamConnector(
    config.executors.tls,
    new DnsGuard(config.executors.dns, config.executors.discoveryAllow),
    (address) => registry.get(address)?.source === "seed",
  );
  registry.changes.subscribe((c) => {
    if (c.kind === "departed" || c.kind === "joined" || c.kind === "removed") {
      readiness.refresh();
      const returned = c.kind === "joined" && c.returned;
      if (c.kind !== "joined" || returned || c.entry.source === "discovered") {
        log.info({ executor: c.entry.address, change: returned ? "returned" : c.kind }, "Executor set changed");
      }
      return;
    }
    if (c.kind !== "added") return;
    readiness.refresh();
    if (c.entry.source !== "discovered") return;
    log.info({ executor: c.entry.address, via: c.entry.via, known: registry.size }, "discovered Executor");
    // Check discovered names at once (warms the DNS cache, logs a refusal early); every call re-checks.
    connector
      .connect(c.entry.address)
      .catch((err: Error) => log.warn({ executor: c.entry.address, reason: err.message }, "refused"));
  });

  // The transport seam: any UnaryTransport (src/upstream/transport.ts) fits here.
  const transportOptions = {
    maxResponseBytes: config.executors.maxResponseBytes,
    maxPredictBytes: config.predict.maxBytes,
    connector,
    keepaliveTimeMs: config.executors.keepaliveTimeMs,
    keepaliveTimeoutMs: config.executors.keepaliveTimeoutMs,
  };
  const transport: UnaryTransport =
    config.executors.transport === "http2" ? new Http2Transport(transportOptions) : new UpstreamPool(transportOptions);
  const health = new ExecutorHealth({
    failures: config.executors.circuitFailures,
    halfOpenAfterMs: config.executors.circuitHalfOpenAfterMs,
    maxHalfOpenAfterMs: config.executors.circuitMaxHalfOpenAfterMs,
  });
  health.changes.subscribe(({ address, state }) => {
    log.warn({ executor: address, circuit: state }, "Executor circuit changed");
    metrics.circuitState(address, state);
  });
  const clients = new ExecutorClients(transport, health, {
    callTimeoutMs: {
      listTask: config.executors.callTimeoutMs,
      getTaskById: config.executors.callTimeoutMs,
      getPredictResult: config.predict.callTimeoutMs,
    },
    maxUpstreamCalls: config.executors.maxUpstreamCalls,
    stall: loop,
  });
  clients.outcomes.subscribe(metrics.upstreamCall);
  // Every classified outcome drives the set's lifecycle (candidate -> member -> departed).
  clients.outcomes.subscribe((o) =>
    registry.observe(o.address, o.shortfall === "refused-address" ? "refused" : liveness(o.kind)),
  );
  registry.changes.subscribe((c) => {
    if (c.kind === "removed") clients.remove(c.entry.address);
  });
  const sweeper = setInterval(() => registry.sweep(), 10_000);
  sweeper.unref();

  const generations = ExecutorGenerations.fromConfig(config.executors);
  const generationOf = (address: string) => generations.of(address);
  const fanout = new TaskFanout(
    () =>
      registry.list().map((e) => ({
        address: e.address,
        pubKey: e.pubKey,
        generation: generations.of(e.address),
        client: clients.get(e.address),
        live: e.membership === "member",
      })),
    (tasks, from) => registry.discoverFrom(tasks, from),
    config.executors,
    log,
  );
  fanout.done.subscribe(metrics.fanout);
  const cache = new CachingReader(config, registry, fanout, log);
  metrics.trackCacheStore(cache);
  if (cache.store instanceof RedisStore) cache.store.latency.subscribe((ms) => metrics.redisLatency(ms));
  const reader: TaskReader = cache;
  const predictions = new PredictService(reader, registry, clients, { ...config.predict, generationOf }, log);
  predictions.refusals.subscribe(({ reason }) => metrics.predictRefusal(reason));

  const admission = new CallAdmission({ ...config.api, lagMs: () => loop.lagMs() });
  // Streams per client connection: a flood on one connection queues at its client.
  const maxStreams = Math.min(config.api.maxStreamsPerConnection, config.api.maxConcurrentCallsPerConnection * 2);
  admission.refusals.subscribe(metrics.admissionRefusal);
  const pipeline = new RequestPipeline({ ...defaultDeadlines(config), admission }, log);
  pipeline.served.subscribe(metrics.servedCall);

  const serverOptions = {
    "grpc.max_receive_message_length": config.api.maxRequestBytes,
    "grpc.max_send_message_length": -1,
    // As the own server's fallback, grpc-js takes every relayed stream on one loopback connection.
    "grpc.max_concurrent_streams":
      config.api.server === "http2" ? config.api.maxConcurrentCallsPerConnection * 2 : maxStreams,
    // Observes when a prediction reply has been taken by its client (src/api/delivery.ts).
    interceptors: [deliveryInterceptor([RAW_TASK_SERVICE.GetPredictResult!.path])],
  };
  const serviceOptions = { ...config.api, predictWriteTimeoutMs: config.predict.writeTimeoutMs };
  const server = new grpc.Server(serverOptions);
  server.addService(
    RAW_TASK_SERVICE,
    createTaskService(
      { reader, hits: cache, predictions, pipeline },
      { ...serviceOptions, generation: config.api.generation },
    ),
  );
  readiness.addToServer(server);
  addReflection(server);
  const listen = parseListen(config.listen);
  /** The own node:http2 server (api.server "http2") for a listener of `generation`; the rest relayed to `fallbackPort`. */
  const ownServer = (generation: "v2" | "v3", fallbackPort: number): Http2GrpcServer =>
    createHttp2TaskServer(pipeline, taskReadHandlers(reader, { ...serviceOptions, generation }, cache), {
      maxRequestBytes: config.api.maxRequestBytes,
      maxConcurrentStreams: maxStreams,
      queueTargetMs: config.api.queueTargetMs,
      fallback: `127.0.0.1:${fallbackPort}`,
      tls: serverTlsMaterial(config.tls),
      admission,
      ...defaultDeadlines(config),
      predict: { service: predictions, stallMs: config.predict.writeTimeoutMs },
    });
  const bindLoopback = (s: grpc.Server): Promise<number> =>
    new Promise<number>((resolve, reject) => {
      s.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(err) : resolve(port),
      );
    });
  let own: Http2GrpcServer | undefined;
  let grpcPort: number;
  if (config.api.server === "http2") {
    // grpc-js answers on loopback what the own server relays to it (predictions, health, reflection).
    const fallbackPort = await bindLoopback(server);
    own = ownServer(config.api.generation, fallbackPort);
    metrics.trackStreamLimit("api", own);
    grpcPort = await own.listen(listen.host, listen.port).catch((err: Error) => {
      throw new Error(`listen ${config.listen}: ${bindFailure(err)}`);
    });
  } else {
    grpcPort = await new Promise<number>((resolve, reject) => {
      server.bindAsync(listen.target, serverCredentials(config.tls), (err, port) =>
        err ? reject(new Error(`listen ${config.listen}: ${bindFailure(err)}`)) : resolve(port),
      );
    });
  }

  // v3 clients' own listener: the same service; requests without layout evidence read as v3.
  // With api.server "http2" the own server answers it too, the v3 grpc-js service on loopback behind it.
  let v3Server: grpc.Server | undefined;
  let v3Own: Http2GrpcServer | undefined;
  let v3GrpcPort: number | undefined;
  if (config.v3.listen !== "") {
    const v3 = new grpc.Server(serverOptions);
    v3.addService(
      RAW_TASK_SERVICE,
      createTaskService({ reader, hits: cache, predictions, pipeline }, { ...serviceOptions, generation: "v3" }),
    );
    readiness.addToServer(v3);
    v3Server = v3;
    const v3Listen = parseListen(config.v3.listen);
    const failed = (err: unknown): never => {
      server.forceShutdown();
      v3.forceShutdown();
      void own?.close(0);
      throw new Error(`v3.listen ${config.v3.listen}: ${bindFailure(err)}`);
    };
    if (config.api.server === "http2") {
      v3Own = ownServer("v3", await bindLoopback(v3));
      metrics.trackStreamLimit("v3", v3Own);
      v3GrpcPort = await v3Own.listen(v3Listen.host, v3Listen.port).catch(failed);
    } else {
      v3GrpcPort = await new Promise<number>((resolve, reject) => {
        v3.bindAsync(v3Listen.target, serverCredentials(config.tls), (err, port) =>
          err ? reject(err) : resolve(port),
        );
      }).catch(failed);
    }
  }

  readiness.markServing();

  const http = await HttpServer.create({
    maxRequestBytes: config.api.maxRequestBytes,
    corsOrigins: config.http.corsOrigins,
    maxConnections: config.http.maxConnections,
    maxConcurrentRequests: config.http.maxConcurrentRequests,
    headersTimeoutMs: config.http.headersTimeoutMs,
    requestTimeoutMs: config.http.requestTimeoutMs,
    keepAliveTimeoutMs: config.http.keepAliveTimeoutMs,
    lagMs: () => loop.lagMs(),
    shedLagMs: config.http.shedLagMs,
    log: log.child({ component: "http" }),
  });
  addOperatorRoutes(http, readiness, metrics, config.http.metricsRenderMs);
  registerHttpApi(http, {
    reader,
    predictions,
    registry,
    clients,
    config,
    pipeline,
    cacheStats: cache.stats,
    generationOf,
  });
  const httpListen = parseListen(config.httpListen);
  const httpPort = await http.listen(httpListen.host, httpListen.port).catch((err: unknown) => {
    server.forceShutdown();
    v3Server?.forceShutdown();
    throw new Error(`httpListen ${config.httpListen}: ${bindFailure(err)}`);
  });
  let v3Http: V3HttpServer | undefined;
  let v3HttpPort: number | undefined;
  if (config.v3.httpListen !== "") {
    const v3HttpServer = new V3HttpServer(
      { reader, predictions, pipeline },
      {
        allowCors: config.v3.allowCors,
        maxListTasks: config.api.maxListTasks,
        maxRequestBytes: config.api.maxRequestBytes,
        predictWriteTimeoutMs: config.predict.writeTimeoutMs,
        maxConnections: config.http.maxConnections,
        headersTimeoutMs: config.http.headersTimeoutMs,
        requestTimeoutMs: config.http.requestTimeoutMs,
        keepAliveTimeoutMs: config.http.keepAliveTimeoutMs,
      },
    );
    const l = parseListen(config.v3.httpListen);
    v3HttpPort = await v3HttpServer.listen(l.host, l.port).catch(async (err: unknown) => {
      server.forceShutdown();
      v3Server?.forceShutdown();
      await http.close();
      throw new Error(`v3.httpListen ${config.v3.httpListen}: ${bindFailure(err)}`);
    });
    v3Http = v3HttpServer;
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
  if (config.executors.seeds.length === 0)
    log.warn(
      { key: "executors.seeds" },
      "no Executors configured: every answer is empty until executors.seeds names at least one (config/local.yaml seeds the simulator's)",
    );

  return {
    grpcPort,
    httpPort,
    v3GrpcPort,
    v3HttpPort,
    generations,
    registry,
    reader,
    fanout,
    clients,
    health,
    predictions,
    pipeline,
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
      clearInterval(sweeper);
      loop.close();
      admission.close();
      readiness.markShuttingDown();
      if (config.health.drainDelayMs > 0) {
        await new Promise((resolve) => setTimeout(resolve, config.health.drainDelayMs));
      }
      const drained = await admission.drain(config.shutdownGraceMs);
      if (!drained) log.warn({ inFlight: admission.active }, "shutdown grace ran out; cancelling calls in flight");
      readiness.endWatches();
      // GOAWAY to the own server's clients; relayed streams end with the grpc-js server's.
      const ownClosed = Promise.all([own?.close(1000), v3Own?.close(1000)]);
      await shutdownGrpcServer(server, 1000);
      if (v3Server) await shutdownGrpcServer(v3Server, 1000);
      await ownClosed;
      await http.close();
      await v3Http?.close();
      clients.close();
      await cache.close();
    },
  };
}
