import type { CompatVersion } from "../compat.ts";
import type { PercentileStats } from "../dataset/types.ts";
import type { MachineInfo } from "../engine/machine.ts";
import type { LoadSummary } from "../load/run-load.ts";
import type { GoodputStatistics } from "../metrics/goodput.ts";
import { scaleStats } from "../metrics/percentiles.ts";
import type { RequestRecord } from "../metrics/record.ts";
import { requestMetrics } from "../metrics/request-metrics.ts";
import type { DecodingStatistics } from "../metrics/statistics.ts";
import { AtomicFileStream, writeFileAtomic } from "../util/atomic-write.ts";
import { type ReportInput, worldSize } from "./report-input.ts";
import type { ReportJson } from "./report-schema.ts";
import { telemetryJson } from "./telemetry-json.ts";

/**
 * `--report_json` with trtllm-bench's key names and nesting (brief §4.6) so existing parsers keep working,
 * plus `schema_version` and llm-bench's additions under `llm_bench`. The version is a namespaced string
 * ("llm-bench/1"): a file found on disk says which tool wrote it, and trtllm-bench files (which have no such
 * key) are told apart. It changes only when an existing key changes meaning; new keys do not bump it.
 */
export const REPORT_SCHEMA_VERSION = "llm-bench/1";

type LlmBenchJson = ReportJson["llm_bench"];

const MS = 1e-6;
const NS_PER_S = 1e9;

export type Decode = (ids: readonly number[]) => string;

