/**
 * The Executor set and its one owner: seeds from config plus addresses offered by
 * discovery (`dataSets[].address` of the tasks the gateway reads), by other replicas
 * (the shared set in Redis) and by prediction routing — all through `offer`, so the
 * allow-list, the cap and the key rules apply the same to each. Addresses from client
 * requests never enter it. Every change is one typed event on `changes`; `version`
 * (part of every cache key) changes with it, here and nowhere else.
 */
import { parseAddress } from "./address";
import type { AllowList } from "./allowlist";
import { Topic } from "../core/topic";
import { KEY_BYTES } from "../wire/facts";
import type { TaskView } from "../wire/task-view";

export type ExecutorSource = "seed" | "discovered";

/** Who offered an address: the fan-out's discovery, another replica, or prediction routing. */
export type OfferVia = "discovery" | "shared" | "prediction";

/**
 * Where an Executor stands in the set (README "Executor set lifecycle"):
 *
 * - `candidate`: offered by discovery or prediction routing, never answered this
 *   gateway (an address another replica shares answered it recently: it joins as a member). Asked, but never waited for past `candidateWaitMs` and never
 *   counted: its failure does not make an answer partial or uncached. A candidate that
 *   fails without a break for `departAfterMs` is forgotten (it frees its place).
 * - `member`: a seed, or a candidate that answered once. The live set: answers are
 *   complete when every member answered, and the cache key is the members' content.
 * - `departed`: a member that failed without a break for `departAfterMs`. Still asked
 *   like a candidate (its circuit's back-off is the slow cadence), back to `member` on
 *   its first answer. A departed seed stays (marked down); a departed discovered entry
 *   is forgotten after `forgetAfterMs` unless discovery keeps naming it.
 */
export type Membership = "candidate" | "member" | "departed";

export interface LifecycleOptions {
  /** Failing without a break this long: a member departs, a candidate is forgotten. */
  departAfterMs: number;
  /** A departed discovered Executor nobody named for this long is forgotten. */
  forgetAfterMs: number;
  /** One Executor's replies add at most this many candidates per `discoveryBudgetIntervalMs`. */
  discoveryBudget: number;
  discoveryBudgetIntervalMs: number;
}

export const DEFAULT_LIFECYCLE: LifecycleOptions = {
  departAfterMs: 30_000,
  forgetAfterMs: 600_000,
  discoveryBudget: 16,
  discoveryBudgetIntervalMs: 60_000,
};

/**
 * What an Executor's call told the set: it answered, it failed, or nothing about it;
 * `refused`: the address may not be connected to (the DNS check refused it) — nothing
 * about a member, but a candidate refused without a break can never answer, so it goes
 * as a failing one does (or refused names would hold places of the set for good).
 */
export type Liveness = "answered" | "failed" | "neutral" | "refused";

export interface ExecutorEntry {
  address: string;
  /** The Executor's public key, once known (from config or from a data set naming this address). */
  pubKey?: Buffer;
  source: ExecutorSource;
  /** How a discovered entry came in (seeds: undefined). */
  via?: OfferVia;
  membership: Membership;
  addedAt: number;
  /** The seed's configured name, for people; discovered Executors have none. */
  name?: string;
  /** First failure of the current run of failures (undefined after an answer). */
  failingSince?: number;
  lastAnsweredAt?: number;
  departedAt?: number;
  /** Last time discovery (or another source) named this address. */
  lastOfferedAt: number;
}

/** One change of the set: an Executor joined, or a known one's key became known. */
export type ExecutorSetChange =
  | { kind: "added"; entry: Readonly<ExecutorEntry>; version: number }
  | { kind: "key-learned"; entry: Readonly<ExecutorEntry>; version: number }
  /** A candidate answered once (joined the live set), or a departed one came back. */
  | { kind: "joined"; entry: Readonly<ExecutorEntry>; version: number; returned: boolean }
  /** A member failed without a break for `departAfterMs`. */
  | { kind: "departed"; entry: Readonly<ExecutorEntry>; version: number }
  /** A candidate that never answered, or a departed discovered entry nobody names, left the set. */
  | { kind: "removed"; entry: Readonly<ExecutorEntry>; version: number };

