/**
 * The Executor set as the cache sees it: a stable ID of the live set's content (its
 * members: part of every key, so an answer computed without a member is never served
 * as complete once it is live, and one computed with a departed Executor's share is
 * not served once it left), and sharing through a shared store so one replica's
 * discovery serves all. What a replica reads from the store still goes through its
 * own allow-list and cap (`ExecutorRegistry.offer`) and enters as a candidate: it
 * joins this replica's live set when it answers this replica.
 *
 * Shared membership follows the same lifecycle: each replica writes its members with
 * the time they last answered it (refreshed while they keep answering), and a replica
 * reads only entries that answered someone within `departAfterMs` — a departed
 * Executor ages out of the shared set instead of being kept for the hash's TTL — and
 * deletes entries nobody refreshed within `forgetAfterMs` on its next publish, so the
 * hash holds the live cluster, not every address that ever answered.
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
  /** Did every member of the live set (that the view needs) answer this fan-out, and every other entry get asked? */
  askedAll(report: FanoutReport, clusterView: boolean): boolean;
}

/** The shared hash of members: address → "pubKeyHex;lastAnsweredAtMs". */
export const SET_KEY = `v${FORMAT}:executors`;
const SET_TTL_MS = 24 * 3600 * 1000;

export class SharedExecutorSet implements ExecutorSetView {
  private memoVersion = -1;
  private memoId = "";
  private lastPull = 0;
  private publishedVersion = -1;
  private publishedAt = 0;
  private pulling?: Promise<void>;

  constructor(
    private readonly registry: ExecutorRegistry,
    private readonly store: CacheStore,
    private readonly syncMs: number,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    /** `executors.departAfterMs`: shared entries older than this are not read. */
    private readonly departAfterMs = 30_000,
    /** `executors.forgetAfterMs`: shared entries older than this are deleted. */
    private readonly forgetAfterMs = 600_000,
  ) {}

  /** Fields seen in the last pull that nobody refreshed within forgetAfterMs (deleted on the next publish). */
  private stale: string[] = [];

  setId(): string {
    if (this.memoVersion !== this.registry.version) {
      const lines = this.registry
        .members()
        .map((e) => `${e.address}=${e.pubKey ? e.pubKey.toString("hex") : ""}`)
        .sort();
      this.memoId = createHash("sha256").update(lines.join("\n")).digest("hex").slice(0, 24);
      this.memoVersion = this.registry.version;
    }
    return this.memoId;
  }

  askedAll(report: FanoutReport, clusterView: boolean): boolean {
    // Members must have answered; candidates and departed Executors need only have been
    // asked (their failure is not the answer's, but one never asked may hold tasks).
    const answered = new Set(report.answered);
    const asked = new Set(report.asked);
    return this.registry
      .list()
      .every(
        (e) =>
          (clusterView && e.pubKey === undefined) ||
          (e.membership === "member" ? answered.has(e.address) : asked.has(e.address)),
      );
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
    const t = this.now();
    const stale: string[] = [];
    for (const [address, value] of Object.entries(got.value)) {
      const [keyHex = "", at = "0"] = value.split(";");
      const age = t - Number(at);
      // Only Executors that answered some replica recently: the dead age out, and go.
      if (!(age < this.forgetAfterMs)) stale.push(address);
      if (!(age < this.departAfterMs)) continue;
      const key = KEY_HEX.test(keyHex) ? Buffer.from(keyHex, "hex") : undefined;
      if (this.registry.offer(address, key, "shared")) added++;
    }
    if (added > 0) this.log.info({ added, known: this.registry.size }, "learned Executors shared by other replicas");
    this.stale = stale;
  }

  async publish(): Promise<void> {
    if (!this.store.shared) return;
    // On a change, and while members keep answering (so their shared times stay fresh).
    const t = this.now();
    if (
      this.stale.length === 0 &&
      this.publishedVersion === this.registry.version &&
      t - this.publishedAt < this.departAfterMs / 3
    )
      return;
    const version = this.registry.version;
    const fields: Record<string, string> = {};
    for (const e of this.registry.members()) {
      if (e.lastAnsweredAt === undefined) continue;
      fields[e.address] = `${e.pubKey ? e.pubKey.toString("hex") : ""};${e.lastAnsweredAt}`;
    }
    const stale = this.stale;
    const done = await this.store.hashMerge(SET_KEY, fields, SET_TTL_MS, stale);
    if (done.ok) {
      if (this.stale === stale) this.stale = [];
      if (stale.length > 0)
        this.log.info({ removed: stale.length }, "removed Executors nobody heard from from the shared set");
      this.publishedVersion = version;
      this.publishedAt = t;
    }
  }
}
