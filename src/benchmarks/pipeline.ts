/**
 * The benchmark pipeline shared by `throughput` and `latency`: options merged with the YAML, backend prepared,
 * dataset read, engine started, warmup, measured load, statistics, reports. The commands only choose defaults
 * (latency: concurrency 1, batch 1, always streaming).
 */
import type { CompatVersion } from "../compat.ts";
import { readDataset } from "../dataset/reader.ts";
import type { DatasetRequest } from "../dataset/types.ts";
import type {
  CommonBackendOptions,
  PreparedBackend,
  ServerRef,
  Speculation,
  StartedBackend,
} from "../engine/backend.ts";
import { describeMachine, probeHost } from "../engine/machine.ts";
import {
  type BackendName,
  type BackendOwnOptions,
  backendPlugin,
  checkOwnOptions,
} from "../engine/registry.ts";
import type { DeviceFlag, RuntimeKnobs, SchedulerPolicy } from "../engine/runtime-knobs.ts";
import { BenchError, InterruptedError, UnsupportedError, UsageError } from "../errors.ts";
import { pickWarmup, runOffline } from "../load/offline.ts";
import { type LoadShape, runLoad } from "../load/run-load.ts";
import { acceptance017 } from "../metrics/acceptance-017.ts";
import { checkSloStreaming, formatSlo, type SloSpec } from "../metrics/goodput.ts";
import { inputTokenWarning } from "../metrics/input-tokens.ts";
import type { RequestRecord } from "../metrics/record.ts";
import { type BenchmarkStatistics, computeStatistics } from "../metrics/statistics.ts";
import { type LlmApiOptions, readLlmApiOptions } from "../model/llm-api-options.ts";
import { formatReport, partialSection } from "../report/console.ts";
import { formatReport017 } from "../report/console-017.ts";
import { fixed } from "../report/format.ts";
import { IterationLogWriter } from "../report/iteration-log.ts";
import type { ReportInput } from "../report/report-input.ts";
import { requestLogFormat, requestLogRef } from "../report/request-log.ts";
import { log } from "../util/log.ts";
import { checkOutputPaths, writingOutput } from "../util/output-paths.ts";
import { type OutputPathOptions, outputPaths, RUN_OUTPUTS, type RunOutput } from "./outputs.ts";
import { checkTelemetry, RunTelemetry, type TelemetryOptions, telemetryReports } from "./run-telemetry.ts";

export interface RunProgress {
  start(total: number, label: string): void;
  update(done: number, extra?: string): void;
  stop(): void;
}

