/**
 * GPU telemetry figures over the measured window: energy and average power per GPU and in total, energy per
 * output token, output tokens per joule, utilization, memory and clocks (docs/metrics.md, "GPU telemetry and
 * energy").
 */
import type { GpuSamples, GpuSeries, PowerField } from "../telemetry/nvidia-smi.ts";
import { evenIndexes } from "../telemetry/timeline.ts";
import { coverage, type EnergyFigures, energyFigures, windowEnergy } from "./energy.ts";
import { MAX_TIMELINE_ROWS } from "./server-telemetry.ts";

export interface GpuReport {
  index: number;
  name: string;
  uuid: string;
  samples: number;
  energyJ: number | null;
  avgPowerW: number | null;
  maxPowerW: number | null;
  avgUtilGpuPct: number | null;
  avgUtilMemPct: number | null;
  maxMemoryUsedMib: number | null;
  memoryTotalMib: number | null;
  avgSmClockMhz: number | null;
  avgMemClockMhz: number | null;
  /** Share of the window between this GPU's first and last sample. */
  coverage: number;
  missingPower: number;
  timeline: {
    t_s: number[];
    power_w: Array<number | null>;
    util_gpu_pct: Array<number | null>;
    memory_used_mib: Array<number | null>;
    sm_clock_mhz: Array<number | null>;
  };
}

export interface GpuMetricsReport extends Partial<EnergyFigures> {
  command: string;
  powerField: PowerField;
  intervalMs: number;
  windowS: number;
  outputTokens: number;
  gpus: GpuReport[];
  badLines: number;
  exitedEarly: string | undefined;
}

function stats(values: readonly (number | null)[], idx: readonly number[]) {
  let sum = 0;
  let max = Number.NEGATIVE_INFINITY;
  let n = 0;
  for (const i of idx) {
    const v = values[i];
    if (v === null || v === undefined) continue;
    sum += v;
    if (v > max) max = v;
    n++;
  }
  return n > 0 ? { avg: sum / n, max } : undefined;
}

function gpuReport(g: GpuSeries, window: [number, number], originNs: number): GpuReport {
  const tl = g.timeline;
  const c = tl.columns;
  const inside: number[] = [];
  for (let i = 0; i < tl.length; i++) if (tl.t[i]! >= window[0] && tl.t[i]! <= window[1]) inside.push(i);
  const idx = inside.length > 0 ? inside : Array.from({ length: tl.length }, (_, i) => i);
  const hasPower = c.power_w.some((p) => p !== null);
  const energyJ = hasPower
    ? windowEnergy({ t: tl.t, power: c.power_w, energy: c.energy_j }, window[0], window[1])
    : null;
  const windowS = (window[1] - window[0]) / 1e9;
  const rows = evenIndexes(tl.length, MAX_TIMELINE_ROWS);
  const col = (k: keyof typeof c) => rows.map((i) => c[k][i]!);
  return {
    index: g.info.index,
    name: g.info.name,
    uuid: g.info.uuid,
    samples: tl.seen,
    energyJ,
    avgPowerW: energyJ !== null && windowS > 0 ? energyJ / windowS : null,
    maxPowerW: stats(c.power_w, idx)?.max ?? null,
    avgUtilGpuPct: stats(c.util_gpu_pct, idx)?.avg ?? null,
    avgUtilMemPct: stats(c.util_mem_pct, idx)?.avg ?? null,
    maxMemoryUsedMib: stats(c.memory_used_mib, idx)?.max ?? null,
    memoryTotalMib: stats(c.memory_total_mib, idx)?.max ?? null,
    avgSmClockMhz: stats(c.sm_clock_mhz, idx)?.avg ?? null,
    avgMemClockMhz: stats(c.mem_clock_mhz, idx)?.avg ?? null,
    coverage: coverage(tl.t, window[0], window[1]),
    missingPower: g.missingPower,
    timeline: {
      t_s: rows.map((i) => Number(((tl.t[i]! - originNs) / 1e9).toFixed(6))),
      power_w: col("power_w"),
      util_gpu_pct: col("util_gpu_pct"),
      memory_used_mib: col("memory_used_mib"),
      sm_clock_mhz: col("sm_clock_mhz"),
    },
  };
}

/**
 * `window`: the measured window [first start, last end] of the successful requests (the throughput window);
 * `outputTokens`: Σ n over them (the numerator of Total Output Throughput).
 */
export function summarizeGpuMetrics(
  s: GpuSamples,
  window: [number, number],
  outputTokens: number,
  originNs: number,
): GpuMetricsReport {
  const gpus = s.gpus.map((g) => gpuReport(g, window, originNs));
  const withEnergy = gpus.filter((g) => g.energyJ !== null);
  const figures =
    withEnergy.length > 0
      ? energyFigures(
          withEnergy.reduce((a, g) => a + g.energyJ!, 0),
          window[1] - window[0],
          outputTokens,
        )
      : {};
  return {
    command: s.command,
    powerField: s.powerField,
    intervalMs: s.intervalMs,
    windowS: (window[1] - window[0]) / 1e9,
    outputTokens,
    ...figures,
    gpus,
    badLines: s.badLines,
    exitedEarly: s.exitedEarly,
  };
}
