/**
 * The Executor set: seeds from config plus addresses discovered in the tasks the
 * gateway reads (`dataSets[].address`), admitted only through the allow-list and
 * below the cap. Addresses from client requests never enter it.
 */
import { parseAddress } from "./address";
import type { AllowList } from "./allowlist";
import type { TaskView } from "../wire/task-view";

export type ExecutorSource = "seed" | "discovered";

export interface ExecutorEntry {
  address: string;
  /** The Executor's public key, once known (from config or from a data set naming this address). */
  pubKey?: Buffer;
  source: ExecutorSource;
  addedAt: number;
  /** The seed's configured name, for people; discovered Executors have none. */
  name?: string;
}

export interface DiscoveryOutcome {
  added: string[];
  /** Addresses seen but refused, by reason (counts only; the set stays bounded). */
  refused: { notAllowed: number; malformed: number; full: number };
}

const KEY_BYTES = 64;

export class ExecutorRegistry {
  private readonly entries = new Map<string, ExecutorEntry>();
  private versionCounter = 0;
  private readonly listeners: ((added: ExecutorEntry) => void)[] = [];

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

  onAdded(fn: (added: ExecutorEntry) => void): void {
    this.listeners.push(fn);
  }

  /** Adds a configured seed; seeds bypass the allow-list (the operator named them). */
  addSeed(address: string, pubKey?: Buffer, name?: string): void {
    const parsed = parseAddress(address);
    if (parsed === null) throw new Error(`bad seed address "${address}"`);
    const existing = this.entries.get(parsed.canonical);
    if (existing) {
      if (pubKey && !existing.pubKey) existing.pubKey = pubKey;
      existing.name ??= name;
      return;
    }
    this.insert({ address: parsed.canonical, pubKey, source: "seed", addedAt: Date.now(), name });
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
    for (const fn of this.listeners) fn(entry);
  }

  /**
   * Offers one (address, key) pair seen in a task. Returns true when it joined the set.
   * A known address without a key learns it; an address never changes key once known.
   */
  offer(address: string, pubKey: Buffer | undefined, outcome?: DiscoveryOutcome): boolean {
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
    this.insert({ address: parsed.canonical, pubKey: key, source: "discovered", addedAt: Date.now() });
    outcome?.added.push(parsed.canonical);
    return true;
  }

  /** A known address without a key learns it; an address never changes key once known. */
  private learnKey(entry: ExecutorEntry, pubKey: Buffer | undefined): void {
    if (!entry.pubKey && pubKey && pubKey.length === KEY_BYTES) {
      // Copy: the task's bytes must not be pinned by the registry.
      entry.pubKey = Buffer.from(pubKey);
      this.versionCounter++;
    }
  }

  /** Offers every data-set address of the given tasks. */
  discoverFrom(tasks: Iterable<TaskView>): DiscoveryOutcome {
    const outcome: DiscoveryOutcome = { added: [], refused: { notAllowed: 0, malformed: 0, full: 0 } };
    for (const t of tasks) {
      for (const ds of t.dataSets) {
        if (ds.address !== "") this.offer(ds.address, ds.executor, outcome);
      }
    }
    return outcome;
  }
}
