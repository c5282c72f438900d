/** Small statistics helpers: percentiles over latency samples. */

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Percentiles of samples in milliseconds. */
export function summarize(samplesMs: readonly number[]): LatencySummary {
  const s = [...samplesMs].sort((a, b) => a - b);
  return {
    count: s.length,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: s.length ? s[s.length - 1]! : NaN,
  };
}

export function round(n: number, digits = 2): number {
  if (!Number.isFinite(n)) return n;
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** "<= 1.5" / ">= 0.8" against a figure; a missing figure never meets a target. */
export function checkTarget(ratio: number, target: string): boolean {
  const m = /^(<=|>=)\s*([\d.]+)$/.exec(target.trim());
  if (!m || !Number.isFinite(ratio)) return false;
  const v = Number(m[2]);
  return m[1] === "<=" ? ratio <= v : ratio >= v;
}
