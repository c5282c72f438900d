/**
 * The Executor set as the cache sees it: a stable ID of its content (part of every
 * key, so an answer computed without an Executor is never served as complete once it
 * is known), and sharing through a shared store so one replica's discovery serves
 * all. What a replica reads from the store still goes through its own allow-list
 * and cap (`ExecutorRegistry.offer`).
 */
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import type { FanoutReport } from "../core/report";
import type { ExecutorRegistry } from "../upstream/registry";
import { FORMAT } from "./entry-codec";
import { KEY_HEX } from "../wire/facts";
import type { CacheStore } from "./store";

export interface ExecutorSetView {
  /** Reads what other replicas shared (throttled); no-op for a private store. */
  pull(): Promise<void>;
  /** Shares this replica's set when it changed. */
  publish(): Promise<void>;
  /** Identifies the set's content; equal sets give equal IDs on every replica. */
  setId(): string;
  /** Did this fan-out ask every Executor of the current set (that the view needs)? */
  askedAll(report: FanoutReport, clusterView: boolean): boolean;
}

const SET_KEY = `v${FORMAT}:executors`;
const SET_TTL_MS = 24 * 3600 * 1000;

export class SharedExecutorSet implements ExecutorSetView {
  private memoVersion = -1;
  private memoId = "";
  private lastPull = 0;
  private publishedVersion = -1;
  private pulling?: Promise<void>;

  constructor(
    private readonly registry: ExecutorRegistry,
    private readonly store: CacheStore,
    private readonly syncMs: number,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  setId(): string {
    if (this.memoVersion !== this.registry.version) {
      const lines = this.registry
        .list()
        .map((e) => `${e.address}=${e.pubKey ? e.pubKey.toString("hex") : ""}`)
        .sort();
      this.memoId = createHash("sha256").update(lines.join("\n")).digest("hex").slice(0, 24);
      this.memoVersion = this.registry.version;
    }
    return this.memoId;
  }

  askedAll(report: FanoutReport, clusterView: boolean): boolean {
    const asked = new Set(report.asked);
    return this.registry.list().every((e) => asked.has(e.address) || (clusterView && e.pubKey === undefined));
  }

  pull(): Promise<void> {
    if (!this.store.shared || this.now() - this.lastPull < this.syncMs) return Promise.resolve();
    // Concurrent requests share one read.
    this.pulling ??= this.doPull().finally(() => {
      this.pulling = undefined;
    });
    return this.pulling;
  }

  private async doPull(): Promise<void> {
    this.lastPull = this.now();
    const got = await this.store.hashGetAll(SET_KEY);
    if (!got.ok) return;
    let added = 0;
    for (const [address, keyHex] of Object.entries(got.value)) {
      const key = KEY_HEX.test(keyHex) ? Buffer.from(keyHex, "hex") : undefined;
      if (this.registry.offer(address, key, "shared")) added++;
    }
    if (added > 0) this.log.info({ added, known: this.registry.size }, "learned Executors shared by other replicas");
  }

  async publish(): Promise<void> {
    if (!this.store.shared || this.publishedVersion === this.registry.version) return;
    const version = this.registry.version;
    const fields: Record<string, string> = {};
    for (const e of this.registry.list()) fields[e.address] = e.pubKey ? e.pubKey.toString("hex") : "";
    const done = await this.store.hashMerge(SET_KEY, fields, SET_TTL_MS);
    if (done.ok) this.publishedVersion = version;
  }
}
