/**
 * `throughput`: trtllm-bench's max-throughput benchmark on the embedded engine. Reads the dataset, starts the
 * engine from an engine directory (or builds one from --model with the heuristic, as the PyTorch flow does),
 * runs the warmup and the measured offline load, and reports. A plain async function: the CLI only parses.
 */
import { freemem } from "node:os";
import { join } from "node:path";
import { readDataset } from "../dataset/reader.ts";
import type { DatasetRequest } from "../dataset/types.ts";
import { buildEngine } from "../engine/embedded/build.ts";
import { EmbeddedEngine, type IterationStats } from "../engine/embedded/embedded-engine.ts";
import { type EngineConfig, readEngineConfig } from "../engine/embedded/engine-dir.ts";
import { nodeLlamaCppVersion } from "../engine/embedded/llama-native.ts";
import {
  defaultThreads,
  kvBytesPerToken,
  resolveRuntimeSettings,
} from "../engine/embedded/runtime-settings.ts";
import type { SchedulerPolicy } from "../engine/embedded/scheduler.ts";
import type { EngineInfo } from "../engine/types.ts";
import { UsageError } from "../errors.ts";
import { pickWarmup, runOffline } from "../load/offline.ts";
import type { RequestRecord } from "../metrics/record.ts";
import { type BenchmarkStatistics, computeStatistics } from "../metrics/statistics.ts";
import { parseModelConfig } from "../model/config-reader.ts";
import { loadTokenizerFromFiles } from "../model/hf-tokenizer.ts";
import { type LlmApiOptions, readLlmApiOptions } from "../model/llm-api-options.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import { formatReport } from "../report/console.ts";
import { IterationLogWriter } from "../report/iteration-log.ts";
import { writeOutputJson, writeReportJson, writeRequestJson } from "../report/json.ts";
import type { ReportInput } from "../report/report-input.ts";
import { log } from "../util/log.ts";

export interface RunProgress {
  start(total: number, label: string): void;
  update(done: number, extra?: string): void;
  stop(): void;
}

export interface ThroughputOptions {
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
  reportJson?: string | undefined;
  requestJson?: string | undefined;
  outputJson?: string | undefined;
  iterationLog?: string | undefined;
  threads?: number | undefined;
  /** Where the report text goes (stdout in the CLI). */
  out: (text: string) => void;
  progress?: RunProgress | undefined;
  signal?: AbortSignal | undefined;
}

export interface ThroughputResult {
  stats: BenchmarkStatistics;
  report: ReportInput;
  records: RequestRecord[];
}

const DEFAULT_KV_FRACTION = 0.9;

/** CLI flags win over the YAML, with trtllm-bench's warning (its newest rule). */
function merge<T>(name: string, cli: T | undefined, yaml: T | undefined, dflt: T, overridden: string[]): T {
  if (cli !== undefined && yaml !== undefined && cli !== yaml) overridden.push(name);
  return cli ?? yaml ?? dflt;
}

async function engineFor(opts: ThroughputOptions): Promise<{ dir: string; config: EngineConfig }> {
  if (opts.engineDir) return { dir: opts.engineDir, config: await readEngineConfig(opts.engineDir) };
  // The PyTorch flow: no engine directory, so build one from --model with the tuning heuristic. It goes under
  // its own workspace folder so it never replaces an engine the user built.
  log.info(
    "No --engine_dir: building an engine from --model with the tuning heuristic (trtllm-bench's PyTorch flow).",
  );
  const built = await buildEngine({
    model: opts.model,
    modelPath: opts.modelPath,
    workspace: join(opts.workspace, ".llm-bench-auto"),
    revision: opts.revision,
    dataset: opts.dataset,
    out: (line) => log.info(line),
  });
  return { dir: built.engineDir, config: await readEngineConfig(built.engineDir) };
}

function describeQuant(config: EngineConfig): { quantization: string; kvCacheDtype: string } {
  const q = config.pretrained_config.quantization;
  const lb = config.llm_bench;
  return {
    quantization: `${q.quant_algo ?? "None"} (llama.cpp ${lb.weight_type} weights)`,
    kvCacheDtype: `${q.kv_cache_quant_algo ?? "None"} (llama.cpp ${lb.kv_cache_type})`,
  };
}

