/**
 * trtllm-bench's build tuning heuristic (brief §3.3–§3.5) as pure functions: how many requests fit in the KV
 * cache, and the rounding ladders that turn that into max_batch_size / max_num_tokens.
 * Version "B" (newer trtllm-bench, GiB engine size, attention layers only) is the default; version "A" (0.16/0.17,
 * decimal-billion engine size, FP8-only byte table, `--compat 0.17`) reproduces 0.17. See docs/heuristic.md.
 * Memory values are in GiB although the seed labels them "GB"; the log lines keep the seed's wording.
 */
import type { DatasetMetadata } from "../dataset/types.ts";
import type { ModelConfig } from "./model-config.ts";
import type { KvQuantAlgo, QuantAlgo } from "./quantization.ts";

export type HeuristicVersion = "A" | "B";

/** Fraction of the free memory `build` gives the KV cache. */
export const BUILD_KV_CACHE_FRACTION = 0.95;
/** BuildConfig defaults used when no build mode is chosen or the quantization is not tuned. */
export const DEFAULT_MAX_BATCH_SIZE = 2048;
export const DEFAULT_MAX_NUM_TOKENS = 8192;
/** Caps of finetune_setting: decoder buffers (requests) and activation buffers (tokens). */
export const MAX_BATCH_SIZE_CAP = 4096;
export const MAX_NUM_TOKENS_CAP = 32768;

/** Version B's BYTES_PER_ELEM; anything else (and null, for the KV cache) counts 2 bytes. */
export const BYTES_PER_ELEM: Readonly<Record<string, number>> = {
  NO_QUANT: 2,
  FP8: 1,
  FP8_BLOCK_SCALES: 1,
  NVFP4: 0.5,
};

/** Bytes per weight or KV element. Version A only knew FP8 (1 byte) and everything else (2 bytes). */
export function bytesPerElem(algo: QuantAlgo | KvQuantAlgo | null, version: HeuristicVersion = "B"): number {
  if (version === "A") return algo === "FP8" ? 1 : 2;
  return algo === null ? 2 : (BYTES_PER_ELEM[algo] ?? 2);
}

/**
 * Quantizations the heuristic runs for; others get the BuildConfig defaults (brief §3.6). 0.17 (version A)
 * already tuned NVFP4, with version A's byte table: 2 bytes per weight, and the FP8 KV cache NVFP4 forces.
 */
export function isTunedQuant(algo: QuantAlgo | null, version: HeuristicVersion = "B"): boolean {
  if (algo === null || algo === "FP8" || algo === "NVFP4") return true;
  return version === "B" && algo === "FP8_BLOCK_SCALES";
}

/**
 * The targets `build --dataset` tunes for. 0.16/0.17 (version A) computed the dataset averages as
 * `math.ceil(sum / len)`; newer releases truncate (`int(average)`, the dataset metadata's `avg_isl`).
 */
export function datasetTargets(
  dataset: Pick<DatasetMetadata, "isl_stats" | "osl_stats" | "avg_isl" | "avg_osl">,
  version: HeuristicVersion,
): { targetInputLen: number; targetOutputLen: number } {
  if (version === "A") {
    return {
      targetInputLen: Math.ceil(dataset.isl_stats.average),
      targetOutputLen: Math.ceil(dataset.osl_stats.average),
    };
  }
  return { targetInputLen: dataset.avg_isl, targetOutputLen: dataset.avg_osl };
}

/** The parts of a model config the KV-size formula needs. */
export interface KvGeometry {
  numHiddenLayers: number;
  numAttentionLayers: number;
  numKeyValueHeads: number;
  headSize: number;
  /** MLA models (DeepSeek-V2/V3): compressed KV rank and the decoupled RoPE head size. */
  kvLoraRank?: number | undefined;
  qkRopeHeadDim?: number | undefined;
}

function positiveInt(v: unknown): number | undefined {
  return typeof v === "number" && Number.isInteger(v) && v > 0 ? v : undefined;
}

export function kvGeometry(config: ModelConfig): KvGeometry {
  return {
    numHiddenLayers: config.numHiddenLayers,
    numAttentionLayers: config.numAttentionLayers,
    numKeyValueHeads: config.numKeyValueHeads,
    headSize: config.headSize,
    kvLoraRank: positiveInt(config.raw["kv_lora_rank"]),
    qkRopeHeadDim: positiveInt(config.raw["qk_rope_head_dim"]),
  };
}

/** Each TP rank holds at least one KV head, so small-GQA models replicate heads under wide TP. */
export function adjustedKvHeads(numKeyValueHeads: number, tpSize: number): number {
  return Math.max(tpSize, numKeyValueHeads);
}