/** Typed by the schema (report-schema.ts), so the compiler checks every key the writer emits against it. */
export function buildReportJson(input: ReportInput): ReportJson {
  const { engine, stats, dataset } = input;
  const st = input.streaming ? stats.streaming : undefined;
  return {
    schema_version: REPORT_SCHEMA_VERSION,
    engine: {
      model: engine.model,
      model_path: engine.modelPath ?? null,
      engine_dir: engine.engineDir ?? null,
      version: engine.version,
      backend: engine.backend,
      dtype: engine.dtype,
      kv_cache_dtype: engine.kvCacheDtype,
      quantization: engine.quantization,
      max_input_length: engine.maxInputLength ?? null,
      max_sequence_length: engine.maxSequenceLength ?? null,
    },
    machine: input.machine
      ? {
          name: input.machine.name,
          "memory.total": input.machine.memoryTotalGiB ?? null,
          "clocks.mem": input.machine.memoryClockGHz ?? null,
          ...machineDetailsJson(input.machine),
        }
      : null,
    world_info: {
      tp_size: engine.tpSize,
      pp_size: engine.ppSize,
      ep_size: input.epSize ?? 1,
      world_size: worldSize(engine),
      max_batch_size: engine.maxBatchSize ?? null,
      max_num_tokens: engine.maxNumTokens ?? null,
      scheduling_policy: engine.schedulingPolicy ?? null,
      kv_cache_percentage: engine.kvCacheFraction ?? null,
      // trtllm-bench's issue_rate_ns × 1e9 (see docs/metrics.md); the real rate is llm_bench.submission_rate_req_s.
      issue_rate: stats.issueRateReported,
    },
    request_info: {
      num_requests: stats.numRequests,
      avg_num_concurrent_requests: stats.avgConcurrentRequests,
      avg_input_length: stats.avgInputLength,
      avg_output_length: stats.avgOutputLength,
    },
    performance: {
      total_latency_ms: stats.totalLatencyNs * MS,
      avg_request_latency_ms: stats.avgRequestLatencyNs * MS,
      request_throughput_req_s: stats.requestThroughput,
      system_output_throughput_tok_s: stats.outputThroughput,
      system_total_throughput_tok_s: stats.totalTokenThroughput,
      output_throughput_per_user_tok_s: stats.perUserOutputThroughput,
      output_throughput_per_gpu_tok_s: stats.perGpuOutputThroughput,
      request_latency_percentiles_ms: dump(scaleStats(stats.requestLatencyNs, MS)),
    },
    ...(st
      ? ({
          streaming_metrics: {
            token_output_speed_tok_s: st.perUserOutputSpeed,
            avg_ttft_ms: st.avgTtftNs * MS,
            avg_tpot_ms: st.avgTpotNs * MS,
            tpot_percentiles: dump(scaleStats(st.tpotNs, MS)),
            ttft_percentiles: dump(scaleStats(st.ttftNs, MS)),
            gen_tps_percentiles: dump(st.gtps),
          },
        } satisfies Partial<ReportJson>)
      : {}),
    ...(stats.decoding
      ? ({ decoding_stats: decodingJson(stats.decoding, input.decodingMode) } satisfies Partial<ReportJson>)
      : {}),
    dataset: {
      isl_stats: dump(dataset.isl_stats),
      osl_stats: dump(dataset.osl_stats),
      seq_len_stats: dump(dataset.seq_len_stats),
      num_requests: dataset.num_requests,
      dataset_path: dataset.dataset_path,
      max_isl: dataset.max_isl,
      max_osl: dataset.max_osl,
      max_sequence_length: dataset.max_sequence_length,
      avg_isl: dataset.avg_isl,
      avg_osl: dataset.avg_osl,
      avg_sequence_length: dataset.avg_sequence_length,
    },
    llm_bench: {
      streaming: input.streaming,
      failures: { num_failed: stats.numFailed, errors: stats.failures },
      token_accounting: {
        total_input_tokens: stats.totalInputTokens,
        total_output_tokens: stats.totalOutputTokens,
        generation_tokens: stats.generationTokens,
        requested_output_tokens: stats.tokenAccounting.requestedOutputTokens,
        mismatched_requests: stats.tokenAccounting.mismatchedRequests,
        short_requests: stats.tokenAccounting.shortRequests,
      },
      issue: {
        issue_rate_ns: stats.issueRateNs,
        submission_rate_req_s: stats.submissionRate,
      },
      queueing: {
        queue_time_percentiles_ms: dump(scaleStats(stats.queueNs, MS)),
        latency_from_scheduled_percentiles_ms: dump(scaleStats(stats.latencyFromScheduledNs, MS)),
        ...(stats.slotIdleNs
          ? ({
              slot_idle_percentiles_ms: dump(scaleStats(stats.slotIdleNs, MS)),
            } satisfies Partial<LlmBenchJson["queueing"]>)
          : {}),
        ...(input.streaming
          ? ({
              ttft_from_scheduled_percentiles_ms: dump(scaleStats(stats.ttftFromScheduledNs, MS)),
            } satisfies Partial<LlmBenchJson["queueing"]>)
          : {}),
      },
      ...(input.load ? ({ load: loadJson(input.load) } satisfies Partial<LlmBenchJson>) : {}),
      generation_time_percentiles_ms: dump(scaleStats(stats.generationTimeNs, MS)),
      output_tokens_percentiles: dump(stats.outputTokens),
      ...(stats.decoding
        ? ({
            global_acceptance_length: stats.decoding.globalAcceptanceLength,
          } satisfies Partial<LlmBenchJson>)
        : {}),
      ...(stats.goodput ? ({ goodput: goodputJson(stats.goodput) } satisfies Partial<LlmBenchJson>) : {}),
      ...(input.requestLog !== undefined
        ? ({ request_log: input.requestLog } satisfies Partial<LlmBenchJson>)
        : {}),
      ...(stats.failureReasons
        ? ({ failure_reasons: stats.failureReasons } satisfies Partial<LlmBenchJson>)
        : {}),
      ...(stats.outputTokenCounts
        ? ({
            output_token_counts: {
              server_counted_requests: stats.outputTokenCounts.serverCounted,
              client_counted_requests: stats.outputTokenCounts.clientCounted,
              both_counted_requests: stats.outputTokenCounts.bothCounted,
              server_output_tokens: stats.outputTokenCounts.serverOutputTokens,
              client_output_tokens: stats.outputTokenCounts.clientOutputTokens,
              server_minus_client_tokens: stats.outputTokenCounts.difference,
              differing_requests: stats.outputTokenCounts.differingRequests,
            },
          } satisfies Partial<LlmBenchJson>)
        : {}),
      ...(stats.inputTokenCounts
        ? ({
            input_token_counts: {
              server_counted_requests: stats.inputTokenCounts.serverCounted,
              server_input_tokens: stats.inputTokenCounts.serverInputTokens,
              dataset_input_tokens: stats.inputTokenCounts.datasetInputTokens,
              server_minus_dataset_tokens: stats.inputTokenCounts.difference,
              differing_requests: stats.inputTokenCounts.differingRequests,
            },
          } satisfies Partial<LlmBenchJson>)
        : {}),
      ...(stats.chunks
        ? ({
            chunks: {
              num_chunks: stats.chunks.chunks,
              chunk_gap_percentiles_ms: dump(scaleStats(stats.chunks.chunkGapNs, MS)),
              tokens_per_chunk_percentiles: dump(stats.chunks.tokensPerChunk),
              tokens_per_chunk_source: stats.chunks.tokensPerChunkSource,
            },
          } satisfies Partial<LlmBenchJson>)
        : {}),
      ...telemetryJson(input),
    },
  };
}

