import assert from "node:assert/strict";
import { test } from "node:test";
import { percentileStats, percentileStatsInPlace, scaleStats, sum } from "./percentiles.ts";

/** 10 values 1..10 shuffled: p50 = sorted[5] = 6, p90 = sorted[9] = 10 (numpy's linear rule would say 5.5, 9.1). */
const ONE_TO_TEN = { p50: 6, p90: 10, p95: 10, p99: 10, minimum: 1, maximum: 10, average: 5.5 };

test("floor-index percentiles without interpolation (trtllm-bench's rule)", () => {
  assert.deepEqual(percentileStats([7, 3, 10, 1, 5, 9, 2, 8, 6, 4]), ONE_TO_TEN);
  // Two values: p50 is the larger one.
  assert.equal(percentileStats([2, 1]).p50, 2);
  // 200 values 0..199: p50 = 100, p90 = 180, p95 = 190, p99 = 198.
  const v = Array.from({ length: 200 }, (_, i) => 199 - i);
  const s = percentileStats(v);
  assert.deepEqual([s.p50, s.p90, s.p95, s.p99], [100, 180, 190, 198]);
  // Sorting is numeric, not lexicographic.
  assert.equal(percentileStats([100, 9, 20]).minimum, 9);
});

test("the input is not reordered and typed arrays work", () => {
  const a = new Float64Array([3, 1, 2]);
  assert.equal(percentileStats(a).p50, 2);
  assert.deepEqual(Array.from(a), [3, 1, 2]);
});

test("empty input gives zeros", () => {
  assert.deepEqual(percentileStats([]), {
    p50: 0,
    p90: 0,
    p95: 0,
    p99: 0,
    minimum: 0,
    maximum: 0,
    average: 0,
  });
});

test("compensated sum", () => {
  assert.equal(sum([0.1, 0.2, 0.3]), 0.6); // naive left-to-right gives 0.6000000000000001
  assert.equal(sum([1e16, 1, -1e16]), 1); // naive gives 0
});

test("scaleStats converts units", () => {
  const s = scaleStats(percentileStats([1e6, 3e6]), 1e-6);
  assert.deepEqual(s, { p50: 3, p90: 3, p95: 3, p99: 3, minimum: 1, maximum: 3, average: 2 });
});

test("selection gives the sorted array's values at every quantile, whatever the order and duplicates", () => {
  let seed = 12345;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const reference = (v: number[]) => {
    const s = Float64Array.from(v).sort();
    const at = (q: number) => s[Math.floor(s.length * q)]!;
    return [at(0.5), at(0.9), at(0.95), at(0.99), s[0]!, s[s.length - 1]!];
  };
  const shapes: Array<(n: number) => number[]> = [
    (n) => Array.from({ length: n }, () => rand() * 1e9),
    (n) => Array.from({ length: n }, () => Math.floor(rand() * 3)), // runs of equal values
    (n) => Array.from({ length: n }, () => 4), // all equal (token counts)
    (n) => Array.from({ length: n }, (_, i) => i), // sorted
    (n) => Array.from({ length: n }, (_, i) => n - i), // reversed
    (n) => Array.from({ length: n }, (_, i) => (i % 2 === 0 ? i : n - i)), // organ pipe
    (n) => Array.from({ length: n }, () => (rand() < 0.5 ? -rand() : rand() * 1e-300)),
  ];
  for (const n of [1, 2, 3, 7, 100, 1001, 20_000]) {
    for (const shape of shapes) {
      const v = shape(n);
      const s = percentileStats(v);
      assert.deepEqual([s.p50, s.p90, s.p95, s.p99, s.minimum, s.maximum], reference(v), `n=${n}`);
    }
  }
  // NaN sorts last, as a typed array's sort puts it.
  const withNaN = [3, Number.NaN, 1, 2];
  const s = percentileStats(withNaN);
  assert.deepEqual(
    [s.p50, s.minimum, s.maximum],
    reference(withNaN).filter((_, i) => i === 0 || i >= 4),
  );
});

test("in place: the same figures without a copy, only the given array reordered", { timeout: 10_000 }, () => {
  const backing = new Float64Array([99, 7, 3, 10, 1, 5, 9, 2, 8, 6, 4, 99]);
  const view = backing.subarray(1, 11);
  assert.deepEqual(percentileStatsInPlace(view), ONE_TO_TEN);
  // The slots around the view are untouched; the view holds the same values, some moved.
  assert.equal(backing[0], 99);
  assert.equal(backing[11], 99);
  assert.deepEqual(
    Array.from(view).sort((a, b) => a - b),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
  // Summed in input order before the selection moves anything: 0.1 + 0.2 + 0.3 compensated is 0.6.
  assert.equal(percentileStatsInPlace(new Float64Array([0.3, 0.1, 0.2])).average, 0.6 / 3);
  assert.deepEqual(percentileStatsInPlace(new Float64Array(0)), percentileStats([]));
});