/** KV cache GiB per token over the whole model (K and V, every KV-holding layer). */
export function gbPerToken(
  geom: KvGeometry,
  tpSize: number,
  bytesPerKvElem: number,
  version: HeuristicVersion = "B",
): number {
  if (version === "B" && geom.kvLoraRank !== undefined && geom.qkRopeHeadDim !== undefined) {
    return (geom.numAttentionLayers * (geom.kvLoraRank + geom.qkRopeHeadDim) * bytesPerKvElem) / 1024 ** 3;
  }
  // Version A counts every hidden layer; B only those with attention (and MLA's compressed cache above).
  const layers = version === "A" ? geom.numHiddenLayers : geom.numAttentionLayers;
  return (
    (2 * layers * adjustedKvHeads(geom.numKeyValueHeads, tpSize) * geom.headSize * bytesPerKvElem) / 1024 ** 3
  );
}

/** Weights size: version A multiplies decimal billions of parameters (and compares it with GiB); B uses GiB. */
export function engineSizeGb(
  paramCount: number,
  bytesPerWeight: number,
  version: HeuristicVersion = "B",
): number {
  return version === "A"
    ? (paramCount / 1000 ** 3) * bytesPerWeight
    : (paramCount * bytesPerWeight) / 1024 ** 3;
}

export interface HeuristicInput {
  version: HeuristicVersion;
  geometry: KvGeometry;
  paramCount: number;
  quantAlgo: QuantAlgo | null;
  kvCacheQuantAlgo: KvQuantAlgo | null;
  tpSize: number;
  ppSize: number;
  targetInputLen: number;
  targetOutputLen: number;
  /** Memory of one device in GiB (every device is assumed identical). */
  deviceMemoryGb: number;
  /** Defaults to BUILD_KV_CACHE_FRACTION. */
  kvCacheFraction?: number;
  /** Per-request state outside the KV cache (Mamba conv+SSM state of hybrid models), GiB; version B only. */
  extraCacheGbPerRequest?: number;
}

export interface HeuristicEstimate {
  version: HeuristicVersion;
  bytesPerElem: number;
  bytesPerKvElem: number;
  adjustedKvHeads: number;
  gbPerToken: number;
  nGpus: number;
  engineSize: number;
  totalDeviceMemory: number;
  availableMemory: number;
  kvCacheFraction: number;
  kvCacheMemory: number;
  kvMaxTokens: number;
  kvMaxRequests: number;
  /** Hybrid models: squared fraction and non-optimistic rounding. */
  hybrid: boolean;
}

export function estimateKvCapacity(input: HeuristicInput): HeuristicEstimate {
  const { version, geometry, tpSize, ppSize } = input;
  const bpe = bytesPerElem(input.quantAlgo, version);
  const bpkv = bytesPerElem(input.kvCacheQuantAlgo, version);
  const perToken = gbPerToken(geometry, tpSize, bpkv, version);
  const nGpus = tpSize * ppSize;
  const engineSize = engineSizeGb(input.paramCount, bpe, version);
  const totalDeviceMemory = input.deviceMemoryGb * nGpus;
  const availableMemory = totalDeviceMemory - engineSize;
  const seqLen = input.targetInputLen + input.targetOutputLen;
  const extra = version === "B" ? (input.extraCacheGbPerRequest ?? 0) : 0;
  const hybrid = extra > 0;
  const base = input.kvCacheFraction ?? BUILD_KV_CACHE_FRACTION;
  const fraction = hybrid ? base * base : base;
  const kvCacheMemory = availableMemory * fraction;
  // Version A divides in 0.17's order (tokens first, then requests): the last bit can decide a ceil().
  const kvMaxRequests =
    version === "A" ? kvCacheMemory / perToken / seqLen : kvCacheMemory / (perToken * seqLen + extra);
  const kvMaxTokens = (kvCacheMemory - extra * kvMaxRequests) / perToken;
  return {
    version,
    bytesPerElem: bpe,
    bytesPerKvElem: bpkv,
    adjustedKvHeads: adjustedKvHeads(geometry.numKeyValueHeads, tpSize),
    gbPerToken: perToken,
    nGpus,
    engineSize,
    totalDeviceMemory,
    availableMemory,
    kvCacheFraction: fraction,
    kvCacheMemory,
    kvMaxTokens,
    kvMaxRequests,
    hybrid,
  };
}

/** Batch-size ladder: steps of 32 (at least 64) below 256, 128 below 1024, 256 above. */
export function roundBatchSize(rawBs: number, optimistic = true): number {
  if (!optimistic) return 2 * Math.floor(rawBs / 2);
  if (rawBs < 256) return Math.max(64, 32 * Math.ceil(rawBs / 32));
  if (rawBs < 1024) return 128 * Math.ceil(rawBs / 128);
  return 256 * Math.ceil(rawBs / 256);
}

/** Token ladder: steps of 256 (at least 2048) below 4096, 512 below 8192, 1024 above. */
export function roundNumTokens(rawToken: number): number {
  if (rawToken < 4096) return Math.max(2048, 256 * Math.ceil(rawToken / 256));
  if (rawToken < 8192) return 512 * Math.ceil(rawToken / 512);
  return 1024 * Math.ceil(rawToken / 1024);
}

