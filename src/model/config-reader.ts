/**
 * Hugging Face `config.json` → `ModelConfig`, with the key fallbacks trtllm-bench uses (brief §3.1) and the
 * transformers class defaults for keys a published config leaves out; and where that config.json comes from.
 */
import { readFile, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { ConfigError } from "../errors.ts";
import { log } from "../util/log.ts";
import { cachedOrDownloaded, snapshotDir } from "./hf-hub.ts";
import { bundledConfigPath, findKnownModel } from "./known-models.ts";
import type { ModelConfig, ModelDtype } from "./model-config.ts";
import { countSafetensorsParams, estimateParamCount } from "./param-count.ts";

type Json = Record<string, unknown>;

const NESTED = ["text_config", "language_config"] as const;

/** `n.key` for every nesting level trtllm-bench looks into, after the top-level keys. */
function nestedKeys(key: string, levels: readonly string[] = NESTED): string[] {
  return levels.map((l) => `${l}.${key}`);
}

function lookup(json: Json, path: string): unknown {
  let cur: unknown = json;
  for (const part of path.split(".")) {
    if (typeof cur !== "object" || cur === null || Array.isArray(cur)) return undefined;
    cur = (cur as Json)[part];
  }
  return cur;
}

/** First key whose value is present (not undefined/null), with the key for error messages. */
function first(json: Json, keys: readonly string[]): { key: string; value: unknown } | undefined {
  for (const key of keys) {
    const value = lookup(json, key);
    if (value !== undefined && value !== null) return { key, value };
  }
  return undefined;
}

class Reader {
  constructor(
    private readonly json: Json,
    private readonly file: string | undefined,
    private readonly name: string,
  ) {}

  fail(field: string, reason: string): never {
    const where = this.file ? "" : ` (config of ${this.name})`;
    throw new ConfigError(`field ${field}: ${reason}${where}`, this.file);
  }

  /** A positive integer from the first present key, or `fallback`; missing with no fallback is an error. */
  int(keys: readonly string[], fallback?: number): number {
    const hit = first(this.json, keys);
    if (!hit) {
      if (fallback === undefined) this.fail(keys.join("|"), "missing");
      return fallback;
    }
    if (typeof hit.value !== "number" || !Number.isInteger(hit.value) || hit.value <= 0) {
      this.fail(hit.key, `expected a positive integer, got ${JSON.stringify(hit.value)}`);
    }
    return hit.value;
  }

  optInt(keys: readonly string[]): number | undefined {
    return first(this.json, keys) ? this.int(keys) : undefined;
  }

  num(keys: readonly string[], fallback: number): number {
    const hit = first(this.json, keys);
    if (!hit) return fallback;
    if (typeof hit.value !== "number" || !Number.isFinite(hit.value) || hit.value <= 0) {
      this.fail(hit.key, `expected a positive number, got ${JSON.stringify(hit.value)}`);
    }
    return hit.value;
  }

  bool(keys: readonly string[], fallback: boolean): boolean {
    const hit = first(this.json, keys);
    if (!hit) return fallback;
    if (typeof hit.value !== "boolean")
      this.fail(hit.key, `expected true or false, got ${JSON.stringify(hit.value)}`);
    return hit.value;
  }

  str(keys: readonly string[]): string | undefined {
    const hit = first(this.json, keys);
    if (!hit) return undefined;
    if (typeof hit.value !== "string" || hit.value === "") {
      this.fail(hit.key, `expected a non-empty string, got ${JSON.stringify(hit.value)}`);
    }
    return hit.value;
  }
}

const DTYPE_ALIASES: Record<string, ModelDtype> = {
  float16: "float16",
  fp16: "float16",
  half: "float16",
  bfloat16: "bfloat16",
  bf16: "bfloat16",
  float32: "float32",
  fp32: "float32",
  float: "float32",
};

/** transformers' per-class `max_position_embeddings` defaults, for configs that omit it (e.g. Falcon-180B). */
const MAX_POSITION_DEFAULTS: Record<string, number> = {
  llama: 2048,
  falcon: 2048,
  gptj: 2048,
  gpt2: 1024,
  mistral: 4096 * 32,
  mixtral: 4096 * 32,
  qwen2: 32768,
};

/** Classes whose config defaults `tie_word_embeddings` to false; `PretrainedConfig` itself defaults to true. */
const UNTIED_BY_DEFAULT = new Set(["llama", "mistral", "mixtral", "gptj", "qwen2", "qwen2_moe", "phi3"]);

export function parseModelConfig(json: unknown, name: string, file?: string): ModelConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new ConfigError(`config.json must be a JSON object (config of ${name})`, file);
  }
  const raw = json as Json;
  const r: Reader = new Reader(raw, file, name);

  const modelType = r.str(["model_type", ...nestedKeys("model_type")]);
  if (modelType === undefined) r.fail("model_type", "missing");

  const numHiddenLayers = r.int(["num_hidden_layers", "n_layer", ...nestedKeys("num_hidden_layers")]);
  const numAttentionHeads = r.int(["num_attention_heads", "n_head", ...nestedKeys("num_attention_heads")]);
  const hiddenSize = r.int(["hidden_size", "n_embd", ...nestedKeys("hidden_size")]);

  // Falcon-7B style multi-query attention has one KV head without saying so in num_kv_heads.
  const falconMqa =
    modelType === "falcon" && raw.multi_query === true && raw.new_decoder_architecture !== true
      ? 1
      : undefined;
  const numKeyValueHeads = r.int(
    ["num_key_value_heads", "num_kv_heads", ...nestedKeys("num_key_value_heads")],
    falconMqa ?? numAttentionHeads,
  );
  const headSize = r.int(
    ["head_size", "head_dim", "attention_head_dim", ...nestedKeys("head_dim", ["text_config"])],
    Math.floor(hiddenSize / numAttentionHeads),
  );
  if (headSize <= 0) r.fail("head_size", "hidden_size / num_attention_heads rounds to 0");

  const intermediateSize = r.int(
    ["intermediate_size", "n_inner", "ffn_hidden_size", ...nestedKeys("intermediate_size")],
    4 * hiddenSize,
  );
  const vocabSize = r.int(["vocab_size", "padded_vocab_size", ...nestedKeys("vocab_size")]);
  const maxPositionEmbeddings = r.int(
    [
      "max_position_embeddings",
      "n_positions",
      "max_sequence_length",
      ...nestedKeys("max_position_embeddings"),
    ],
    MAX_POSITION_DEFAULTS[modelType],
  );

  const dtypeHit = first(raw, ["dtype", "torch_dtype", ...nestedKeys("torch_dtype")]);
  let dtype: ModelDtype = "float16";
  if (dtypeHit) {
    const mapped = typeof dtypeHit.value === "string" ? DTYPE_ALIASES[dtypeHit.value] : undefined;
    if (!mapped)
      r.fail(dtypeHit.key, `expected float16, bfloat16 or float32, got ${JSON.stringify(dtypeHit.value)}`);
    dtype = mapped;
  }

  let numAttentionLayers = numHiddenLayers;
  const pattern = raw.hybrid_override_pattern;
  if (typeof pattern === "string" && pattern.length > 0) {
    numAttentionLayers = [...pattern].filter((c) => c === "*").length;
  }

  const architectures = raw.architectures;
  const architecture =
    Array.isArray(architectures) && typeof architectures[0] === "string" ? architectures[0] : undefined;

  const ropeTheta = r.num(
    ["rope_theta", "rotary_emb_base", "rope_parameters.rope_theta", ...nestedKeys("rope_theta")],
    10000,
  );
  const rmsNormEps = r.num(
    ["rms_norm_eps", "layer_norm_epsilon", "layer_norm_eps", ...nestedKeys("rms_norm_eps")],
    1e-6,
  );
  const tieWordEmbeddings = r.bool(
    ["tie_word_embeddings", ...nestedKeys("tie_word_embeddings")],
    !UNTIED_BY_DEFAULT.has(modelType),
  );
  const numLocalExperts = r.optInt([
    "num_local_experts",
    "num_experts",
    "n_routed_experts",
    ...nestedKeys("num_local_experts"),
  ]);
  const numExpertsPerTok = r.optInt([
    "num_experts_per_tok",
    "moe_topk",
    ...nestedKeys("num_experts_per_tok"),
  ]);

  return {
    name,
    modelType,
    architecture,
    numHiddenLayers,
    numAttentionLayers,
    numAttentionHeads,
    numKeyValueHeads,
    hiddenSize,
    headSize,
    intermediateSize,
    vocabSize,
    maxPositionEmbeddings,
    dtype,
    paramCount: undefined,
    ropeTheta,
    rmsNormEps,
    tieWordEmbeddings,
    numLocalExperts,
    numExpertsPerTok: numLocalExperts === undefined ? undefined : numExpertsPerTok,
    raw,
  };
}

