import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { coverage, energyAt, energyFigures, type PowerSeries, windowEnergy } from "./energy.ts";

const S = 1e9;

/** Samples at t (s) with power p (W) and the running trapezoid total, as the sampler keeps them. */
function series(t: number[], p: Array<number | null>): PowerSeries {
  const energy: number[] = [0];
  for (let i = 1; i < t.length; i++) {
    const a = p[i - 1] ?? p[i]!;
    const b = p[i] ?? p[i - 1]!;
    energy.push(energy[i - 1]! + ((a + b) / 2) * (t[i]! - t[i - 1]!));
  }
  return { t: t.map((x) => x * S), power: p, energy };
}

describe("windowEnergy (trapezoid rule)", { timeout: 10_000 }, () => {
  test("constant power: energy = power × window, wherever the window falls", () => {
    const s = series([0, 0.25, 0.5, 0.75, 1], [300, 300, 300, 300, 300]);
    assert.equal(windowEnergy(s, 0, 1 * S), 300);
    assert.ok(Math.abs(windowEnergy(s, 0.1 * S, 0.6 * S) - 150) < 1e-9);
  });

  test("a ramp is integrated exactly, inside a segment too", () => {
    // p(t) = 100 + 100 t on [0, 2]: ∫ = 100 t + 50 t².
    const s = series([0, 1, 2], [100, 200, 300]);
    const exact = (a: number, b: number) => 100 * (b - a) + 50 * (b * b - a * a);
    for (const [a, b] of [
      [0, 2],
      [0.5, 1.5],
      [0.2, 0.7],
      [1.25, 1.75],
    ] as const) {
      assert.ok(Math.abs(windowEnergy(s, a * S, b * S) - exact(a, b)) < 1e-9, `${a}..${b}`);
    }
  });

  test("outside the sampled span the end samples' power is held; coverage says how much was sampled", () => {
    const s = series([1, 2], [100, 200]);
    // [0, 1]: 100 W held; [1, 2]: 150 J; [2, 3]: 200 W held.
    assert.ok(Math.abs(windowEnergy(s, 0, 3 * S) - 450) < 1e-9);
    assert.ok(Math.abs(coverage(s.t, 0, 3 * S) - 1 / 3) < 1e-12);
    assert.equal(coverage(s.t, 1 * S, 2 * S), 1);
    assert.equal(coverage([], 0, 1), 0);
  });

  test("a sample without power holds its neighbour's", () => {
    const s = series([0, 1, 2], [100, null, 100]);
    assert.equal(windowEnergy(s, 0, 2 * S), 200);
    assert.equal(energyAt({ t: [], power: [], energy: [] }, 5), 0);
  });

  test("per-token figures", () => {
    assert.deepEqual(energyFigures(600, 2 * S, 300), {
      energyJ: 600,
      avgPowerW: 300,
      energyPerOutputTokenJ: 2,
      outputTokensPerJ: 0.5,
    });
    assert.deepEqual(energyFigures(0, 0, 0), {
      energyJ: 0,
      avgPowerW: 0,
      energyPerOutputTokenJ: null,
      outputTokensPerJ: null,
    });
  });
});