function loadJson(l: LoadSummary): LlmBenchJson["load"] {
  return {
    partial: l.interrupted,
    shape: l.shape,
    request_rate: l.requestRate ?? null,
    burstiness: l.burstiness ?? null,
    concurrency: l.concurrency,
    duration_s: l.durationS ?? null,
    duration_reached: l.durationReached,
    issued: l.issued,
    completed: l.completed,
    cancelled: l.cancelled,
    not_issued: l.notIssued,
    event_loop_lag_ms: {
      mean: l.eventLoopLag.meanMs,
      p50: l.eventLoopLag.p50Ms,
      p99: l.eventLoopLag.p99Ms,
      max: l.eventLoopLag.maxMs,
      threshold: l.eventLoopLag.thresholdMs,
      client_saturated: l.eventLoopLag.saturated,
    },
  };
}

function goodputJson(g: GoodputStatistics): LlmBenchJson["goodput"] {
  return {
    slo_ms: { ttft: g.slo.ttftMs ?? null, tpot: g.slo.tpotMs ?? null, e2el: g.slo.e2elMs ?? null },
    good_requests: g.goodRequests,
    total_requests: g.totalRequests,
    goodput_req_s: g.goodput,
    fraction: g.fraction,
  };
}

/** trtllm-bench's PercentileStats dump order. */
function dump(s: PercentileStats): PercentileStats {
  return {
    p50: s.p50,
    p90: s.p90,
    p95: s.p95,
    p99: s.p99,
    minimum: s.minimum,
    maximum: s.maximum,
    average: s.average,
  };
}

function decodingJson(d: DecodingStatistics, mode: string | undefined): ReportJson["decoding_stats"] {
  return {
    mode: mode ?? null,
    num_draft_tokens_percentiles: dump(d.numDraftTokens),
    num_accepted_draft_tokens_percentiles: dump(d.numAcceptedDraftTokens),
    draft_acceptance_rate_percentiles: dump(d.draftAcceptanceRate),
    acceptance_length_percentiles: dump(d.acceptanceLength),
  };
}

/** Numeric ids go out as numbers, as trtllm-bench's integer ids do; anything else stays a string. */
function jsonId(id: string): string | number {
  return /^(0|[1-9]\d{0,14})$/.test(id) ? Number(id) : id;
}

/**
 * The computed fields of trtllm-bench's `RequestRecord`, in its dump order. The names changed between releases
 * while the formulas stayed: `n / e2e` is `total_token_throughput` in 0.17 and `output_token_throughput` in the
 * releases that write `--request_json` (~0.21 on); `(n − 1) / generation_time` is 0.17's
 * `output_token_throughput` and later `generation_token_throughput` (docs/metrics.md).
 */
function computedFields(r: RequestRecord, compat: CompatVersion): Record<string, number> {
  const m = requestMetrics(r);
  const perE2e = m.outputTokenThroughput / NS_PER_S;
  const perGeneration = m.generationTokenThroughput / NS_PER_S;
  const times = {
    num_generated_tokens: m.numGeneratedTokens,
    generation_time: m.generationTimeNs,
    time_to_first_token: m.ttftNs,
    intertoken_latency: m.tpotNs,
    end_to_end_latency: m.e2eNs,
  };
  if (compat === "0.17") {
    return {
      num_output_tokens: m.numTotalOutputTokens,
      ...times,
      total_token_throughput: perE2e,
      output_token_throughput: perGeneration,
    };
  }
  return {
    num_total_output_tokens: m.numTotalOutputTokens,
    ...times,
    output_token_throughput: perE2e,
    generation_token_throughput: perGeneration,
  };
}

/**
 * One `--request_json` entry: trtllm-bench's `RequestRecord.model_dump()` without `tokens` (field names of the
 * `--compat` release), plus `output` and `output_tokens`. Times are ns; `decode_iteration` is trtllm's
 * last-iteration index (iterations − 1); throughputs are tokens/ns as trtllm-bench dumps them. llm-bench's
 * fields are under `llm_bench`.
 */
export function requestEntry(
  r: RequestRecord,
  decode?: Decode,
  compat: CompatVersion = "latest",
): Record<string, unknown> {
  const m = requestMetrics(r);
  return {
    id: jsonId(r.id),
    num_input_tokens: r.numInputTokens,
    error_tokens: r.error !== undefined ? 1 : 0,
    start_timestamp: r.startNs,
    first_token_timestamp: r.firstTokenNs,
    end_timestamp: r.endNs,
    decode_iteration: Math.max(0, r.decodeIterations - 1),
    ...computedFields(r, compat),
    output: decode && r.outputIds ? decode(r.outputIds) : null,
    output_tokens: r.numOutputTokens,
    llm_bench: {
      scheduled_timestamp: r.scheduledNs,
      sent_timestamp: r.sentNs ?? null,
      first_byte_timestamp: r.firstByteNs ?? null,
      queue_time: m.queueNs,
      requested_output_tokens: r.requestedOutputTokens,
      error: r.error ?? null,
      draft_tokens: r.draftTokens ?? null,
      accepted_draft_tokens: r.acceptedDraftTokens ?? null,
      ...(r.serverOutputTokens !== undefined ? { server_output_tokens: r.serverOutputTokens } : {}),
      ...(r.clientOutputTokens !== undefined ? { client_output_tokens: r.clientOutputTokens } : {}),
      ...(r.serverInputTokens !== undefined ? { server_input_tokens: r.serverInputTokens } : {}),
      ...(r.chunkTokens !== undefined ? { chunk_tokens: r.chunkTokens } : {}),
      ...(r.chunkTimesNs ? { chunk_timestamps: r.chunkTimesNs } : {}),
    },
  };
}