/** A benchmark run; its output files are OutputPathOptions (src/benchmarks/outputs.ts). */
export interface BenchmarkOptions extends OutputPathOptions {
  /** "throughput" or "latency": names the run in logs. */
  name: string;
  backend: BackendName;
  /** The backend's own options (its flags: src/engine/<backend>/index.ts), checked against its schema. */
  backendOptions?: BackendOwnOptions | undefined;
  model: string;
  modelPath?: string | undefined;
  workspace: string;
  revision?: string | undefined;
  dataset: string;
  engineDir?: string | undefined;
  numRequests: number;
  warmup: number;
  /** <= 0: unlimited. */
  concurrency: number;
  /** Requests per second with gamma arrivals; undefined or <= 0: offline (everything at once). */
  requestRate?: number | undefined;
  /** Gamma shape of the arrivals (1 = Poisson); only with requestRate. */
  burstiness?: number | undefined;
  /** Stop issuing requests after this many seconds. */
  durationS?: number | undefined;
  /** Seed of the arrival schedule (default 0). */
  arrivalSeed?: number | undefined;
  /** Values the user gave on the command line; undefined means "not given" (the YAML or a default applies). */
  maxBatchSize?: number | undefined;
  maxNumTokens?: number | undefined;
  maxSeqLen?: number | undefined;
  kvCacheFreeGpuMemFraction?: number | undefined;
  schedulerPolicy?: SchedulerPolicy | undefined;
  enableChunkedContext?: boolean | undefined;
  streaming: boolean;
  /** -1 ignores EOS. */
  eosId: number;
  extraLlmApiOptions?: string | undefined;
  /** `--goodput` bounds (src/metrics/goodput.ts). */
  goodput?: SloSpec | undefined;
  threads?: number | undefined;
  /** `--device` / `--gpu_layers` (embedded engine). */
  device?: DeviceFlag | undefined;
  gpuLayers?: number | undefined;
  /** Speculative decoding as the backend resolved it (src/engine/registry.ts `resolveSpeculation`). */
  speculative?: Speculation | undefined;
  /** Exit 0 even when requests failed (they are always reported, and excluded from the statistics). */
  allowFailures?: boolean | undefined;
  /** `--server_metrics`, `--gpu_metrics` (src/benchmarks/run-telemetry.ts). */
  telemetry?: TelemetryOptions | undefined;
  /** `--compat 0.17` prints 0.17's report layout (default "latest": the newer one). */
  compat?: CompatVersion | undefined;
  /** Reuse one engine across runs (see BenchmarkSession). */
  session?: BenchmarkSession | undefined;
  /** Where the report text goes (stdout in the CLI). */
  out: (text: string) => void;
  progress?: RunProgress | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Lets `sweep` run several points on one loaded engine: the first run fills it, later runs reuse the prepared
 * backend and started engine (same dataset, so the same runtime limits), and the caller stops the engine.
 */
export interface BenchmarkSession {
  backend?: PreparedBackend;
  started?: StartedBackend;
}

export interface BenchmarkResult {
  stats: BenchmarkStatistics;
  report: ReportInput;
  records: RequestRecord[];
}

/** Requests failed: raised after the report is printed and written, so the exit status says so. */
export class RequestFailuresError extends BenchError {
  constructor(readonly result: BenchmarkResult) {
    const s = result.stats;
    const reasons = (s.failureReasons ?? s.failures).map((f) => `${f.message} ${f.count}`).join(", ");
    super(
      `${s.numFailed} of ${s.numFailed + s.numRequests} requests failed (${reasons}); the report covers the ` +
        "successful ones. Pass --allow_failures to exit 0 anyway.",
    );
  }
}

const DEFAULT_KV_FRACTION = 0.9;

/** CLI flags win over the YAML, with trtllm-bench's warning (its newest rule). */
function merge<T>(name: string, cli: T | undefined, yaml: T | undefined, dflt: T, overridden: string[]): T {
  if (cli !== undefined && yaml !== undefined && cli !== yaml) overridden.push(name);
  return cli ?? yaml ?? dflt;
}

export function runtimeKnobs(opts: BenchmarkOptions, yaml: LlmApiOptions): RuntimeKnobs {
  const overridden: string[] = [];
  const yamlPolicy = yaml.scheduler_config?.capacity_scheduler_policy?.toLowerCase() as
    | SchedulerPolicy
    | undefined;
  const knobs: RuntimeKnobs = {
    schedulerPolicy: merge(
      "--scheduler_policy",
      opts.schedulerPolicy,
      yamlPolicy,
      "guaranteed_no_evict",
      overridden,
    ),
    enableChunkedContext: merge(
      "--enable_chunked_context",
      opts.enableChunkedContext,
      yaml.enable_chunked_prefill,
      true,
      overridden,
    ),
    kvCacheFreeGpuMemFraction: merge(
      "--kv_cache_free_gpu_mem_fraction",
      opts.kvCacheFreeGpuMemFraction,
      yaml.kv_cache_config?.free_gpu_memory_fraction,
      DEFAULT_KV_FRACTION,
      overridden,
    ),
    maxBatchSize: merge("--max_batch_size", opts.maxBatchSize, yaml.max_batch_size, undefined, overridden),
    maxNumTokens: merge("--max_num_tokens", opts.maxNumTokens, yaml.max_num_tokens, undefined, overridden),
    maxSeqLen: merge("--max_seq_len", opts.maxSeqLen, yaml.max_seq_len, undefined, overridden),
    kvMaxTokens: yaml.kv_cache_config?.max_tokens,
    threads: opts.threads,
    device: opts.device,
    gpuLayers: opts.gpuLayers,
  };
  if (overridden.length > 0) {
    log.warn(`Explicit CLI flag(s) [${overridden.join(", ")}] override the value(s) set in the YAML config.`);
  }
  if (yaml.kv_cache_config?.dtype && yaml.kv_cache_config.dtype !== "auto") {
    log.warn(
      `kv_cache_config.dtype '${yaml.kv_cache_config.dtype}' is ignored: the embedded engine's KV cache type is fixed at build time (see the engine's config.json).`,
    );
  }
  return knobs;
}

/**
 * The printed report in the layout `--compat` selects. 0.17's layout has no room for llm-bench's additions:
 * they stay in `--report_json`, except what must not go unseen (an interrupted run, goodput asked for).
 */
function consoleReport(
  report: ReportInput,
  records: readonly RequestRecord[],
  opts: BenchmarkOptions,
): string {
  if (opts.compat !== "0.17") return formatReport(report);
  const kind = opts.name === "latency" ? "latency" : "throughput";
  if (kind === "latency") report.acceptance017 = acceptance017(records);
  const g = report.stats.goodput;
  if (g) {
    log.info(
      `Goodput [${formatSlo(g.slo)}]: ${fixed(g.goodput)} req/sec (${g.goodRequests} of ${g.totalRequests} requests meet the SLOs).`,
    );
  }
  return (partialSection(report) ?? "") + formatReport017(report, kind);
}

/** The backend's plugin, its checked options and the server behind it (for `--server_metrics`). */
export function backendOf(opts: Pick<BenchmarkOptions, "backend" | "backendOptions">) {
  const plugin = backendPlugin(opts.backend);
  const own = checkOwnOptions(opts.backend, opts.backendOptions);
  const server: ServerRef | undefined = plugin.server?.(own);
  return { plugin, own, server };
}

export async function runBenchmark(opts: BenchmarkOptions): Promise<BenchmarkResult> {
  if (opts.goodput) checkSloStreaming(opts.goodput, opts.streaming);
  if (opts.requestLog) requestLogFormat(opts.requestLog);
  const { plugin, own, server } = backendOf(opts);
  await checkTelemetry(opts.telemetry, server);
  // Before anything slow: an unwritable output fails now, not after the run.
  await checkOutputPaths(outputPaths(opts), [
    { flag: "--dataset", path: opts.dataset },
    { flag: "--extra_llm_api_options", path: opts.extraLlmApiOptions },
  ]);
  const yaml: LlmApiOptions = opts.extraLlmApiOptions ? await readLlmApiOptions(opts.extraLlmApiOptions) : {};
  log.info(`Preparing to run ${opts.name} benchmark...`);
  let iterLog: IterationLogWriter | undefined;
  let measuring = false;
  const common: CommonBackendOptions = {
    model: opts.model,
    modelPath: opts.modelPath,
    workspace: opts.workspace,
    revision: opts.revision,
    dataset: opts.dataset,
    engineDir: opts.engineDir,
    runtime: runtimeKnobs(opts, yaml),
    yaml,
    onIteration: opts.iterationLog
      ? (row: object) => {
          if (measuring) iterLog?.write(row);
        }
      : undefined,
    concurrency: opts.concurrency,
    speculative: opts.speculative,
    compat: opts.compat,
  };
  const backend = opts.session?.backend ?? (await plugin.prepare(common, own));
  if (opts.session) opts.session.backend = backend;
  const { tokenizer } = backend;
  const { requests, metadata } = await readDataset(opts.dataset, {
    tokenizer,
    vocabSize: backend.vocabSize,
    numRequests: opts.numRequests,
  });
  if (requests.length === 0) throw new UsageError(`${opts.dataset}: the dataset has no requests`);

  const { engine, info } =
    opts.session?.started ??
    (await backend.start({
      maxInputLength: metadata.max_isl,
      maxSequenceLength: metadata.max_sequence_length,
    }));
  // Probed before the measured window: it may run nvidia-smi.
  const host = await probeHost();
  if (opts.session) opts.session.started = { engine, info };
  let result: BenchmarkResult;
  let telemetry: RunTelemetry | undefined;
  try {
    if (opts.speculative && !engine.capabilities.speculativeDecoding) {
      throw new UnsupportedError(`the ${opts.backend} backend does not run speculative decoding`);
    }
    const iterationLog = opts.iterationLog;
    if (iterationLog) {
      iterLog = await writingOutput("--iteration_log", iterationLog, () =>
        IterationLogWriter.open(iterationLog),
      );
    }
    const eosId = opts.eosId >= 0 ? opts.eosId : undefined;
    if (opts.warmup > 0) {
      log.info("Setting up for warmup...");
      const warm: DatasetRequest[] = pickWarmup(requests, opts.warmup);
      // trtllm-bench runs its warmup without streaming and discards it.
      await runOffline(engine, warm, {
        concurrency: opts.concurrency,
        streaming: false,
        eosId,
        keepOutputIds: false,
        signal: opts.signal,
        label: "Warmup",
        warnOnLag: false,
      });
      if (opts.signal?.aborted) throw new InterruptedError("interrupted during warmup: nothing was measured");
      log.info("Warmup done.");
    }
    if (opts.signal?.aborted) throw new InterruptedError("interrupted before the benchmark started");
    log.info("Starting benchmark...");
    measuring = true;
    let done = 0;
    opts.progress?.start(requests.length, opts.name);
    const shape: LoadShape = {
      concurrency: opts.concurrency,
      rate:
        opts.requestRate !== undefined && opts.requestRate > 0
          ? { rate: opts.requestRate, burstiness: opts.burstiness ?? 1, seed: opts.arrivalSeed ?? 0 }
          : undefined,
      durationS: opts.durationS,
    };
    const keepIds = opts.outputJson !== undefined || opts.requestJson !== undefined;
    telemetry = await RunTelemetry.start(opts.telemetry, engine, server);
    const load = await runLoad(engine, requests, shape, {
      label: "Benchmark",
      streaming: opts.streaming,
      eosId,
      keepOutputIds: keepIds,
      keepChunkTimes: opts.requestJson !== undefined,
      signal: opts.signal,
      onRecord: () => {
        done++;
        const s = engine.stats();
        opts.progress?.update(done, `active ${s.activeRequests}, queued ${s.queuedRequests}`);
      },
    });
    const summary = load.summary;
    let records = load.records;
    opts.progress?.stop();
    measuring = false;
    const collected = await telemetry.stop(lastEnd(records));
    telemetry = undefined;
    // e.g. text returned by a server, tokenized now: outside the measured window, and still interruptible.
    const counted = (await plugin.finalizeRecords?.(records, {
      tokenizer,
      keepOutputIds: keepIds,
      signal: opts.signal,
    })) ?? { interrupted: false, unknownLength: [] };
    if (counted.interrupted) {
      summary.interrupted = true;
      const left = new Set(counted.unknownLength);
      if (left.size > 0) {
        // Their length is unknown (no usage from the server, count not finished): like requests cancelled in
        // flight, they are left out rather than counted as 0 tokens.
        records = records.filter((r) => !left.has(r));
        summary.completed -= left.size;
        summary.cancelled += left.size;
        log.warn(
          `Interrupted while counting output tokens: ${left.size} request(s) the server did not count are left out.`,
        );
      }
    }
    log.info(summary.interrupted ? "Benchmark interrupted: partial report." : "Benchmark complete.");

    const stats = computeStatistics(records, {
      streaming: opts.streaming,
      worldSize: info.tpSize * info.ppSize,
      slo: opts.goodput,
    });
    const acct = stats.tokenAccounting;
    if (eosId === undefined && acct.mismatchedRequests > 0) {
      log.warn(
        `Requested output lengths were not honoured: ${acct.mismatchedRequests} of ${stats.numRequests} requests ` +
          `produced another length (${acct.shortRequests} short; ${acct.actualOutputTokens} tokens for ${acct.requestedOutputTokens} asked).`,
      );
    }
    const inputWarning = inputTokenWarning(stats.inputTokenCounts);
    if (inputWarning) log.warn(inputWarning);
    const report: ReportInput = {
      // Read at the end: an engine may learn facts while it runs (the embedded engine's sampling path).
      engine: engine.info,
      stats,
      dataset: metadata,
      streaming: opts.streaming,
      load: summary,
      decodingMode: opts.speculative?.decodingMode,
      machine: describeMachine(host, engine.info.device),
      ...telemetryReports(collected, records),
    };
    if (opts.requestLog) report.requestLog = requestLogRef(opts.requestLog, opts.reportJson);
    opts.out(consoleReport(report, records, opts));
    const output: RunOutput = {
      report,
      records,
      decode: (ids) => tokenizer.decode(ids),
      compat: opts.compat,
      iterationLog: iterLog,
    };
    for (const w of RUN_OUTPUTS) {
      const path = opts[w.option];
      if (path) await writingOutput(w.flag, path, () => w.write(path, output));
    }
    result = { stats, report, records };
  } catch (err) {
    opts.progress?.stop();
    await telemetry?.abort();
    await iterLog?.abort();
    throw err;
  } finally {
    // A session's engine outlives this run: its owner (sweep) stops it.
    if (!opts.session) await engine.stop();
  }
  // An interrupted run exits 130 (the caller's InterruptedError) whatever failed before the interrupt.
  if (result.stats.numFailed > 0 && !opts.allowFailures && !opts.signal?.aborted) {
    throw new RequestFailuresError(result);
  }
  return result;
}

/** The end of the last request that finished, for the telemetry's closing sample. */
function lastEnd(records: readonly RequestRecord[]): number | undefined {
  let end: number | undefined;
  for (const r of records) if (end === undefined || r.endNs > end) end = r.endNs;
  return end;
}
