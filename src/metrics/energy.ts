/**
 * Energy over the measured window from sampled power (docs/metrics.md, "GPU telemetry and energy"). The sampler
 * keeps a running energy total per sample (trapezoids between consecutive samples at the full rate); the energy of
 * a window [a, b] is that total at b minus the total at a, where inside a segment between two samples the power
 * is taken as linear (the trapezoid rule again) and outside the sampled span it is held at the nearest sample.
 */

export interface PowerSeries {
  /** Sample times (ns), increasing. */
  t: readonly number[];
  /** Power at each sample (W); null when the GPU did not report it. */
  power: readonly (number | null)[];
  /** Energy since the first sample at each sample (J). */
  energy: readonly (number | null)[];
}

/** Power at t by linear interpolation between samples i and i+1 (a missing end holds the other). */
function powerBetween(s: PowerSeries, i: number, t: number): number {
  const p0 = s.power[i] ?? s.power[i + 1] ?? 0;
  const p1 = s.power[i + 1] ?? p0;
  const span = s.t[i + 1]! - s.t[i]!;
  return span > 0 ? p0 + ((p1 - p0) * (t - s.t[i]!)) / span : p0;
}

/** The running energy total at time t (J), extended past both ends by holding the end samples' power. */
export function energyAt(s: PowerSeries, t: number): number {
  const n = s.t.length;
  if (n === 0) return 0;
  const first = s.power.find((p) => p !== null) ?? 0;
  if (t <= s.t[0]!) return -first * ((s.t[0]! - t) / 1e9);
  const last = n - 1;
  if (t >= s.t[last]!) {
    const p = [...s.power].reverse().find((v) => v !== null) ?? 0;
    return (s.energy[last] ?? 0) + p * ((t - s.t[last]!) / 1e9);
  }
  // The last sample at or before t.
  let lo = 0;
  let hi = last;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (s.t[mid]! <= t) lo = mid;
    else hi = mid;
  }
  const p0 = s.power[lo] ?? s.power[lo + 1] ?? 0;
  const pt = powerBetween(s, lo, t);
  return (s.energy[lo] ?? 0) + ((p0 + pt) / 2) * ((t - s.t[lo]!) / 1e9);
}

/** Energy (J) between a and b (ns). */
export function windowEnergy(s: PowerSeries, a: number, b: number): number {
  return b > a ? energyAt(s, b) - energyAt(s, a) : 0;
}

/** Share of [a, b] that lies between the first and the last sample (1 when sampled throughout). */
export function coverage(t: readonly number[], a: number, b: number): number {
  if (t.length === 0 || b <= a) return 0;
  const lo = Math.max(a, t[0]!);
  const hi = Math.min(b, t[t.length - 1]!);
  return hi > lo ? (hi - lo) / (b - a) : 0;
}

export interface EnergyFigures {
  energyJ: number;
  /** energy / window (W). */
  avgPowerW: number;
  /** energy / output tokens (J/token); null without output tokens. */
  energyPerOutputTokenJ: number | null;
  /** output tokens / energy (tokens/J); null without energy. */
  outputTokensPerJ: number | null;
}

export function energyFigures(energyJ: number, windowNs: number, outputTokens: number): EnergyFigures {
  return {
    energyJ,
    avgPowerW: windowNs > 0 ? energyJ / (windowNs / 1e9) : 0,
    energyPerOutputTokenJ: outputTokens > 0 ? energyJ / outputTokens : null,
    outputTokensPerJ: energyJ > 0 ? outputTokens / energyJ : null,
  };
}
