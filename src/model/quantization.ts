/**
 * trtllm-bench's quantization names (brief §1.2, §3.7, §6) and how each one maps onto llama.cpp storage types.
 * The one table that says which GGUF weight type and KV cache type a `--quantization` gives is QUANT_TABLE below
 * (documented in docs/heuristic.md).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ConfigError, UsageError } from "../errors.ts";
import type { ModelDtype } from "./model-config.ts";

/** `VALID_QUANT_ALGOS` of `tensorrt_llm/bench/utils/__init__.py`: the `--quantization` choices. */
export const VALID_QUANT_ALGOS = [
  "W8A16",
  "W4A16",
  "W4A16_AWQ",
  "W4A8_AWQ",
  "W4A16_GPTQ",
  "FP8",
  "INT8",
  "NVFP4",
] as const;
export type CliQuantAlgo = (typeof VALID_QUANT_ALGOS)[number];

/** Every algorithm name we understand: the CLI choices plus what pre-quantized checkpoints may declare. */
export const QUANT_ALGOS = [...VALID_QUANT_ALGOS, "FP8_BLOCK_SCALES"] as const;
export type QuantAlgo = (typeof QUANT_ALGOS)[number];
/** KV cache quantization; null means "not quantized" (the model dtype). */
export const KV_QUANT_ALGOS = ["FP8", "INT8", "NVFP4"] as const;
export type KvQuantAlgo = (typeof KV_QUANT_ALGOS)[number];

/** GGUF tensor storage types the engine writes (ggml type names). */
export const GGUF_WEIGHT_TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0"] as const;
export type GgufWeightType = (typeof GGUF_WEIGHT_TYPES)[number];
/** llama.cpp KV cache types, spelled as llama.cpp's `--cache-type-k/-v` values. */
export const KV_CACHE_TYPES = ["f32", "f16", "bf16", "q8_0", "q4_0"] as const;
export type KvCacheType = (typeof KV_CACHE_TYPES)[number];

/** Bytes one weight takes in a GGUF tensor (block formats: block bytes / 32 weights). */
export const GGUF_BYTES_PER_WEIGHT: Record<GgufWeightType, number> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  Q8_0: 34 / 32,
  Q4_0: 18 / 32,
};

interface QuantRow {
  weightType: GgufWeightType;
  /** The KV quantization `build` forces for this algorithm (brief §3.7: FP8 and NVFP4 force FP8). */
  forcedKv: KvQuantAlgo | null;
  note: string;
}

/**
 * llama.cpp has no FP8 or FP4 storage, so each algorithm maps to the llama.cpp type with the same bit width:
 * 8-bit weights become Q8_0, 4-bit weights become Q4_0. AWQ/GPTQ need calibration data we do not have, so they
 * are plain round-to-nearest Q4_0 here.
 */
export const QUANT_TABLE: Record<QuantAlgo, QuantRow> = {
  FP8: { weightType: "Q8_0", forcedKv: "FP8", note: "8-bit weights, 8-bit KV cache" },
  FP8_BLOCK_SCALES: { weightType: "Q8_0", forcedKv: null, note: "8-bit block-scaled weights" },
  NVFP4: { weightType: "Q4_0", forcedKv: "FP8", note: "4-bit weights, 8-bit KV cache" },
  W8A16: { weightType: "Q8_0", forcedKv: null, note: "8-bit weight-only" },
  INT8: { weightType: "Q8_0", forcedKv: null, note: "8-bit weights (SmoothQuant W8A8 in TensorRT-LLM)" },
  W4A16: { weightType: "Q4_0", forcedKv: null, note: "4-bit weight-only" },
  W4A16_AWQ: { weightType: "Q4_0", forcedKv: null, note: "4-bit weight-only (no AWQ calibration)" },
  W4A16_GPTQ: { weightType: "Q4_0", forcedKv: null, note: "4-bit weight-only (no GPTQ calibration)" },
  W4A8_AWQ: { weightType: "Q4_0", forcedKv: null, note: "4-bit weights (no AWQ calibration)" },
};

export function isQuantAlgo(v: unknown): v is QuantAlgo {
  return typeof v === "string" && Object.hasOwn(QUANT_TABLE, v);
}

/** The model dtype as a GGUF type. float32 models are stored as F16: the heuristic budgets 2 bytes per weight. */
export function dtypeWeightType(dtype: ModelDtype): GgufWeightType {
  return dtype === "bfloat16" ? "BF16" : "F16";
}

function dtypeKvType(dtype: ModelDtype): KvCacheType {
  return dtype === "bfloat16" ? "bf16" : "f16";
}

/** llama.cpp has no FP8 cache; 8-bit caches are Q8_0, a 4-bit cache Q4_0. */
export function kvCacheTypeFor(kv: KvQuantAlgo | null, dtype: ModelDtype): KvCacheType {
  if (kv === "FP8" || kv === "INT8") return "q8_0";
  if (kv === "NVFP4") return "q4_0";
  return dtypeKvType(dtype);
}

/** `hf_quant_config.json` of a ModelOpt pre-quantized checkpoint (brief §6). */
export interface HfQuantConfig {
  file: string;
  quantAlgo: QuantAlgo | null;
  kvCacheQuantAlgo: KvQuantAlgo | null;
}

/** Reads `<modelPath>/hf_quant_config.json`; undefined when the checkpoint has none. */
export async function readHfQuantConfig(modelPath: string | undefined): Promise<HfQuantConfig | undefined> {
  if (!modelPath) return undefined;
  const file = join(modelPath, "hf_quant_config.json");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw new ConfigError(`cannot read: ${(err as Error).message}`, file, { cause: err });
  }
  return parseHfQuantConfig(text, file);
}

