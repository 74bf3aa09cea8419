import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { arrivalOffsetsNs } from "./arrivals.ts";

function gaps(offsets: Float64Array): number[] {
  const out: number[] = [];
  let prev = 0;
  for (const t of offsets) {
    out.push((t - prev) / 1e9);
    prev = t;
  }
  return out;
}

function meanVar(xs: number[]): { mean: number; variance: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
  return { mean, variance };
}

describe("arrival schedules", () => {
  it("Poisson: 10k gaps have mean 1/rate and variance 1/rate² (exponential)", () => {
    const { mean, variance } = meanVar(gaps(arrivalOffsetsNs(10_000, { rate: 10, burstiness: 1, seed: 7 })));
    // Standard error of the mean is 1% here; 4% is four of them.
    assert.ok(Math.abs(mean - 0.1) / 0.1 < 0.04, `mean gap ${mean}`);
    assert.ok(Math.abs(variance - 0.01) / 0.01 < 0.1, `variance ${variance}`);
  });

  for (const k of [0.25, 0.5, 2, 4]) {
    it(`gamma burstiness ${k}: mean 1/rate, squared coefficient of variation 1/k`, () => {
      const { mean, variance } = meanVar(
        gaps(arrivalOffsetsNs(20_000, { rate: 50, burstiness: k, seed: 3 })),
      );
      assert.ok(Math.abs(mean - 0.02) / 0.02 < 0.05, `mean gap ${mean}`);
      const cv2 = variance / (mean * mean);
      assert.ok(Math.abs(cv2 - 1 / k) / (1 / k) < 0.15, `CV² ${cv2}, expected ${1 / k}`);
    });
  }

  it("is a pure function of its seed", () => {
    const a = arrivalOffsetsNs(100, { rate: 5, burstiness: 0.7, seed: 42 });
    const b = arrivalOffsetsNs(100, { rate: 5, burstiness: 0.7, seed: 42 });
    const c = arrivalOffsetsNs(100, { rate: 5, burstiness: 0.7, seed: 43 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  it("offsets are non-decreasing and start after one gap", () => {
    const a = arrivalOffsetsNs(1000, { rate: 100, burstiness: 0.3, seed: 1 });
    assert.ok(a[0]! > 0);
    for (let i = 1; i < a.length; i++) assert.ok(a[i]! >= a[i - 1]!);
  });

  it("an infinite rate puts everything at t0; bad parameters are refused", () => {
    assert.deepEqual([...arrivalOffsetsNs(3, { rate: Infinity, burstiness: 1, seed: 0 })], [0, 0, 0]);
    assert.throws(() => arrivalOffsetsNs(3, { rate: 0, burstiness: 1, seed: 0 }), RangeError);
    assert.throws(() => arrivalOffsetsNs(3, { rate: 1, burstiness: 0, seed: 0 }), RangeError);
  });
});
