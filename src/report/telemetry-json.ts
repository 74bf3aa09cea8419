/**
 * `llm_bench.server_metrics` and `llm_bench.gpu_metrics` of `--report_json` (shape: telemetry-schema.ts;
 * formulas: docs/metrics.md). Absent values are null; timelines are column arrays, seconds from the run start
 * (the request log's origin), at most 2,000 rows evenly spread over the run.
 */
import type { GpuMetricsReport } from "../metrics/gpu-telemetry.ts";
import type { CrossCheck, ServerMetricsReport } from "../metrics/server-telemetry.ts";
import type { ReportInput } from "./report-input.ts";
import type { ReportJson } from "./report-schema.ts";

type LlmBenchJson = ReportJson["llm_bench"];

const nul = <T>(v: T | undefined): T | null => (v === undefined ? null : v);

function crossFields(c: CrossCheck) {
  return { server: c.server, client: c.client, server_minus_client: c.difference };
}

function crossJson(c: CrossCheck | undefined) {
  return c ? crossFields(c) : null;
}

function serverJson(r: ServerMetricsReport): NonNullable<LlmBenchJson["server_metrics"]> {
  const gauge = (g: { average: number; maximum: number; samples: number } | undefined) =>
    g ? { average: g.average, maximum: g.maximum, samples: g.samples } : null;
  return {
    url: r.url,
    server: nul(r.server),
    interval_s: r.intervalS,
    scrapes: r.scrapes,
    failed_scrapes: r.failedScrapes,
    skipped_scrapes: r.skippedScrapes,
    first_error: nul(r.firstError),
    running: gauge(r.gauges.running),
    waiting: gauge(r.gauges.waiting),
    kv_cache_usage: gauge(r.gauges.kv_cache_usage),
    increases: {
      preemptions: nul(r.increases.preemptions_total),
      prompt_tokens: nul(r.increases.prompt_tokens_total),
      generation_tokens: nul(r.increases.generation_tokens_total),
      requests: nul(r.increases.requests_total),
    },
    cross_check: {
      generation_tokens: crossJson(r.generationTokens),
      prompt_tokens: r.promptTokens
        ? { ...crossFields(r.promptTokens), client_source: r.promptTokens.clientSource }
        : null,
      requests: crossJson(r.requests),
      failed_requests: r.failedRequests,
    },
    timeline: r.timeline,
  };
}

function gpuJson(r: GpuMetricsReport): NonNullable<LlmBenchJson["gpu_metrics"]> {
  return {
    source: "nvidia-smi",
    command: r.command,
    power_field: r.powerField,
    interval_ms: r.intervalMs,
    window_s: r.windowS,
    output_tokens: r.outputTokens,
    energy_j: nul(r.energyJ),
    avg_power_w: nul(r.avgPowerW),
    energy_per_output_token_j: nul(r.energyPerOutputTokenJ),
    output_tokens_per_j: nul(r.outputTokensPerJ),
    bad_lines: r.badLines,
    exited_early: nul(r.exitedEarly),
    gpus: r.gpus.map((g) => ({
      index: g.index,
      name: g.name,
      uuid: g.uuid,
      samples: g.samples,
      coverage: g.coverage,
      missing_power_samples: g.missingPower,
      energy_j: g.energyJ,
      avg_power_w: g.avgPowerW,
      max_power_w: g.maxPowerW,
      avg_util_gpu_pct: g.avgUtilGpuPct,
      avg_util_mem_pct: g.avgUtilMemPct,
      max_memory_used_mib: g.maxMemoryUsedMib,
      memory_total_mib: g.memoryTotalMib,
      avg_sm_clock_mhz: g.avgSmClockMhz,
      avg_mem_clock_mhz: g.avgMemClockMhz,
      timeline: g.timeline,
    })),
  };
}

/** The `llm_bench` keys of the telemetry that ran (none when neither did). */
export function telemetryJson(input: ReportInput): Pick<LlmBenchJson, "server_metrics" | "gpu_metrics"> {
  return {
    ...(input.serverMetrics
      ? ({ server_metrics: serverJson(input.serverMetrics) } satisfies Partial<LlmBenchJson>)
      : {}),
    ...(input.gpuMetrics ? ({ gpu_metrics: gpuJson(input.gpuMetrics) } satisfies Partial<LlmBenchJson>) : {}),
  };
}
