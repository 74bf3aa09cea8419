/** The report schema of `llm_bench.server_metrics` and `llm_bench.gpu_metrics` (telemetry-json.ts). */
import { z } from "zod";

const num = z.number();
const nullableNum = z.number().nullable();
const column = z.array(nullableNum);

const gauge = z
  .strictObject({ average: num, maximum: num, samples: num })
  .nullable()
  .describe(
    "Over the scrapes inside the measured window (all scrapes when none is inside); null when absent.",
  );

const cross = z.strictObject({ server: num, client: num, server_minus_client: num }).nullable();

export const serverMetricsSchema = z
  .strictObject({
    url: z.string(),
    server: z.enum(["vllm", "sglang", "llama.cpp"]).nullable().describe("Recognised from the metric names."),
    interval_s: num,
    scrapes: num.describe("Scrapes that succeeded, the one before and the one after the load included."),
    failed_scrapes: num,
    skipped_scrapes: num.describe("Ticks that found the previous scrape still running."),
    first_error: z.string().nullable(),
    running: gauge,
    waiting: gauge,
    kv_cache_usage: gauge.describe("A fraction (1 = full)."),
    increases: z
      .strictObject({
        preemptions: nullableNum,
        prompt_tokens: nullableNum,
        generation_tokens: nullableNum,
        requests: nullableNum,
      })
      .describe("Counter increase from the scrape before the load to the one after it."),
    cross_check: z.strictObject({
      generation_tokens: cross.describe("client: Σ output tokens of the successful requests."),
      prompt_tokens: cross
        .unwrap()
        .extend({ client_source: z.enum(["server_usage", "dataset"]) })
        .nullable()
        .describe("client: Σ usage prompt_tokens when every request had one, else Σ dataset ISL."),
      requests: cross.describe("client: successful requests."),
      failed_requests: num,
    }),
    timeline: z
      .strictObject({
        t_s: z.array(num).describe("Seconds from the run start (the request log's origin)."),
        running: column,
        waiting: column,
        kv_cache_usage: column,
        preemptions_total: column,
        prompt_tokens_total: column,
        generation_tokens_total: column,
        requests_total: column,
      })
      .describe(
        "Every scrape, evenly thinned to at most 2,000 rows; counters are the server's running totals.",
      ),
  })
  .describe("--server_metrics: the server's Prometheus metrics through the run (docs/metrics.md).");

export const gpuMetricsSchema = z
  .strictObject({
    source: z.literal("nvidia-smi"),
    command: z.string(),
    power_field: z.enum(["power.draw.instant", "power.draw"]),
    interval_ms: num,
    window_s: num.describe("The measured window: first start to last end of the successful requests."),
    output_tokens: num,
    energy_j: nullableNum.describe("Σ over GPUs of the trapezoid integral of power over the window."),
    avg_power_w: nullableNum.describe("energy_j / window_s."),
    energy_per_output_token_j: nullableNum,
    output_tokens_per_j: nullableNum,
    bad_lines: num,
    exited_early: z.string().nullable(),
    gpus: z.array(
      z.strictObject({
        index: num,
        name: z.string(),
        uuid: z.string(),
        samples: num,
        coverage: num.describe("Share of the window between the GPU's first and last sample."),
        missing_power_samples: num,
        energy_j: nullableNum,
        avg_power_w: nullableNum,
        max_power_w: nullableNum,
        avg_util_gpu_pct: nullableNum,
        avg_util_mem_pct: nullableNum,
        max_memory_used_mib: nullableNum,
        memory_total_mib: nullableNum,
        avg_sm_clock_mhz: nullableNum,
        avg_mem_clock_mhz: nullableNum,
        timeline: z.strictObject({
          t_s: z.array(num),
          power_w: column,
          util_gpu_pct: column,
          memory_used_mib: column,
          sm_clock_mhz: column,
        }),
      }),
    ),
  })
  .describe("GPU telemetry (--gpu_metrics, or automatic for the embedded engine on CUDA): docs/metrics.md.");