/** Read and parse one config.json; I/O and JSON errors name the file. */
export async function readModelConfigFile(file: string, name: string): Promise<ModelConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config.json: ${(err as Error).message}`, file, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`invalid JSON: ${(err as Error).message}`, file, { cause: err });
  }
  return parseModelConfig(json, name, file);
}

// --- Resolution: --model_path, the bundled copy, the HF cache, then the Hub; then the parameter count:
// local safetensors headers, else the bundled value, else an estimate from the shape.

export interface ResolveModelConfigOptions {
  model: string;
  modelPath?: string | undefined;
  revision?: string | undefined;
}

async function isDir(path: string): Promise<boolean | undefined> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return undefined;
  }
}

async function hasFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** The folder under `--model_path` that holds config.json (the path itself or a cache repo's snapshot). */
async function localConfigDir(modelPath: string, revision: string | undefined): Promise<string | undefined> {
  const path = resolve(modelPath);
  const dir = await isDir(path);
  if (dir === undefined) throw new ConfigError("--model_path does not exist", modelPath);
  if (!dir) return undefined;
  if (await hasFile(join(path, "config.json"))) return path;
  if (basename(path).startsWith("models--")) {
    const snap = await snapshotDir(path, revision ?? "main");
    if (snap && (await hasFile(join(snap, "config.json")))) return snap;
  }
  return undefined;
}

/** trtllm-bench keeps GPT-J's count fixed whatever the checkpoint says. */
const ALWAYS_HARDCODED = "eleutherai/gpt-j-6b";

async function paramCountFor(cfg: ModelConfig, weightsDir: string | undefined): Promise<number> {
  const known = findKnownModel(cfg.name);
  if (known && cfg.name.toLowerCase() === ALWAYS_HARDCODED) return known.paramCount;
  if (weightsDir) {
    const counted = await countSafetensorsParams(weightsDir);
    if (counted) {
      log.verbose(`Parameter count from safetensors headers in ${weightsDir}: ${counted.total}`);
      return counted.total;
    }
  }
  if (known) return known.paramCount;
  const estimate = estimateParamCount(cfg);
  log.info(
    `Parameter count of ${cfg.name} estimated from its config.json shape: ${estimate} (no safetensors found)`,
  );
  return estimate;
}

export async function resolveModelConfig(opts: ResolveModelConfigOptions): Promise<ModelConfig> {
  let file: string | undefined;
  let weightsDir: string | undefined;
  if (opts.modelPath !== undefined) {
    const dir = await localConfigDir(opts.modelPath, opts.revision);
    if (dir) {
      file = join(dir, "config.json");
      weightsDir = dir;
    } else {
      log.verbose(`No config.json under ${opts.modelPath}; looking up ${opts.model}'s config instead`);
    }
  }
  if (!file) {
    const bundled = await bundledConfigPath(opts.model);
    if (bundled && (await hasFile(bundled))) file = bundled;
  }
  if (!file) {
    const dir = await cachedOrDownloaded(opts.model, opts.revision, [{ name: "config.json" }], "config.json");
    file = join(dir, "config.json");
    weightsDir = dir;
  }
  const cfg = await readModelConfigFile(file, opts.model);
  cfg.paramCount = await paramCountFor(cfg, weightsDir);
  return cfg;
}
