/**
 * The `--report_json` shape, defined once. `buildReportJson` (json.ts) returns its inferred type, so the compiler
 * checks every key and value the writer emits; a test also checks a real report against it at run time, strictly
 * (an unknown key fails), and `schemas/report.schema.json` is generated from it
 * (`scripts/gen-report-schema.ts`; a test regenerates it in memory and compares with the committed file).
 * Adding a key to the report means adding it here too, then regenerating the schema file.
 */
import { z } from "zod";
import { gpuMetricsSchema, serverMetricsSchema } from "./telemetry-schema.ts";

const num = z.number();
const nullableNum = z.number().nullable();

export const percentileStatsSchema = z
  .strictObject({
    p50: num,
    p90: num,
    p95: num,
    p99: num,
    minimum: num,
    maximum: num,
    average: num,
  })
  .meta({ id: "PercentileStats", description: "Floor-index percentiles (docs/metrics.md)." });

const ps = percentileStatsSchema;

const engineSchema = z.strictObject({
  model: z.string(),
  model_path: z.string().nullable(),
  engine_dir: z.string().nullable(),
  version: z.string(),
  backend: z.string(),
  dtype: z.string(),
  kv_cache_dtype: z.string(),
  quantization: z.string(),
  max_input_length: nullableNum,
  max_sequence_length: nullableNum,
});

const machineSchema = z
  .strictObject({
    name: z.string(),
    "memory.total": nullableNum.describe("GiB"),
    "clocks.mem": nullableNum.describe("GHz"),
    compute: z
      .strictObject({
        backend: z
          .string()
          .describe('"cuda", "vulkan", "metal", "cpu", or "remote" (a server the client cannot see into)'),
        devices: z
          .array(z.string())
          .describe("GPU names as the runtime saw them (CUDA_VISIBLE_DEVICES applied)"),
        gpu_layers: z.strictObject({ offloaded: num, total: num }).nullable(),
        flash_attention: z.string().nullable(),
        threads: nullableNum,
        vram_total_gib: nullableNum,
        sampling: z.string().nullable().describe("How tokens were sampled (embedded engine)"),
        split: z
          .string()
          .nullable()
          .describe(
            "How the model was split over several GPUs (llama.cpp's layer split); null on one device",
          ),
      })
      .describe("What ran the model (llm-bench)"),
    host: z
      .strictObject({
        cpu: z.string(),
        cpu_cores: num,
        memory_gib: num,
        os: z.string(),
        driver_version: z.string().nullable(),
        cuda_version: z.string().nullable(),
        gpus: z.array(
          z.strictObject({
            index: num,
            name: z.string(),
            memory_total_gib: nullableNum,
            memory_clock_ghz: nullableNum,
            uuid: z.string().nullable(),
          }),
        ),
      })
      .describe("The machine the benchmark ran on (llm-bench); for a server backend, the client's"),
  })
  .nullable();

const worldInfoSchema = z.strictObject({
  tp_size: num,
  pp_size: num,
  ep_size: num,
  world_size: num,
  max_batch_size: nullableNum,
  max_num_tokens: nullableNum,
  scheduling_policy: z.string().nullable(),
  kv_cache_percentage: nullableNum.describe("A fraction (0.9), as trtllm-bench writes it."),
  issue_rate: num.describe("trtllm-bench's issue_rate_ns × 1e9: not a rate (docs/metrics.md)."),
});

const requestInfoSchema = z.strictObject({
  num_requests: num,
  avg_num_concurrent_requests: num,
  avg_input_length: num,
  avg_output_length: num,
});

const performanceSchema = z.strictObject({
  total_latency_ms: num,
  avg_request_latency_ms: num,
  request_throughput_req_s: num,
  system_output_throughput_tok_s: num,
  system_total_throughput_tok_s: num,
  output_throughput_per_user_tok_s: num,
  output_throughput_per_gpu_tok_s: num,
  request_latency_percentiles_ms: ps,
});

const streamingSchema = z.strictObject({
  token_output_speed_tok_s: num,
  avg_ttft_ms: num,
  avg_tpot_ms: num,
  tpot_percentiles: ps,
  ttft_percentiles: ps,
  gen_tps_percentiles: ps,
});

const decodingSchema = z.strictObject({
  mode: z.string().nullable(),
  num_draft_tokens_percentiles: ps,
  num_accepted_draft_tokens_percentiles: ps,
  draft_acceptance_rate_percentiles: ps,
  acceptance_length_percentiles: ps,
});

const datasetSchema = z.strictObject({
  isl_stats: ps,
  osl_stats: ps,
  seq_len_stats: ps,
  num_requests: num,
  dataset_path: z.string(),
  max_isl: num,
  max_osl: num,
  max_sequence_length: num,
  avg_isl: num,
  avg_osl: num,
  avg_sequence_length: num,
});

