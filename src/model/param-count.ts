/**
 * Parameter counts: exact from local safetensors headers (as trtllm-bench does for a `--model_path`
 * directory), or estimated from the config's shape.
 */
import { open, readFile, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { ConfigError } from "../errors.ts";
import type { ModelConfig } from "./model-config.ts";

export interface SafetensorsCount {
  total: number;
  /** Keyed by safetensors dtype names (BF16, F16, F32, ...), like huggingface_hub's `parameter_count`. */
  byDtype: Record<string, number>;
}

/** safetensors caps the JSON header at 100 MB; a larger length means a corrupt or foreign file. */
const MAX_HEADER = 100 * 1024 * 1024;

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Reads only the 8-byte length and the JSON header of one .safetensors file. */
async function countFile(file: string, into: SafetensorsCount): Promise<void> {
  const fh = await open(file, "r").catch((err: unknown) => {
    throw new ConfigError(`cannot open: ${(err as Error).message}`, file, { cause: err });
  });
  let header: Record<string, unknown>;
  try {
    const len = Buffer.alloc(8);
    const { bytesRead } = await fh.read(len, 0, 8, 0);
    const n = bytesRead === 8 ? len.readBigUInt64LE(0) : -1n;
    if (n <= 0n || n > BigInt(MAX_HEADER))
      throw new ConfigError("not a safetensors file (bad header length)", file);
    const buf = Buffer.alloc(Number(n));
    const got = await fh.read(buf, 0, buf.length, 8);
    if (got.bytesRead !== buf.length) throw new ConfigError("truncated safetensors header", file);
    try {
      header = JSON.parse(buf.toString("utf8")) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`safetensors header is not JSON: ${(err as Error).message}`, file, {
        cause: err,
      });
    }
  } finally {
    await fh.close();
  }
  for (const [tensor, info] of Object.entries(header)) {
    if (tensor === "__metadata__") continue;
    const t = info as { dtype?: unknown; shape?: unknown };
    if (typeof t?.dtype !== "string" || !Array.isArray(t.shape)) {
      throw new ConfigError(`tensor ${tensor}: missing dtype or shape`, file);
    }
    let count = 1;
    for (const d of t.shape) {
      if (typeof d !== "number" || !Number.isInteger(d) || d < 0) {
        throw new ConfigError(`tensor ${tensor}: bad shape ${JSON.stringify(t.shape)}`, file);
      }
      count *= d;
    }
    into.byDtype[t.dtype] = (into.byDtype[t.dtype] ?? 0) + count;
    into.total += count;
  }
}

/**
 * Counts the parameters in `dir/model.safetensors` or in the shards that `dir/model.safetensors.index.json`
 * names. Undefined when neither file exists.
 */
export async function countSafetensorsParams(dir: string): Promise<SafetensorsCount | undefined> {
  const result: SafetensorsCount = { total: 0, byDtype: {} };
  const single = join(dir, "model.safetensors");
  if (await exists(single)) {
    await countFile(single, result);
    return result;
  }
  const indexPath = join(dir, "model.safetensors.index.json");
  let indexText: string;
  try {
    indexText = await readFile(indexPath, "utf8");
  } catch {
    return undefined;
  }
  let index: { weight_map?: unknown };
  try {
    index = JSON.parse(indexText) as { weight_map?: unknown };
  } catch (err) {
    throw new ConfigError(`invalid JSON: ${(err as Error).message}`, indexPath, { cause: err });
  }
  const map = index.weight_map;
  if (typeof map !== "object" || map === null || Array.isArray(map)) {
    throw new ConfigError("field weight_map: missing or not an object", indexPath);
  }
  const shards = new Set<string>();
  for (const [tensor, shard] of Object.entries(map)) {
    if (typeof shard !== "string")
      throw new ConfigError(`field weight_map.${tensor}: not a file name`, indexPath);
    shards.add(resolve(dirname(indexPath), shard));
  }
  for (const shard of shards) await countFile(shard, result);
  return result;
}

/**
 * GPT-style model types: an up→act→down MLP (no gate projection) and LayerNorm (weight + bias) instead of RMSNorm.
 * Every other type is counted as Llama-style (gated MLP, RMSNorm).
 */
const GPT_STYLE = new Set([
  "gptj",
  "falcon",
  "gpt2",
  "gpt_neox",
  "gpt_bigcode",
  "opt",
  "bloom",
  "phi",
  "starcoder2",
]);

function num(raw: Record<string, unknown>, key: string): number | undefined {
  const v = raw[key];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/**
 * Parameters implied by the config: embeddings, per-layer attention and MLP (or experts + router), norms, and
 * the LM head unless tied. Exact for Llama/Mistral/Mixtral shapes; an estimate for anything more exotic
 * (MLA attention, dense-then-MoE stacks, vision towers are not modelled).
 */
export function estimateParamCount(cfg: ModelConfig): number {
  const { hiddenSize: h, vocabSize: v, headSize: hd, numAttentionHeads: nh, numKeyValueHeads: nkv } = cfg;
  const raw = cfg.raw;
  const type = cfg.modelType;
  const gptj = type === "gptj";
  const falcon = type === "falcon";

  const qOut = nh * hd;
  const kvOut = nkv * hd;
  let attention = h * qOut + 2 * h * kvOut + qOut * h;
  const linearBias = (falcon && raw.bias === true) || raw.attention_bias === true;
  if (linearBias) attention += qOut + 2 * kvOut + h;
  else if (type === "qwen2" || type === "qwen2_moe") attention += qOut + 2 * kvOut;

  const gated = !GPT_STYLE.has(type);
  const mlpOf = (inter: number): number => {
    let p = (gated ? 3 : 2) * h * inter;
    if (gptj || (falcon && raw.bias === true) || raw.mlp_bias === true) p += (gated ? 2 : 1) * inter + h;
    return p;
  };
  let mlp: number;
  if (cfg.numLocalExperts !== undefined) {
    const expertInter = num(raw, "moe_intermediate_size") ?? cfg.intermediateSize;
    mlp = cfg.numLocalExperts * mlpOf(expertInter) + h * cfg.numLocalExperts;
    const shared = num(raw, "shared_expert_intermediate_size");
    const nShared = num(raw, "n_shared_experts");
    if (shared !== undefined) mlp += mlpOf(shared) + h;
    else if (nShared !== undefined) mlp += nShared * mlpOf(expertInter);
  } else {
    mlp = mlpOf(cfg.intermediateSize);
  }

  const normSize = GPT_STYLE.has(type) ? 2 * h : h;
  let normsPerLayer = 2;
  if (gptj) normsPerLayer = 1;
  else if (falcon) {
    normsPerLayer =
      raw.new_decoder_architecture === true
        ? (num(raw, "num_ln_in_parallel_attn") ?? 2)
        : raw.parallel_attn
          ? 1
          : 2;
  }

  const layers = cfg.numHiddenLayers * (attention + mlp + normsPerLayer * normSize);
  const embedding = v * h;
  const lmHead = cfg.tieWordEmbeddings ? 0 : v * h + (gptj ? v : 0);
  return embedding + layers + normSize + lmHead;
}
