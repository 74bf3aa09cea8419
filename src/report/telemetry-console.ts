/**
 * The console sections of `--server_metrics` (SERVER METRICS) and GPU telemetry (GPU TELEMETRY), printed only
 * when the feature ran, after LLM-BENCH DETAILS. Formulas: docs/metrics.md.
 */
import type { GpuMetricsReport } from "../metrics/gpu-telemetry.ts";
import type { CrossCheck, ServerMetricsReport } from "../metrics/server-telemetry.ts";
import { fixed } from "./format.ts";
import type { ReportInput } from "./report-input.ts";

const RULE = "===========================================================";
const WIDTH = 50;

function section(title: string, entries: Array<[string, string]>): string {
  return `${RULE}\n= ${title}\n${RULE}\n${entries.map(([l, v]) => `${l.padEnd(WIDTH - 1)} ${v}\n`).join("")}`;
}

const opt = (v: number | null | undefined, digits = 2) =>
  v === null || v === undefined ? "N/A" : fixed(v, digits);
const signed = (v: number) => `${v > 0 ? "+" : ""}${v}`;
const pair = (c: CrossCheck) => `${c.server} / ${c.client} (${signed(c.difference)})`;

export function serverMetricsSection(r: ServerMetricsReport): string {
  const entries: Array<[string, string]> = [
    ["Source:", `${r.url} every ${r.intervalS} s`],
    ["Scrapes (failed / skipped):", `${r.scrapes} (${r.failedScrapes} / ${r.skippedScrapes})`],
  ];
  if (r.firstError !== undefined) entries.push(["First scrape error:", r.firstError]);
  const g = r.gauges;
  if (g.running)
    entries.push(["Running requests avg / max:", `${fixed(g.running.average)} / ${g.running.maximum}`]);
  if (g.waiting)
    entries.push(["Waiting requests avg / max:", `${fixed(g.waiting.average)} / ${g.waiting.maximum}`]);
  if (g.kv_cache_usage) {
    entries.push([
      "KV cache usage avg / max (%):",
      `${fixed(g.kv_cache_usage.average * 100, 2)} / ${fixed(g.kv_cache_usage.maximum * 100, 2)}`,
    ]);
  }
  if (r.increases.preemptions_total !== undefined) {
    entries.push(["Preemptions during the run:", String(r.increases.preemptions_total)]);
  }
  if (r.generationTokens)
    entries.push(["Server generation / client output tokens:", pair(r.generationTokens)]);
  if (r.promptTokens) {
    const src = r.promptTokens.clientSource === "server_usage" ? "usage" : "dataset";
    entries.push([`Server prompt / client input (${src}) tokens:`, pair(r.promptTokens)]);
  }
  if (r.requests) entries.push(["Server finished / client successful requests:", pair(r.requests)]);
  return section(`SERVER METRICS (${r.server ?? "unrecognised server"})`, entries);
}

export function gpuMetricsSection(r: GpuMetricsReport): string {
  const n = r.gpus.length;
  const entries: Array<[string, string]> = [
    ["Average power (W):", opt(r.avgPowerW)],
    ["Energy over the measured window (J):", opt(r.energyJ)],
    ["Energy per output token (J/token):", opt(r.energyPerOutputTokenJ, 4)],
    ["Output tokens per joule:", opt(r.outputTokensPerJ, 4)],
  ];
  for (const g of r.gpus) {
    const mem = g.maxMemoryUsedMib !== null ? `${g.maxMemoryUsedMib} MiB max` : "memory N/A";
    entries.push([
      `GPU ${g.index} ${g.name}:`.slice(0, WIDTH - 1),
      `${opt(g.avgPowerW)} W, ${opt(g.avgUtilGpuPct, 1)} % util, ${mem}, ${opt(g.avgSmClockMhz, 0)} MHz SM`,
    ]);
  }
  if (r.exitedEarly !== undefined) entries.push(["nvidia-smi stopped early:", r.exitedEarly]);
  return section(
    `GPU TELEMETRY (nvidia-smi, ${n} GPU${n === 1 ? "" : "s"}, every ${r.intervalMs} ms)`,
    entries,
  );
}

/** The sections for the report, in order; empty when neither feature ran. */
export function telemetrySections(input: ReportInput): string[] {
  const out: string[] = [];
  if (input.serverMetrics) out.push(serverMetricsSection(input.serverMetrics));
  if (input.gpuMetrics) out.push(gpuMetricsSection(input.gpuMetrics));
  return out;
}