export interface FinetuneResult {
  rawBatchSize: number;
  rawNumTokens: number;
  maxBatchSize: number;
  maxNumTokens: number;
}

/** `finetune_setting`: cap, divide by PP, then round up a little (brief §3.4). */
export function finetuneSetting(
  kvMaxRequests: number,
  inputLen: number,
  outputLen: number,
  ppSize: number,
  optimistic = true,
): FinetuneResult {
  const rawBatchSize = Math.min(kvMaxRequests, MAX_BATCH_SIZE_CAP) / ppSize;
  const rawNumTokens = Math.min(rawBatchSize * (1 + inputLen / outputLen), MAX_NUM_TOKENS_CAP);
  return {
    rawBatchSize,
    rawNumTokens,
    maxBatchSize: roundBatchSize(rawBatchSize, optimistic),
    maxNumTokens: roundNumTokens(rawNumTokens),
  };
}

const f2 = (x: number) => x.toFixed(2);

/** Fatal conditions (the seed's RuntimeErrors) and warnings of calc_engine_setting. */
export function checkEstimate(est: HeuristicEstimate, geometry: KvGeometry, tpSize: number, ppSize: number) {
  const errors: string[] = [];
  const warnings: string[] = [];
  if (est.totalDeviceMemory < est.engineSize) {
    errors.push(
      [
        `The model requires at least: ${f2(est.engineSize)} GB, the total device memory of ${f2(est.totalDeviceMemory)} GB is insufficient.`,
        `Estimation based on: bytes per element ${est.bytesPerElem}, bytes per KV element ${est.bytesPerKvElem},`,
        `${est.nGpus} device(s) (TP ${tpSize} x PP ${ppSize}), ${geometry.numKeyValueHeads} KV heads (adjusted ${est.adjustedKvHeads}),`,
        `head size ${geometry.headSize}, ${geometry.numHiddenLayers} hidden layers, KV cache memory fraction ${est.kvCacheFraction}.`,
        "Use more devices, a smaller quantization, or --device_memory to plan for a larger machine.",
      ].join("\n"),
    );
  } else if (!(est.kvMaxRequests >= 1)) {
    errors.push(
      "The amount of KV cache memory is insufficient to run this model. Please try with more GPUs.",
    );
  }
  if (est.kvCacheMemory / est.nGpus < 10.0) {
    warnings.push(
      "The KV cache memory per GPU is less than 10 GB. Performance may be undesirable. " +
        "Please consider using a different mapping or more GPUs.",
    );
  }
  if (est.kvMaxRequests < 32) {
    warnings.push(
      "The maximum number of requests in the KV cache is too small. Performance may be undesirable. " +
        "Please consider using more GPUs or a different mapping to process more concurrent requests.",
    );
  }
  return { errors, warnings };
}

/** The info lines trtllm-bench logs for the estimate, in its order and wording (version A omits B's extras). */
export function heuristicLogLines(
  est: HeuristicEstimate,
  fine: FinetuneResult,
  geometry: KvGeometry,
): string[] {
  const lines: string[] = [];
  if (est.version === "B") {
    lines.push(`Number of attention layers: ${geometry.numAttentionLayers}`);
    lines.push(`Estimated engine size: ${f2(est.engineSize)} GB`);
  }
  lines.push(`Estimated total available memory for KV cache: ${f2(est.availableMemory)} GB`);
  lines.push(`Estimated total KV cache memory: ${f2(est.kvCacheMemory)} GB`);
  if (est.version === "B") lines.push(`Estimated kv cache max tokens: ${f2(est.kvMaxTokens)}`);
  lines.push(`Estimated max number of requests in KV cache memory: ${f2(est.kvMaxRequests)}`);
  lines.push(`Estimated max batch size (after fine-tune): ${fine.maxBatchSize}`);
  lines.push(`Estimated max num tokens (after fine-tune): ${fine.maxNumTokens}`);
  return lines;
}

export interface HeuristicPlan extends FinetuneResult {
  estimate: HeuristicEstimate;
  logLines: string[];
  warnings: string[];
  /** Non-empty when the model cannot run with this memory; the caller prints logLines first, then fails. */
  errors: string[];
}

/** calc_engine_setting without side effects: the estimate, rounded settings, log lines, warnings and errors. */
export function planEngineSetting(input: HeuristicInput): HeuristicPlan {
  const estimate = estimateKvCapacity(input);
  const fine = finetuneSetting(
    estimate.kvMaxRequests,
    input.targetInputLen,
    input.targetOutputLen,
    input.ppSize,
    !estimate.hybrid,
  );
  const { errors, warnings } = checkEstimate(estimate, input.geometry, input.tpSize, input.ppSize);
  if (errors.length === 0 && !(fine.maxBatchSize > 0 && fine.maxNumTokens > 0)) {
    errors.push("Unable to obtain correct settings for benchmark.");
  }
  return { ...fine, estimate, logLines: heuristicLogLines(estimate, fine, input.geometry), warnings, errors };
}
