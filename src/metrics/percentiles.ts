import type { PercentileStats } from "../dataset/types.ts";

/**
 * trtllm-bench's `PercentileStats.from_iterable`: sort, then `pXX = sorted[floor(n * XX/100)]` with no
 * interpolation, so p50 of [1, 2] is 2 and p99 of fewer than 100 values is the maximum (the same order
 * statistics are found here by selection, without a sort).
 * The quantile factors are the same doubles Python multiplies by (`length * 0.99`), so indices match exactly.
 * An empty input yields all zeros (trtllm-bench raises IndexError) so reports of runs with no successful
 * request still render.
 */
export function percentileStats(values: ArrayLike<number>): PercentileStats {
  if (values.length === 0) return empty();
  // A copy (the input is not reordered); from() would walk a typed array through its iterator.
  const a = values instanceof Float64Array ? values.slice() : Float64Array.from(values);
  return percentileStatsInPlace(a);
}

/**
 * percentileStats of an array the caller gives up: the same figures without the copy, `a` left reordered. The
 * statistics of a million-request run fill one scratch array per metric in turn (src/metrics/statistics.ts):
 * a copy of each was another 8 MB to 32 MB of the report's peak memory.
 */
export function percentileStatsInPlace(a: Float64Array): PercentileStats {
  const n = a.length;
  if (n === 0) return empty();
  // Summed before the selection reorders it: input order, as percentileStats always summed.
  const average = sum(a) / n;
  let min = a[0]!;
  let max = a[0]!;
  let nan = false;
  for (let i = 0; i < n; i++) {
    const v = a[i]!;
    if (v < min) min = v;
    else if (v > max) max = v;
    else if (Number.isNaN(v)) nan = true;
  }
  const ks = QUANTILES.map((q) => Math.floor(n * q));
  const [p50, p90, p95, p99] = nan ? bySort(a, ks) : bySelection(a, ks);
  return {
    p50: p50!,
    p90: p90!,
    p95: p95!,
    p99: p99!,
    minimum: nan ? a[0]! : min,
    maximum: nan ? a[n - 1]! : max,
    average,
  };
}

function empty(): PercentileStats {
  return { p50: 0, p90: 0, p95: 0, p99: 0, minimum: 0, maximum: 0, average: 0 };
}

const QUANTILES = [0.5, 0.9, 0.95, 0.99];

/** The sorted array's values at `ks` (NaN sorts last, as a typed array's sort puts it). */
function bySort(a: Float64Array, ks: readonly number[]): number[] {
  a.sort();
  return ks.map((k) => a[k]!);
}

/**
 * The same values as sorting and indexing, in O(n): a quickselect per quantile, each over the part the previous
 * one left at or above it (`ks` ascend). A full sort of a million values took ~230 ms on the 2-core VM, thirteen
 * times per report; selection is what keeps the statistics after a million-request run, or a SIGINT, short.
 */
function bySelection(a: Float64Array, ks: readonly number[]): number[] {
  let lo = 0;
  return ks.map((k) => {
    select(a, lo, a.length - 1, k);
    lo = k;
    return a[k]!;
  });
}

/**
 * Moves the k-th smallest of a[lo..hi] to a[k], smaller ones before it and larger ones after. Three-way
 * partitions (runs of equal values, common in token counts, cost one pass); past 2·log2(n) + 8 rounds the
 * remaining range is sorted instead, so adversarial orders stay O(n log n).
 */
function select(a: Float64Array, lo: number, hi: number, k: number): void {
  let budget = 2 * Math.ceil(Math.log2(hi - lo + 2)) + 8;
  while (hi > lo) {
    if (--budget < 0) {
      a.subarray(lo, hi + 1).sort();
      return;
    }
    const mid = lo + ((hi - lo) >> 1);
    const pivot = median3(a[lo]!, a[mid]!, a[hi]!);
    // a[lo..lt-1] < pivot, a[lt..i-1] == pivot, a[gt+1..hi] > pivot.
    let lt = lo;
    let gt = hi;
    let i = lo;
    while (i <= gt) {
      const v = a[i]!;
      if (v < pivot) {
        a[i] = a[lt]!;
        a[lt] = v;
        lt++;
        i++;
      } else if (v > pivot) {
        a[i] = a[gt]!;
        a[gt] = v;
        gt--;
      } else i++;
    }
    if (k < lt) hi = lt - 1;
    else if (k > gt) lo = gt + 1;
    else return;
  }
}

function median3(x: number, y: number, z: number): number {
  if (x < y) return y < z ? y : Math.max(x, z);
  return x < z ? x : Math.max(y, z);
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
