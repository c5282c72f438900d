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
 * Where an Executor stands in the set. Today every entry is a `member` from the moment
 * it is admitted; the lifecycle (candidates until they answer once, departure after
 * failing for a configured time, comeback through discovery) adds states here.
 */
export type Membership = "member";

export interface ExecutorEntry {
  address: string;
  /** The Executor's public key, once known (from config or from a data set naming this address). */
  pubKey?: Buffer;
  source: ExecutorSource;
  /** How a discovered entry came in (seeds: undefined). */
  via?: OfferVia;
  membership: Membership;
  addedAt: number;
}

/** One change of the set: an Executor joined, or a known one's key became known. */
export type ExecutorSetChange =
  | { kind: "added"; entry: Readonly<ExecutorEntry>; version: number }
  | { kind: "key-learned"; entry: Readonly<ExecutorEntry>; version: number };

export interface DiscoveryOutcome {
  added: string[];
  /** Addresses seen but refused, by reason (counts only; the set stays bounded). */
  refused: { notAllowed: number; malformed: number; full: number };
}

export class ExecutorRegistry {
  private readonly entries = new Map<string, ExecutorEntry>();
  private versionCounter = 0;
  /** Every change of the set (logs, readiness, the DNS pre-check, caches). */
  readonly changes = new Topic<ExecutorSetChange>();

  constructor(
    private readonly allow: AllowList,
    private readonly maxExecutors: number,
  ) {}

  /** Changes whenever the set or a key changes; caches key their entries by it. */
  get version(): number {
    return this.versionCounter;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Adds a configured seed; seeds bypass the allow-list (the operator named them). */
  addSeed(address: string, pubKey?: Buffer): void {
    const parsed = parseAddress(address);
    if (parsed === null) throw new Error(`bad seed address "${address}"`);
    const existing = this.entries.get(parsed.canonical);
    if (existing) {
      this.learnKey(existing, pubKey);
      return;
    }
    const key = pubKey && pubKey.length === KEY_BYTES ? Buffer.from(pubKey) : undefined;
    this.insert({ address: parsed.canonical, pubKey: key, source: "seed", membership: "member", addedAt: Date.now() });
  }

  get(address: string): ExecutorEntry | undefined {
    return this.entries.get(address);
  }

  list(): ExecutorEntry[] {
    return [...this.entries.values()];
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
    this.versionCounter++;
    this.changes.publish({ kind: "added", entry, version: this.versionCounter });
  }

  /**
   * Offers one (address, key) pair seen in a task. Returns true when it joined the set.
   * A known address without a key learns it; an address never changes key once known.
   */
  offer(address: string, pubKey: Buffer | undefined, via: OfferVia = "discovery", outcome?: DiscoveryOutcome): boolean {
    // Fast path: almost every address read from a task is already a member, spelled
    // canonically; parsing it (ipaddr.js) dominated discovery's cost per fan-out.
    const member = this.entries.get(address);
    if (member) {
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
    this.insert({
      address: parsed.canonical,
      pubKey: key,
      source: "discovered",
      via,
      membership: "member",
      addedAt: Date.now(),
    });
    outcome?.added.push(parsed.canonical);
    return true;
  }

  /** A known address without a key learns it; an address never changes key once known. */
  private learnKey(entry: ExecutorEntry, pubKey: Buffer | undefined): void {
    if (!entry.pubKey && pubKey && pubKey.length === KEY_BYTES) {
      // Copy: the task's bytes must not be pinned by the registry.
      entry.pubKey = Buffer.from(pubKey);
      this.versionCounter++;
      this.changes.publish({ kind: "key-learned", entry, version: this.versionCounter });
    }
  }

  /** Offers every data-set address of the given tasks. */
  discoverFrom(tasks: Iterable<TaskView>): DiscoveryOutcome {
    const outcome: DiscoveryOutcome = { added: [], refused: { notAllowed: 0, malformed: 0, full: 0 } };
    for (const t of tasks) {
      for (const ds of t.dataSets) {
        if (ds.address !== "") this.offer(ds.address, ds.executor, "discovery", outcome);
      }
    }
    return outcome;
  }
}
