/**
 * The shared backend: Redis single node, Sentinel, or Cluster through ioredis.
 *
 * Redis is an optimisation, never a dependency of an answer: the client queues
 * nothing while disconnected (`enableOfflineQueue: false`), every command is raced
 * against `timeoutMs`, and after a failure or timeout the store is bypassed at once
 * (no request waits on it) until a background PING answers in time. ioredis
 * reconnects by itself. State changes are logged once each and counted.
 */
import { Topic } from "../core/topic";
import { Cluster, Redis } from "ioredis";
import type { Logger } from "pino";
import { parseAddress } from "../upstream/address";
import type { CacheStats, CacheStore, StoreResult } from "./store";

export interface RedisStoreOptions {
  url?: string;
  cluster?: string[];
  sentinel?: { name: string; nodes: string[] };
  keyPrefix: string;
  timeoutMs: number;
}

type Client = Redis | Cluster;

class TimeoutError extends Error {}

function node(address: string): { host: string; port: number } {
  const p = parseAddress(address);
  if (p === null) throw new Error(`bad Redis node address "${address}"`);
  return { host: p.host, port: p.port };
}

const PROBE_EVERY_MS = 500;

export class RedisStore implements CacheStore {
  readonly kind = "redis";
  readonly shared = true;
  private readonly client: Client;
  private up = false;
  /** Set after a timeout on a connected client: bypass until a PING answers in time. */
  private slow = false;
  private probe?: NodeJS.Timeout;
  private closed = false;
  /** Round-trip time (ms) of every command that reached Redis (metrics). */
  readonly latency = new Topic<number>();

  constructor(
    private readonly opts: RedisStoreOptions,
    private readonly stats: CacheStats,
    private readonly log: Logger,
  ) {
    const common = {
      // Our own race decides; ioredis's timeout only reclaims commands that never answer.
      commandTimeout: opts.timeoutMs * 2,
      connectTimeout: Math.max(1000, opts.timeoutMs * 10),
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      // Reconnect forever, backing off to 2 s; requests bypass meanwhile.
      retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    };
    if (opts.cluster && opts.cluster.length > 0) {
      this.client = new Cluster(opts.cluster.map(node), {
        enableOfflineQueue: false,
        clusterRetryStrategy: (times: number) => Math.min(100 * times, 2000),
        slotsRefreshTimeout: Math.max(1000, opts.timeoutMs * 10),
        redisOptions: {
          commandTimeout: common.commandTimeout,
          connectTimeout: common.connectTimeout,
          maxRetriesPerRequest: 0,
        },
      });
    } else if (opts.sentinel) {
      this.client = new Redis({ ...common, sentinels: opts.sentinel.nodes.map(node), name: opts.sentinel.name });
    } else {
      this.client = new Redis(opts.url ?? "redis://127.0.0.1:6379", common);
    }
    this.client.on("ready", () => {
      if (!this.slow) this.markUp();
    });
    this.client.on("error", (err: Error) => this.markDown(err.message));
    this.client.on("end", () => this.markDown("connection ended"));
    this.client.on("close", () => this.markDown("connection closed"));
  }

  get healthy(): boolean {
    return this.up && !this.slow && this.client.status === "ready";
  }

  private markUp(): void {
    if (this.up || this.closed) return;
    this.up = true;
    this.stats.storeUp++;
    this.log.info({ cache: "redis" }, "Redis cache available");
  }

  private markDown(reason: string): void {
    if (!this.up || this.closed) return;
    this.up = false;
    this.stats.storeDown++;
    this.log.warn({ cache: "redis", reason }, "Redis cache unavailable: bypassing it until it answers again");
  }

  /** After a timeout on a live connection: PING until it answers within the timeout. */
  private startProbe(): void {
    if (this.probe || this.closed) return;
    this.probe = setInterval(() => {
      void this.raced(this.client.ping()).then(
        () => {
          clearInterval(this.probe);
          this.probe = undefined;
          this.slow = false;
          if (this.client.status === "ready") this.markUp();
        },
        () => {},
      );
    }, PROBE_EVERY_MS);
    this.probe.unref();
  }

  private raced<T>(p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      // After a stalled event loop the timer and the reply are due together; timers run
      // first, so give pending I/O one turn before calling it a timeout.
      timer = setTimeout(() => setImmediate(() => reject(new TimeoutError())), this.opts.timeoutMs);
    });
    p.catch(() => {}); // a late rejection after the timeout is expected, not unhandled
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  private async run<T>(fn: (c: Client) => Promise<T>): Promise<StoreResult<T>> {
    if (!this.healthy) {
      // Fail fast while down: nothing waits on a dead Redis.
      return { ok: false };
    }
    const started = performance.now();
    try {
      const value = await this.raced(fn(this.client));
      const ms = performance.now() - started;
      this.latency.publish(ms);
      return { ok: true, value };
    } catch (err) {
      if (err instanceof TimeoutError || /timed? ?out/i.test((err as Error).message)) {
        this.stats.storeTimeouts++;
        this.slow = true;
        this.markDown(`no answer within ${this.opts.timeoutMs} ms`);
        this.startProbe();
      } else {
        this.stats.storeErrors++;
        this.markDown((err as Error).message);
        // A connected client that errors (e.g. CLUSTERDOWN) is probed too.
        if (this.client.status === "ready") {
          this.slow = true;
          this.startProbe();
        }
      }
      return { ok: false };
    }
  }

  private k(key: string): string {
    return this.opts.keyPrefix + key;
  }

  get(key: string): Promise<StoreResult<Buffer | undefined>> {
    return this.run(async (c) => (await c.getBuffer(this.k(key))) ?? undefined);
  }

  set(key: string, value: Buffer, ttlMs: number): Promise<StoreResult<void>> {
    return this.run(async (c) => {
      await c.set(this.k(key), value, "PX", Math.max(1, Math.round(ttlMs)));
    });
  }

  delete(key: string): Promise<StoreResult<void>> {
    return this.run(async (c) => {
      await c.del(this.k(key));
    });
  }

  lease(key: string, ttlMs: number): Promise<StoreResult<boolean>> {
    return this.run(async (c) => (await c.set(this.k(key), "1", "PX", Math.max(1, ttlMs), "NX")) === "OK");
  }

  hashMerge(
    key: string,
    fields: Record<string, string>,
    ttlMs: number,
    remove: readonly string[] = [],
  ): Promise<StoreResult<void>> {
    return this.run(async (c) => {
      const stale = remove.filter((f) => !(f in fields));
      if (stale.length > 0) await c.hdel(this.k(key), ...stale);
      if (Object.keys(fields).length === 0) return;
      await c.hset(this.k(key), fields);
      await c.pexpire(this.k(key), ttlMs);
    });
  }

  hashGetAll(key: string): Promise<StoreResult<Record<string, string>>> {
    return this.run((c) => c.hgetall(this.k(key)));
  }

  /** Resolves once connected (or after `ms`); for start-up logs and tests. */
  async waitReady(ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    while (!this.healthy && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    return this.healthy;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.probe) clearInterval(this.probe);
    this.client.disconnect();
  }
}