const goodputSchema = z
  .strictObject({
    slo_ms: z.strictObject({ ttft: nullableNum, tpot: nullableNum, e2el: nullableNum }),
    good_requests: num.describe("Successful requests meeting every given SLO."),
    total_requests: num.describe("Every request, failed ones included."),
    goodput_req_s: num.describe("good_requests / total latency."),
    fraction: num.describe("good_requests / total_requests."),
  })
  .describe("Present with --goodput.");

const loadSchema = z
  .strictObject({
    partial: z.boolean(),
    shape: z.enum(["offline", "rate"]),
    request_rate: nullableNum,
    burstiness: nullableNum,
    concurrency: num,
    duration_s: nullableNum,
    duration_reached: z.boolean(),
    issued: num,
    completed: num,
    cancelled: num,
    not_issued: num,
    event_loop_lag_ms: z.strictObject({
      mean: num,
      p50: num,
      p99: num,
      max: num,
      threshold: num,
      client_saturated: z.boolean(),
    }),
  })
  .describe("How the load was shaped and how the run ended.");

const llmBenchSchema = z.strictObject({
  streaming: z.boolean(),
  failures: z.strictObject({
    num_failed: num,
    errors: z.array(z.strictObject({ message: z.string(), count: num })),
  }),
  token_accounting: z.strictObject({
    total_input_tokens: num,
    total_output_tokens: num,
    generation_tokens: num,
    requested_output_tokens: num,
    mismatched_requests: num,
    short_requests: num,
  }),
  issue: z.strictObject({ issue_rate_ns: num, submission_rate_req_s: num }),
  queueing: z.strictObject({
    queue_time_percentiles_ms: ps,
    latency_from_scheduled_percentiles_ms: ps.describe("end − scheduled: latency including client queueing."),
    ttft_from_scheduled_percentiles_ms: ps.optional().describe("first token − scheduled (streaming only)."),
    slot_idle_percentiles_ms: ps
      .optional()
      .describe(
        "Slot idle time: send − max(end of the request that freed the slot, scheduled), over the requests that waited for a concurrency slot (absent when none did).",
      ),
  }),
  load: loadSchema.optional(),
  generation_time_percentiles_ms: ps,
  output_tokens_percentiles: ps,
  global_acceptance_length: num.optional(),
  goodput: goodputSchema.optional(),
  failure_reasons: z
    .array(z.strictObject({ message: z.string(), count: num }))
    .optional()
    .describe("Failures grouped by reason code (http_503, timeout, connection_reset, ...)."),
  output_token_counts: z
    .strictObject({
      server_counted_requests: num,
      client_counted_requests: num,
      both_counted_requests: num,
      server_output_tokens: num,
      client_output_tokens: num,
      server_minus_client_tokens: num,
      differing_requests: num,
    })
    .optional()
    .describe("HTTP backends: output tokens per server usage and per client tokenizer."),
  input_token_counts: z
    .strictObject({
      server_counted_requests: num,
      server_input_tokens: num,
      dataset_input_tokens: num.describe("Σ dataset ISL over the requests the server counted."),
      server_minus_dataset_tokens: num,
      differing_requests: num,
    })
    .optional()
    .describe("HTTP backends: input tokens per server usage (prompt_tokens) beside the dataset's."),
  chunks: z
    .strictObject({
      num_chunks: num,
      chunk_gap_percentiles_ms: ps,
      tokens_per_chunk_percentiles: ps,
      tokens_per_chunk_source: z.enum(["server_per_chunk", "request_average"]),
    })
    .optional()
    .describe("Streamed chunks (HTTP backends): gaps between chunks, distinct from TPOT."),
  server_metrics: serverMetricsSchema.optional(),
  gpu_metrics: gpuMetricsSchema.optional(),
  request_log: z
    .string()
    .optional()
    .describe("The --request_log file, relative to this JSON file's folder when it was written next to it."),
});

export const reportSchema = z
  .strictObject({
    schema_version: z.literal("llm-bench/1"),
    engine: engineSchema,
    machine: machineSchema,
    world_info: worldInfoSchema,
    request_info: requestInfoSchema,
    performance: performanceSchema,
    streaming_metrics: streamingSchema.optional().describe("Streaming runs only."),
    decoding_stats: decodingSchema.optional().describe("Speculative decoding only."),
    dataset: datasetSchema,
    llm_bench: llmBenchSchema,
  })
  .meta({
    title: "llm-bench --report_json",
    description:
      "trtllm-bench's report keys and nesting plus llm-bench's additions under llm_bench. Formulas: docs/metrics.md.",
  });

export type ReportJson = z.infer<typeof reportSchema>;

/** The published JSON Schema document (what schemas/report.schema.json holds). */
export function reportJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(reportSchema, { target: "draft-2020-12" }) as Record<string, unknown>;
}

/** The file's exact text: 2-space JSON plus a final newline. */
export function reportJsonSchemaText(): string {
  return `${JSON.stringify(reportJsonSchema(), null, 2)}\n`;
}