export interface DiscoveryOutcome {
  added: string[];
  /** Addresses seen but refused, by reason (counts only; the set stays bounded). */
  refused: { notAllowed: number; malformed: number; full: number; budget: number };
}

/** Counts of the set by membership (trailers, JSON, metrics). */
export interface MembershipCounts {
  members: number;
  candidates: number;
  departed: number;
}

export class ExecutorRegistry {
  private readonly entries = new Map<string, ExecutorEntry>();
  private versionCounter = 0;
  /** Every change of the set (logs, readiness, the DNS pre-check, caches). */
  readonly changes = new Topic<ExecutorSetChange>();

  /** Candidates added per source address in the current budget interval. */
  private budgets = new Map<string, number>();
  private budgetWindowStart = 0;
  private readonly life: LifecycleOptions;

  constructor(
    private readonly allow: AllowList,
    private readonly maxExecutors: number,
    life: Partial<LifecycleOptions> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.life = { ...DEFAULT_LIFECYCLE, ...life };
  }

  /** Changes whenever the set or a key changes; caches key their entries by it. */
  get version(): number {
    return this.versionCounter;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Adds a configured seed; seeds bypass the allow-list (the operator named them). */
  addSeed(address: string, pubKey?: Buffer, name?: string): void {
    const parsed = parseAddress(address);
    if (parsed === null) throw new Error(`bad seed address "${address}"`);
    const existing = this.entries.get(parsed.canonical);
    if (existing) {
      this.learnKey(existing, pubKey);
      existing.name ??= name;
      return;
    }
    const key = pubKey && pubKey.length === KEY_BYTES ? Buffer.from(pubKey) : undefined;
    const t = this.now();
    this.insert({
      address: parsed.canonical,
      pubKey: key,
      source: "seed",
      membership: "member",
      addedAt: t,
      lastOfferedAt: t,
      name,
    });
  }

  get(address: string): ExecutorEntry | undefined {
    return this.entries.get(address);
  }

  /** Every entry: members, candidates and departed. */
  list(): ExecutorEntry[] {
    return [...this.entries.values()];
  }

  /** The live set: members only (what completeness and the cache key are judged against). */
  members(): ExecutorEntry[] {
    const out: ExecutorEntry[] = [];
    for (const e of this.entries.values()) if (e.membership === "member") out.push(e);
    return out;
  }

  counts(): MembershipCounts {
    const c: MembershipCounts = { members: 0, candidates: 0, departed: 0 };
    for (const e of this.entries.values()) {
      if (e.membership === "member") c.members++;
      else if (e.membership === "candidate") c.candidates++;
      else c.departed++;
    }
    return c;
  }

  /**
   * What one call to `address` says about it (from its ExecutorClient's classified
   * outcome): an answer makes a candidate or departed entry a member; failing without a
   * break for `departAfterMs` makes a member depart and a candidate go. Neutral outcomes
   * (the gateway's own shortfall) change nothing; a refused address counts as failing for a
   * candidate only.
   */
  observe(address: string, liveness: Liveness): void {
    if (liveness === "neutral") return;
    const e = this.entries.get(address);
    if (e === undefined) return;
    if (liveness === "refused" && e.membership !== "candidate") return;
    const t = this.now();
    if (liveness === "answered") {
      e.failingSince = undefined;
      e.lastAnsweredAt = t;
      if (e.membership !== "member") {
        const returned = e.membership === "departed";
        e.membership = "member";
        e.departedAt = undefined;
        this.bump({ kind: "joined", entry: e, version: 0, returned });
      }
      return;
    }
    e.failingSince ??= t;
    if (t - e.failingSince < this.life.departAfterMs) return;
    if (e.membership === "member") {
      e.membership = "departed";
      e.departedAt = t;
      this.bump({ kind: "departed", entry: e, version: 0 });
    } else if (e.membership === "candidate") {
      this.remove(e);
    }
  }

  /** Forgets departed discovered entries nobody named for `forgetAfterMs` (called by the fan-out). */
  sweep(): void {
    const t = this.now();
    for (const e of this.entries.values()) {
      if (
        e.membership === "departed" &&
        e.source === "discovered" &&
        t - Math.max(e.lastOfferedAt, e.departedAt ?? 0) >= this.life.forgetAfterMs
      ) {
        this.remove(e);
      }
    }
  }

  private remove(e: ExecutorEntry): void {
    this.entries.delete(e.address);
    this.bump({ kind: "removed", entry: e, version: 0 });
  }

  private bump(change: ExecutorSetChange): void {
    this.versionCounter++;
    this.changes.publish({ ...change, version: this.versionCounter });
  }

  /** Takes one unit of `source`'s discovery budget; false when spent for this interval. */
  private takeBudget(source: string): boolean {
    const t = this.now();
    if (t - this.budgetWindowStart >= this.life.discoveryBudgetIntervalMs) {
      this.budgets = new Map();
      this.budgetWindowStart = t;
    }
    const used = this.budgets.get(source) ?? 0;
    if (used >= this.life.discoveryBudget) return false;
    this.budgets.set(source, used + 1);
    return true;
  }

  addresses(): string[] {
    return [...this.entries.keys()];
  }

  /** The canonical address if the set holds it (or would after canonicalisation). */
  resolve(address: string): string | undefined {
    const parsed = parseAddress(address);
    return parsed && this.entries.has(parsed.canonical) ? parsed.canonical : undefined;
  }

  private insert(entry: ExecutorEntry): void {
    this.entries.set(entry.address, entry);
    this.bump({ kind: "added", entry, version: 0 });
  }

  /**
   * Offers one (address, key) pair seen in a task. Returns true when it joined the set.
   * A known address without a key learns it; an address never changes key once known.
   */
  offer(
    address: string,
    pubKey: Buffer | undefined,
    via: OfferVia = "discovery",
    outcome?: DiscoveryOutcome,
    /** The Executor whose reply named the address (its discovery budget is charged). */
    source?: string,
  ): boolean {
    // Fast path: almost every address read from a task is already a member, spelled
    // canonically; parsing it (ipaddr.js) dominated discovery's cost per fan-out.
    const member = this.entries.get(address);
    if (member) {
      if (member.membership === "departed") member.lastOfferedAt = this.now();
      this.learnKey(member, pubKey);
      return false;
    }
    const parsed = parseAddress(address);
    if (parsed === null) {
      if (outcome && address !== "") outcome.refused.malformed++;
      return false;
    }
    const existing = this.entries.get(parsed.canonical);
    if (existing) {
      if (existing.membership === "departed") existing.lastOfferedAt = this.now();
      this.learnKey(existing, pubKey);
      return false;
    }
    const key = pubKey && pubKey.length === KEY_BYTES ? Buffer.from(pubKey) : undefined;
    if (!this.allow.allows(parsed)) {
      if (outcome) outcome.refused.notAllowed++;
      return false;
    }
    if (this.entries.size >= this.maxExecutors) {
      if (outcome) outcome.refused.full++;
      return false;
    }
    if (source !== undefined && !this.takeBudget(source)) {
      if (outcome) outcome.refused.budget++;
      return false;
    }
    const t = this.now();
    this.insert({
      address: parsed.canonical,
      pubKey: key,
      source: "discovered",
      via,
      // Another replica shares only Executors that answered it recently: it vouches for them.
      membership: via === "shared" ? "member" : "candidate",
      addedAt: t,
      lastOfferedAt: t,
    });
    outcome?.added.push(parsed.canonical);
    return true;
  }

  /** A known address without a key learns it; an address never changes key once known. */
  private learnKey(entry: ExecutorEntry, pubKey: Buffer | undefined): void {
    if (!entry.pubKey && pubKey && pubKey.length === KEY_BYTES) {
      // Copy: the task's bytes must not be pinned by the registry.
      entry.pubKey = Buffer.from(pubKey);
      this.bump({ kind: "key-learned", entry, version: 0 });
    }
  }

  /** Offers every data-set address of the given tasks, charged to `source`'s budget when given. */
  discoverFrom(tasks: Iterable<TaskView>, source?: string): DiscoveryOutcome {
    const outcome: DiscoveryOutcome = { added: [], refused: { notAllowed: 0, malformed: 0, full: 0, budget: 0 } };
    for (const t of tasks) {
      for (const ds of t.dataSets) {
        if (ds.address !== "") this.offer(ds.address, ds.executor, "discovery", outcome, source);
      }
    }
    return outcome;
  }
}