export function buildRequestJson(
  records: readonly RequestRecord[],
  decode?: Decode,
  compat: CompatVersion = "latest",
): Record<string, unknown>[] {
  return records.map((r) => requestEntry(r, decode, compat));
}

/** `--output_json`: `{request_id: decoded text}` sorted by id (numerically when ids are numbers). */
export function buildOutputJson(records: readonly RequestRecord[], decode: Decode): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of sortById(records)) out[r.id] = decode(r.outputIds ?? []);
  return out;
}

function sortById(records: readonly RequestRecord[]): RequestRecord[] {
  const numeric = records.every((r) => jsonId(r.id) !== r.id);
  return [...records].sort(
    numeric ? (a, b) => Number(a.id) - Number(b.id) : (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}

/** Python's `json.dumps(..., indent=4)` layout. */
function pretty(value: unknown): string {
  return JSON.stringify(value, null, 4);
}

export async function writeReportJson(path: string, input: ReportInput): Promise<void> {
  await writeFileAtomic(path, `${pretty(buildReportJson(input))}\n`);
}

const BATCH = 512;

/**
 * Streams the JSON array entry by entry (same bytes as `JSON.stringify(list, null, 4)`) so a million-request
 * run neither builds one giant string nor blocks the event loop while writing.
 */
export async function writeRequestJson(
  path: string,
  records: readonly RequestRecord[],
  decode?: Decode,
  compat: CompatVersion = "latest",
) {
  await streamJson(path, "[", "]", records.length, (i) => {
    const body = pretty(requestEntry(records[i]!, decode, compat)).replace(/\n/g, "\n    ");
    return `    ${body}`;
  });
}

export async function writeOutputJson(path: string, records: readonly RequestRecord[], decode: Decode) {
  const sorted = sortById(records);
  await streamJson(path, "{", "}", sorted.length, (i) => {
    const r = sorted[i]!;
    return `    ${JSON.stringify(r.id)}: ${JSON.stringify(decode(r.outputIds ?? []))}`;
  });
}

async function streamJson(path: string, open: string, close: string, n: number, item: (i: number) => string) {
  const file = await AtomicFileStream.open(path);
  try {
    if (n === 0) {
      await file.write(`${open}${close}\n`);
    } else {
      await file.write(`${open}\n`);
      for (let i = 0; i < n; i += BATCH) {
        const parts: string[] = [];
        for (let j = i; j < Math.min(n, i + BATCH); j++) parts.push(item(j));
        await file.write(parts.join(",\n") + (i + BATCH < n ? ",\n" : `\n${close}\n`));
      }
    }
    await file.commit();
  } catch (err) {
    await file.abort();
    throw err;
  }
}

/** llm-bench's additions to trtllm-bench's `machine` object: the host, its GPUs and what ran the model. */
function machineDetailsJson(m: MachineInfo) {
  const c = m.compute;
  return {
    compute: {
      backend: c.backend,
      devices: c.devices,
      gpu_layers: c.gpuLayers ? { offloaded: c.gpuLayers.offloaded, total: c.gpuLayers.total } : null,
      flash_attention: c.flashAttention ?? null,
      threads: c.threads ?? null,
      vram_total_gib: c.vramTotalBytes !== undefined ? c.vramTotalBytes / 1024 ** 3 : null,
      sampling: c.sampling ?? null,
      split: c.split ?? null,
    },
    host: {
      cpu: m.host.cpu,
      cpu_cores: m.host.cpuCores,
      memory_gib: m.host.memoryGiB,
      os: m.host.os,
      driver_version: m.host.driverVersion ?? null,
      cuda_version: m.host.cudaVersion ?? null,
      gpus: m.host.gpus.map((g) => ({
        index: g.index,
        name: g.name,
        memory_total_gib: g.memoryTotalGiB ?? null,
        memory_clock_ghz: g.memoryClockGHz ?? null,
        uuid: g.uuid ?? null,
      })),
    },
  };
}
