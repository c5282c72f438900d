/**
 * What GET /v1/executors and the dashboard show beyond the Executor set itself, as
 * small providers: each subsystem (resilience: circuit state; cache: hit counts)
 * plugs one in when it exists, and the status shows "n/a" (null) until then.
 */

export type CircuitState = "closed" | "open" | "half-open" | (string & {});

/** The circuit breaker's state for an Executor, or undefined when it has none. */
export type CircuitStateSource = (address: string) => CircuitState | undefined;

export interface CacheCounts {
  hits: number;
  misses: number;
  /** Answers served stale (counted as hits in the ratio). */
  stale?: number;
}

/** Cumulative cache counts of merged answers, or undefined when no cache runs. */
export type CacheStatsSource = () => CacheCounts | undefined;

export interface StatusSources {
  circuit?: CircuitStateSource;
  cache?: CacheStatsSource;
}

export function hitRatio(c: CacheCounts | undefined): number | null {
  if (!c) return null;
  const hits = c.hits + (c.stale ?? 0);
  const total = hits + c.misses;
  return total === 0 ? null : hits / total;
}