export function parseHfQuantConfig(text: string, file: string): HfQuantConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`not valid JSON: ${(err as Error).message}`, file, { cause: err });
  }
  const q = (doc as { quantization?: unknown } | null)?.quantization;
  if (q === null || typeof q !== "object" || Array.isArray(q)) {
    throw new ConfigError("field 'quantization': expected an object", file);
  }
  const rec = q as Record<string, unknown>;
  const algo = rec["quant_algo"] ?? null;
  if (algo !== null && !isQuantAlgo(algo)) {
    throw new ConfigError(
      `field 'quantization.quant_algo': ${JSON.stringify(algo)} is not one of ${Object.keys(QUANT_TABLE).join(", ")} or null`,
      file,
    );
  }
  const kv = rec["kv_cache_quant_algo"] ?? null;
  if (kv !== null && !(KV_QUANT_ALGOS as readonly unknown[]).includes(kv)) {
    throw new ConfigError(
      `field 'quantization.kv_cache_quant_algo': ${JSON.stringify(kv)} is not one of ${KV_QUANT_ALGOS.join(", ")} or null`,
      file,
    );
  }
  return { file, quantAlgo: algo, kvCacheQuantAlgo: kv as KvQuantAlgo | null };
}

/** `kv_cache_config.dtype` values the validator accepts (brief §6). */
export const VALID_KV_CACHE_DTYPES = ["auto", "fp8", "nvfp4"] as const;
export type KvCacheDtypeOption = (typeof VALID_KV_CACHE_DTYPES)[number];

/** What a null checkpoint KV quant becomes for each compute quant (the `_KV_CACHE_MAP` of brief §6). */
const KV_FOR_COMPUTE: Partial<Record<QuantAlgo, KvQuantAlgo>> = { FP8: "FP8", NVFP4: "FP8" };

export const KV_OVERRIDE_MISMATCH =
  "You cannot override a checkpoint with a pre-quantized KV cache that doesn't match.";

/**
 * The KV quantization a run uses, from the compute quant, the checkpoint's KV quant and the requested
 * `kv_cache_dtype` (brief §6 table):
 * - null/null → null; FP8/FP8 → FP8; FP8/null → FP8; NVFP4/null → FP8 (set by the benchmark);
 * - "auto" keeps the above; "fp8"/"nvfp4" force that cache unless the checkpoint already fixes a different one.
 */
export function resolveKvCacheQuant(
  computeQuant: QuantAlgo | null,
  checkpointKv: KvQuantAlgo | null,
  requested: string = "auto",
  source = "kv_cache_dtype",
): KvQuantAlgo | null {
  const want = requested.toLowerCase();
  if (!(VALID_KV_CACHE_DTYPES as readonly string[]).includes(want)) {
    throw new UsageError(
      `${source}: '${requested}' is not a valid KV cache dtype; choose one of ${VALID_KV_CACHE_DTYPES.join(", ")}.`,
    );
  }
  if (want === "auto") return checkpointKv ?? (computeQuant ? (KV_FOR_COMPUTE[computeQuant] ?? null) : null);
  const forced: KvQuantAlgo = want === "fp8" ? "FP8" : "NVFP4";
  if (checkpointKv !== null && checkpointKv !== forced) throw new UsageError(KV_OVERRIDE_MISMATCH);
  return forced;
}

/** Everything a build needs to know about precision. */
export interface QuantPlan {
  quantAlgo: QuantAlgo | null;
  kvCacheQuantAlgo: KvQuantAlgo | null;
  weightType: GgufWeightType;
  kvCacheType: KvCacheType;
  /** Where the compute quant came from. */
  source: "cli" | "checkpoint" | "none";
}

/**
 * The build's precision plan. `--quantization` picks the compute quant and forces the KV cache as
 * trtllm-bench's build does; a pre-quantized checkpoint (hf_quant_config.json) supplies both when the flag is
 * absent, and a flag that contradicts it is an error.
 */
export function planQuantization(args: {
  quantization: QuantAlgo | null | undefined;
  dtype: ModelDtype;
  hfQuant: HfQuantConfig | undefined;
}): QuantPlan {
  const { quantization, dtype, hfQuant } = args;
  let quantAlgo: QuantAlgo | null;
  let kv: KvQuantAlgo | null;
  let source: QuantPlan["source"];
  if (hfQuant?.quantAlgo) {
    if (quantization && quantization !== hfQuant.quantAlgo) {
      throw new UsageError(
        `--quantization ${quantization} does not match the pre-quantized checkpoint (${hfQuant.file}: quant_algo ${hfQuant.quantAlgo}).`,
      );
    }
    quantAlgo = hfQuant.quantAlgo;
    kv = resolveKvCacheQuant(quantAlgo, hfQuant.kvCacheQuantAlgo, "auto");
    source = "checkpoint";
  } else if (quantization) {
    quantAlgo = quantization;
    const forced = QUANT_TABLE[quantization].forcedKv;
    const ckptKv = hfQuant?.kvCacheQuantAlgo ?? null;
    if (forced && ckptKv && forced !== ckptKv) throw new UsageError(KV_OVERRIDE_MISMATCH);
    kv = forced ?? ckptKv;
    source = "cli";
  } else {
    quantAlgo = null;
    kv = hfQuant?.kvCacheQuantAlgo ?? null;
    source = "none";
  }
  const weightType = quantAlgo ? QUANT_TABLE[quantAlgo].weightType : dtypeWeightType(dtype);
  return { quantAlgo, kvCacheQuantAlgo: kv, weightType, kvCacheType: kvCacheTypeFor(kv, dtype), source };
}
