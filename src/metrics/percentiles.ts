import type { PercentileStats } from "../dataset/types.ts";

/**
 * trtllm-bench's `PercentileStats.from_iterable`: sort, then `pXX = sorted[floor(n * XX/100)]` with no
 * interpolation, so p50 of [1, 2] is 2 and p99 of fewer than 100 values is the maximum.
 * The quantile factors are the same doubles Python multiplies by (`length * 0.99`), so indices match exactly.
 * An empty input yields all zeros (trtllm-bench raises IndexError) so reports of runs with no successful
 * request still render.
 */
export function percentileStats(values: ArrayLike<number>): PercentileStats {
  const n = values.length;
  if (n === 0) return { p50: 0, p90: 0, p95: 0, p99: 0, minimum: 0, maximum: 0, average: 0 };
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.floor(n * q)]!;
  return {
    p50: at(0.5),
    p90: at(0.9),
    p95: at(0.95),
    p99: at(0.99),
    minimum: sorted[0]!,
    maximum: sorted[n - 1]!,
    average: sum(values) / n,
  };
}

/**
 * Neumaier-compensated sum in input order. Python ≥ 3.12's `sum()` of floats compensates the same way, and for
 * integer-valued inputs below 2^53 (token counts, ns durations) every method gives the exact result.
 */
export function sum(values: ArrayLike<number>): number {
  let s = 0;
  let c = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const t = s + v;
    c += Math.abs(s) >= Math.abs(v) ? s - t + v : v - t + s;
    s = t;
  }
  return s + c;
}

/** The same statistics with every value multiplied by `factor` (ns → ms is 1e-6), as trtllm-bench converts. */
export function scaleStats(stats: PercentileStats, factor: number): PercentileStats {
  return {
    p50: stats.p50 * factor,
    p90: stats.p90 * factor,
    p95: stats.p95 * factor,
    p99: stats.p99 * factor,
    minimum: stats.minimum * factor,
    maximum: stats.maximum * factor,
    average: stats.average * factor,
  };
}
