/**
 * HF checkpoint → GGUF tensors for the llama family (llama, mistral, mixtral), as llama.cpp's converter
 * maps them: names, the q/k row permutation, and Mixtral's per-expert tensors stacked into one 3-D tensor.
 */
import { ConfigError, UnsupportedError } from "../../../errors.ts";
import type { ModelConfig } from "../../../model/model-config.ts";
import { rowChunk } from "./dummy.ts";
import type { CheckpointReader, SafetensorsEntry } from "./safetensors.ts";
import type { TensorPlan } from "./tensor-plan.ts";

/** One HF tensor feeding (part of) a GGUF tensor; `ropeHeads` asks for the q/k permutation. */
export interface SourcePart {
  hf: string;
  ropeHeads?: number;
}

const LLAMA_FAMILY = new Set(["llama", "mistral", "mixtral"]);
const LAYER_NAMES: Record<string, string> = {
  "attn_norm.weight": "input_layernorm.weight",
  "attn_q.weight": "self_attn.q_proj.weight",
  "attn_k.weight": "self_attn.k_proj.weight",
  "attn_v.weight": "self_attn.v_proj.weight",
  "attn_output.weight": "self_attn.o_proj.weight",
  "ffn_norm.weight": "post_attention_layernorm.weight",
  "ffn_gate.weight": "mlp.gate_proj.weight",
  "ffn_up.weight": "mlp.up_proj.weight",
  "ffn_down.weight": "mlp.down_proj.weight",
  "ffn_gate_inp.weight": "block_sparse_moe.gate.weight",
};
/** Mixtral experts: w1 = gate, w3 = up, w2 = down. */
const EXPERT_NAMES: Record<string, string> = {
  "ffn_gate_exps.weight": "w1",
  "ffn_up_exps.weight": "w3",
  "ffn_down_exps.weight": "w2",
};
const TOP_NAMES: Record<string, string> = {
  "token_embd.weight": "model.embed_tokens.weight",
  "output_norm.weight": "model.norm.weight",
  "output.weight": "lm_head.weight",
};
/** HF tensors that carry no weights llama.cpp needs. */
const IGNORED = /(^|\.)rotary_emb\.inv_freq$/;

/** Checkpoint conversion exists for the llama family only. */
export function assertConvertible(config: ModelConfig): void {
  if (!LLAMA_FAMILY.has(config.modelType)) {
    throw new UnsupportedError(
      `converting a safetensors checkpoint is implemented for llama, mistral and mixtral, not "${config.modelType}"`,
    );
  }
}

/** Where each planned GGUF tensor comes from in the checkpoint. */
export function llamaSources(t: TensorPlan, config: ModelConfig): SourcePart[] {
  assertConvertible(config);
  const top = TOP_NAMES[t.name];
  if (top) return [{ hf: top }];
  const m = /^blk\.(\d+)\.(.+)$/.exec(t.name);
  if (!m) throw new Error(`no checkpoint source for ${t.name}`);
  const [, layer, rest] = m as unknown as [string, string, string];
  const expert = EXPERT_NAMES[rest];
  if (expert) {
    const n = t.dims[2]!;
    return Array.from({ length: n }, (_, e) => ({
      hf: `model.layers.${layer}.block_sparse_moe.experts.${e}.${expert}.weight`,
    }));
  }
  const hf = LAYER_NAMES[rest];
  if (!hf) throw new Error(`no checkpoint source for ${t.name}`);
  const part: SourcePart = { hf: `model.layers.${layer}.${hf}` };
  if (rest === "attn_q.weight") part.ropeHeads = config.numAttentionHeads;
  if (rest === "attn_k.weight") part.ropeHeads = config.numKeyValueHeads;
  return [part];
}

/**
 * llama.cpp rotates adjacent pairs (x0,x1),(x2,x3)…; HF Llama rotates halves (x_i, x_{i+d/2}). Within
 * each head, GGUF row 2i+j is HF row j·d/2+i (j ∈ {0,1}), so both compute the same attention.
 */
export function permuteRopeRows(src: Float32Array, rowLen: number, headDim: number): Float32Array {
  const out = new Float32Array(src.length);
  const rows = src.length / rowLen;
  const half = headDim / 2;
  for (let r = 0; r < rows; r++) {
    const head = Math.floor(r / headDim);
    const k = r % headDim;
    const j = k % 2;
    const i = (k - j) / 2;
    const from = head * headDim + j * half + i;
    out.set(src.subarray(from * rowLen, (from + 1) * rowLen), r * rowLen);
  }
  return out;
}

/** Check every planned tensor has a source of the right shape, and that no checkpoint tensor is left over. */
export function resolveSources(
  plan: readonly TensorPlan[],
  config: ModelConfig,
  index: Map<string, SafetensorsEntry>,
  dir: string,
): Map<string, { part: SourcePart; entry: SafetensorsEntry }[]> {
  const out = new Map<string, { part: SourcePart; entry: SafetensorsEntry }[]>();
  const used = new Set<string>();
  for (const t of plan) {
    if (t.role === "constant") continue;
    const parts = llamaSources(t, config);
    const want = t.dims.slice(0, 2).reverse();
    const resolved = parts.map((part) => {
      const entry = index.get(part.hf);
      if (!entry) throw new ConfigError(`checkpoint has no tensor ${part.hf} (needed for ${t.name})`, dir);
      const got = entry.shape;
      if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
        throw new ConfigError(
          `tensor ${part.hf} has shape [${got.join(", ")}], the config implies [${want.join(", ")}]`,
          entry.file,
        );
      }
      used.add(part.hf);
      return { part, entry };
    });
    out.set(t.name, resolved);
  }
  if (config.tieWordEmbeddings) used.add("lm_head.weight");
  const extra = [...index.keys()].filter((k) => !used.has(k) && !IGNORED.test(k));
  if (extra.length > 0) {
    const shown = extra.slice(0, 5).join(", ") + (extra.length > 5 ? ` (+${extra.length - 5} more)` : "");
    throw new UnsupportedError(`${dir}: checkpoint tensors with no GGUF mapping: ${shown}`);
  }
  return out;
}

/** A planned tensor's values read from the checkpoint, in chunks of whole rows (whole heads for q/k). */
export async function* checkpointValues(
  t: TensorPlan,
  parts: readonly { part: SourcePart; entry: SafetensorsEntry }[],
  reader: CheckpointReader,
  headDim: number,
): AsyncGenerator<Float32Array> {
  const rowLen = t.dims[0]!;
  for (const { part, entry } of parts) {
    const n = entry.shape.reduce((a, b) => a * b, 1);
    let step = rowChunk(rowLen, n);
    if (part.ropeHeads) step = Math.max(1, Math.floor(step / (rowLen * headDim))) * rowLen * headDim;
    for (let first = 0; first < n; first += step) {
      const chunk = await reader.read(entry, first, Math.min(step, n - first));
      yield part.ropeHeads ? permuteRopeRows(chunk, rowLen, headDim) : chunk;
    }
  }
}
