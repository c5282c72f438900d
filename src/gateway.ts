/**
 * Wires the data path together: api (Task service) -> fan-out and merge ->
 * upstream pool and discovery (-> cache, later), plus the HTTP side.
 */
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { createTaskService, RAW_TASK_SERVICE } from "./api/task-service";
import type { GatewayConfig } from "./config/schema";
import { ClusterTasks } from "./fanout/cluster-tasks";
import { PredictService } from "./fanout/predict-service";
import { TaskFanout } from "./fanout/task-fanout";
import { HttpServer } from "./http/server";
import { AllowList } from "./upstream/allowlist";
import { parseListen } from "./upstream/address";
import { UpstreamPool } from "./upstream/pool";
import { ExecutorRegistry } from "./upstream/registry";

export interface RunningGateway {
  grpcPort: number;
  httpPort: number;
  registry: ExecutorRegistry;
  cluster: ClusterTasks;
  stop(): Promise<void>;
}

export async function startGateway(config: GatewayConfig, log: Logger): Promise<RunningGateway> {
  const registry = new ExecutorRegistry(new AllowList(config.executors.discoveryAllow), config.executors.maxExecutors);
  for (const seed of config.executors.seeds) {
    if (typeof seed === "string") registry.addSeed(seed);
    else registry.addSeed(seed.address, seed.pubKey ? Buffer.from(seed.pubKey, "hex") : undefined);
  }
  registry.onAdded((e) => {
    if (e.source === "discovered") log.info({ executor: e.address, known: registry.size }, "discovered Executor");
  });

  const pool = new UpstreamPool({
    maxResponseBytes: config.executors.maxResponseBytes,
    maxPredictBytes: config.predict.maxBytes,
  });
  const fanout = new TaskFanout(registry, pool, config.executors, log);
  const cluster = new ClusterTasks(fanout, registry, pool, config.executors, log);
  cluster.predictions = new PredictService(cluster, registry, pool, config.predict, log);

  const server = new grpc.Server({
    "grpc.max_receive_message_length": config.api.maxRequestBytes,
    "grpc.max_send_message_length": -1,
  });
  server.addService(RAW_TASK_SERVICE, createTaskService(cluster, config.api, log));
  const listen = parseListen(config.listen);
  const grpcPort = await new Promise<number>((resolve, reject) => {
    server.bindAsync(listen.target, grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    );
  });

  const http = new HttpServer();
  let ready = true;
  http.route("GET", "/healthz", (_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
  });
  http.route("GET", "/readyz", (_req, res) => {
    res.writeHead(ready ? 200 : 503, { "content-type": "text/plain" }).end(ready ? "ready\n" : "not ready\n");
  });
  const httpListen = parseListen(config.httpListen);
  const httpPort = await http.listen(httpListen.host, httpListen.port);
  log.info(
    { grpc: `${listen.host}:${grpcPort}`, http: `${httpListen.host}:${httpPort}`, executors: registry.size },
    "gateway listening",
  );

  return {
    grpcPort,
    httpPort,
    registry,
    cluster,
    async stop() {
      ready = false;
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      await http.close();
      pool.close();
    },
  };
}
