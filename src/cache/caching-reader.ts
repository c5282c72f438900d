/**
 * The cache as a decorator of the reader it caches (the model: Thanos
 * pkg/store/cache/caching_bucket.go): a TaskReader in front of another TaskReader
 * (the fan-out). Lists: src/cache/list-cache.ts; tasks: src/cache/task-cache.ts; both
 * over one CacheStore — Redis when `redis.url`, `redis.cluster` or
 * `redis.sentinel.nodes` is set, otherwise the in-process LRU (the embedded default).
 */
import type { Logger } from "pino";
import { defaultDeadlines } from "../config/deadlines";
import type { GatewayConfig } from "../config/schema";
import type { GetAnswer, ListAnswer, ReadOptions, TaskReader } from "../core/reader";
import type { CallContext } from "../core/report";
import type { ListQuery } from "../merge/filter";
import type { ExecutorRegistry } from "../upstream/registry";
import { SharedExecutorSet } from "./executor-set";
import { ListAnswerCache } from "./list-cache";
import { MemoryStore } from "./memory-store";
import { RedisStore } from "./redis-store";
import { CacheStats, type CacheStore } from "./store";
import { TaskCache } from "./task-cache";

/** The configured store: Redis (single, cluster or sentinel) or the in-process LRU. */
export function storeFromConfig(config: GatewayConfig, stats: CacheStats, log: Logger): CacheStore {
  const { redis, cache } = config;
  return redis.url !== "" || redis.cluster.length > 0 || redis.sentinel.nodes.length > 0
    ? new RedisStore(
        {
          url: redis.url || undefined,
          cluster: redis.cluster,
          sentinel: redis.sentinel.nodes.length > 0 ? redis.sentinel : undefined,
          keyPrefix: redis.keyPrefix,
          timeoutMs: cache.redisTimeoutMs,
        },
        stats,
        log,
      )
    : new MemoryStore(cache.memoryMaxBytes);
}

/**
 * Cache hits served from what the API made of them once (src/cache/list-cache.ts): the
 * API gives a request's query and a prefix (what else changes its reply: generation,
 * headers) and keeps its rendering of a hit; it gets it back while the same cache entry
 * would answer it, as a hit, with the same tasks.
 */
export interface RenderedHits {
  /** The kept rendering for `q` with `prefix`, counted as a hit; undefined: ask the reader. */
  renderedListHit(prefix: string, q: ListQuery): Promise<unknown>;
  /** Keeps `value`, made from `answer` (a hit `list` returned for `q`), for `q` with `prefix`. */
  keepListRendering(prefix: string, q: ListQuery, answer: ListAnswer, value: unknown): void;
}

export class CachingReader implements TaskReader, RenderedHits {
  readonly stats = new CacheStats();
  readonly store: CacheStore;
  readonly lists: ListAnswerCache;
  readonly tasks: TaskCache;
  readonly executorSet: SharedExecutorSet;

  constructor(
    config: GatewayConfig,
    private readonly registry: ExecutorRegistry,
    inner: TaskReader,
    log: Logger,
    now: () => number = Date.now,
  ) {
    const { cache } = config;
    const clog = log.child({ component: "cache" });
    this.store = storeFromConfig(config, this.stats, clog);
    this.executorSet = new SharedExecutorSet(
      registry,
      this.store,
      cache.executorSyncMs,
      clog,
      now,
      config.executors.departAfterMs,
      config.executors.forgetAfterMs,
    );
    this.lists = new ListAnswerCache(
      this.store,
      this.executorSet,
      (q, ctx) => inner.list(q, ctx),
      { ...cache, backgroundDeadlineMs: defaultDeadlines(config).defaultDeadlineMs },
      this.stats,
      clog,
      now,
    );
    this.tasks = new TaskCache(
      this.store,
      this.executorSet,
      (id, ctx, opts) => inner.get(id, ctx, opts),
      (a) => registry.resolve(a),
      cache,
      this.stats,
      clog,
      now,
    );
  }

  private departedAt = -1;
  private departedCount = 0;

  /** The registry's departed Executors now (a count over the set, redone only when the set changed). */
  private departed(): number {
    if (this.departedAt !== this.registry.version) {
      this.departedCount = this.registry.counts().departed;
      this.departedAt = this.registry.version;
    }
    return this.departedCount;
  }

  async list(q: ListQuery, ctx: CallContext, opts?: ReadOptions): Promise<ListAnswer> {
    const a = await this.lists.list(q, ctx, opts);
    a.report.departed = this.departed();
    return a;
  }

  async get(taskID: string, ctx: CallContext, opts?: ReadOptions): Promise<GetAnswer> {
    const a = await this.tasks.get(taskID, ctx, opts);
    a.report.departed = this.departed();
    return a;
  }

  renderedListHit(prefix: string, q: ListQuery): Promise<unknown> {
    return this.lists.renderedHit(prefix, q, this.departed());
  }

  keepListRendering(prefix: string, q: ListQuery, answer: ListAnswer, value: unknown): void {
    this.lists.keepRendering(prefix, q, answer, answer.report.departed, value);
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
