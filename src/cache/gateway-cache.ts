/**
 * Builds the cache from configuration: Redis when `redis.url`, `redis.cluster` or
 * `redis.sentinel.nodes` is set, otherwise the in-process LRU (the embedded default).
 */
import type { Logger } from "pino";
import { defaultDeadlines } from "../config/deadlines";
import type { GatewayConfig } from "../config/schema";
import type { GetAnswer, ListAnswer, ReadOptions } from "../fanout/cluster-tasks";
import type { CallContext } from "../fanout/report";
import type { TaskFanout } from "../fanout/task-fanout";
import type { ListQuery } from "../merge/filter";
import type { ExecutorRegistry } from "../upstream/registry";
import { SharedExecutorSet } from "./executor-set";
import { ListAnswerCache } from "./list-cache";
import { MemoryStore } from "./memory-store";
import { RedisStore } from "./redis-store";
import { CacheStats, type CacheStore } from "./store";
import { TaskCache } from "./task-cache";

export class GatewayCache {
  readonly stats = new CacheStats();
  readonly store: CacheStore;
  readonly lists: ListAnswerCache;
  readonly tasks: TaskCache;
  readonly executorSet: SharedExecutorSet;

  constructor(config: GatewayConfig, registry: ExecutorRegistry, fanout: TaskFanout, log: Logger) {
    const { redis, cache } = config;
    const clog = log.child({ component: "cache" });
    this.store =
      redis.url !== "" || redis.cluster.length > 0 || redis.sentinel.nodes.length > 0
        ? new RedisStore(
            {
              url: redis.url || undefined,
              cluster: redis.cluster,
              sentinel: redis.sentinel.nodes.length > 0 ? redis.sentinel : undefined,
              keyPrefix: redis.keyPrefix,
              timeoutMs: cache.redisTimeoutMs,
            },
            this.stats,
            clog,
          )
        : new MemoryStore(cache.memoryMaxBytes);
    this.executorSet = new SharedExecutorSet(registry, this.store, cache.executorSyncMs, clog);
    this.lists = new ListAnswerCache(
      this.store,
      this.executorSet,
      (q, ctx) => fanout.list(q, ctx),
      { ...cache, backgroundDeadlineMs: defaultDeadlines(config).defaultDeadlineMs },
      this.stats,
      clog,
    );
    this.tasks = new TaskCache(
      this.store,
      this.executorSet,
      (id, ctx, scope) => fanout.getTask(id, ctx, scope),
      (a) => registry.resolve(a),
      cache,
      this.stats,
      clog,
    );
  }

  list(q: ListQuery, ctx: CallContext, opts?: ReadOptions): Promise<ListAnswer> {
    return this.lists.list(q, ctx, opts);
  }

  get(taskID: string, ctx: CallContext, opts?: ReadOptions): Promise<GetAnswer> {
    return this.tasks.get(taskID, ctx, opts);
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