export async function runThroughput(opts: ThroughputOptions): Promise<ThroughputResult> {
  const yaml: LlmApiOptions = opts.extraLlmApiOptions ? await readLlmApiOptions(opts.extraLlmApiOptions) : {};
  const overridden: string[] = [];
  const yamlPolicy = yaml.scheduler_config?.capacity_scheduler_policy?.toLowerCase() as
    | SchedulerPolicy
    | undefined;
  const policy = merge(
    "--scheduler_policy",
    opts.schedulerPolicy,
    yamlPolicy,
    "guaranteed_no_evict",
    overridden,
  );
  const chunked = merge(
    "--enable_chunked_context",
    opts.enableChunkedContext,
    yaml.enable_chunked_prefill,
    true,
    overridden,
  );
  const kvFraction = merge(
    "--kv_cache_free_gpu_mem_fraction",
    opts.kvCacheFreeGpuMemFraction,
    yaml.kv_cache_config?.free_gpu_memory_fraction,
    DEFAULT_KV_FRACTION,
    overridden,
  );
  const cliMaxBatch = merge(
    "--max_batch_size",
    opts.maxBatchSize,
    yaml.max_batch_size,
    undefined,
    overridden,
  );
  const cliMaxTokens = merge(
    "--max_num_tokens",
    opts.maxNumTokens,
    yaml.max_num_tokens,
    undefined,
    overridden,
  );
  const cliMaxSeq = merge("--max_seq_len", opts.maxSeqLen, yaml.max_seq_len, undefined, overridden);
  if (overridden.length > 0) {
    log.warn(`Explicit CLI flag(s) [${overridden.join(", ")}] override the value(s) set in the YAML config.`);
  }
  if (yaml.kv_cache_config?.dtype && yaml.kv_cache_config.dtype !== "auto") {
    log.warn(
      `kv_cache_config.dtype '${yaml.kv_cache_config.dtype}' is ignored: the embedded engine's KV cache type is fixed at build time (see the engine's config.json).`,
    );
  }

  log.info("Preparing to run throughput benchmark...");
  const { dir, config } = await engineFor(opts);
  const modelCfg = parseModelConfig(
    config.llm_bench.model_config,
    config.llm_bench.model_name,
    join(dir, "config.json"),
  );
  const tokenizerFiles = config.llm_bench.tokenizer_files;
  const tokJson = tokenizerFiles.find((f) => f === "tokenizer.json");
  if (!tokJson)
    throw new UsageError(`${join(dir, "config.json")}: the engine directory has no tokenizer.json`);
  const tokCfg = tokenizerFiles.find((f) => f === "tokenizer_config.json");
  const tokenizer: Tokenizer = await loadTokenizerFromFiles(
    join(dir, tokJson),
    tokCfg ? join(dir, tokCfg) : undefined,
  );

  const { requests, metadata } = await readDataset(opts.dataset, {
    tokenizer,
    vocabSize: Math.max(modelCfg.vocabSize, tokenizer.totalVocabSize),
    numRequests: opts.numRequests,
  });
  if (requests.length === 0) throw new UsageError(`${opts.dataset}: the dataset has no requests`);

  const kvType = config.llm_bench.kv_cache_type.toUpperCase();
  const settings = resolveRuntimeSettings({
    engine: {
      maxBatchSize: config.build_config.max_batch_size,
      maxNumTokens: config.build_config.max_num_tokens,
      maxSeqLen: config.build_config.max_seq_len,
    },
    cli: { maxBatchSize: cliMaxBatch, maxNumTokens: cliMaxTokens, maxSeqLen: cliMaxSeq },
    dataset: { maxSequenceLength: metadata.max_sequence_length, maxIsl: metadata.max_isl },
    policy,
    chunkedContext: chunked,
    kvFraction,
    // The weights are mapped before the KV cache is allocated; what is left is the KV cache's to take.
    freeMemoryBytes: Math.max(0, freemem() - config.llm_bench.gguf_bytes),
    kvBytesPerToken: kvBytesPerToken(
      modelCfg.numAttentionLayers,
      modelCfg.numKeyValueHeads,
      modelCfg.headSize,
      kvType,
    ),
    kvMaxTokens: yaml.kv_cache_config?.max_tokens,
  });
  for (const note of settings.notes) log.warn(note);

  const q = describeQuant(config);
  const info: EngineInfo = {
    backend: "llama.cpp (embedded)",
    model: opts.model,
    modelPath: opts.modelPath,
    engineDir: dir,
    version: `llm-bench ${config.version} / node-llama-cpp ${await nodeLlamaCppVersion()}`,
    dtype: config.pretrained_config.dtype,
    kvCacheDtype: q.kvCacheDtype,
    quantization: q.quantization,
    maxInputLength: config.build_config.max_input_len,
    maxSequenceLength: config.build_config.max_seq_len,
    tpSize: config.pretrained_config.mapping.tp_size,
    ppSize: config.pretrained_config.mapping.pp_size,
    maxBatchSize: settings.scheduler.maxBatchSize,
    maxNumTokens: settings.scheduler.maxNumTokens,
    schedulingPolicy: settings.scheduler.policy.toUpperCase(),
    kvCacheFraction: kvFraction,
  };

  let iterLog: IterationLogWriter | undefined;
  let measuring = false;
  if (opts.iterationLog) iterLog = await IterationLogWriter.open(opts.iterationLog);
  const threads = opts.threads ?? defaultThreads();
  log.info(
    `Setting up throughput benchmark: max batch ${settings.scheduler.maxBatchSize}, max tokens ${settings.scheduler.maxNumTokens}, ` +
      `KV ${settings.scheduler.kvCacheTokens} tokens, ${settings.scheduler.policy}, chunked context ${chunked ? "on" : "off"}, ${threads} threads.`,
  );
  const engine = await EmbeddedEngine.start({
    ggufPath: join(dir, config.llm_bench.gguf_file),
    info,
    scheduler: settings.scheduler,
    threads,
    gpu: false,
    kvCacheType: kvType,
    onIteration: iterLog
      ? (s: IterationStats) => {
          if (measuring) iterLog!.write(s);
        }
      : undefined,
  });

  try {
    const eosId = opts.eosId >= 0 ? opts.eosId : undefined;
    if (opts.warmup > 0) {
      log.info("Setting up for warmup...");
      const warm: DatasetRequest[] = pickWarmup(requests, opts.warmup);
      await runOffline(engine, warm, {
        concurrency: opts.concurrency,
        streaming: false,
        eosId,
        keepOutputIds: false,
      });
      log.info("Warmup done.");
    }
    log.info("Starting benchmark...");
    measuring = true;
    let done = 0;
    opts.progress?.start(requests.length, "throughput");
    const keepIds = opts.outputJson !== undefined || opts.requestJson !== undefined;
    const { records } = await runOffline(engine, requests, {
      concurrency: opts.concurrency,
      streaming: opts.streaming,
      eosId,
      keepOutputIds: keepIds,
      signal: opts.signal,
      onRecord: () => {
        done++;
        const s = engine.stats();
        opts.progress?.update(done, `active ${s.activeRequests}, queued ${s.queuedRequests}`);
      },
    });
    opts.progress?.stop();
    measuring = false;
    log.info("Benchmark complete.");

    const stats = computeStatistics(records, {
      streaming: opts.streaming,
      worldSize: info.tpSize * info.ppSize,
    });
    const report: ReportInput = { engine: info, stats, dataset: metadata, streaming: opts.streaming };
    opts.out(formatReport(report));
    const decode = (ids: readonly number[]) => tokenizer.decode(ids);
    if (opts.reportJson) await writeReportJson(opts.reportJson, report);
    if (opts.requestJson) await writeRequestJson(opts.requestJson, records, decode);
    if (opts.outputJson) await writeOutputJson(opts.outputJson, records, decode);
    if (iterLog) await iterLog.close();
    return { stats, report, records };
  } catch (err) {
    opts.progress?.stop();
    await iterLog?.abort();
    throw err;
  } finally {
    await engine.stop();
  }
}
