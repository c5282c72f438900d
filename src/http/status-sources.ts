/** The cache's hit ratio as GET /v1/executors and the dashboard show it. */

export interface CacheCounts {
  hits: number;
  misses: number;
  /** Answers served stale (counted as hits in the ratio). */
  stale?: number;
}

export function hitRatio(c: CacheCounts | undefined): number | null {
  if (!c) return null;
  const hits = c.hits + (c.stale ?? 0);
  const total = hits + c.misses;
  return total === 0 ? null : hits / total;
}
