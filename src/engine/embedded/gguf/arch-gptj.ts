/**
 * GPT-J. llama.cpp knows the name "gptj" but has no model for it ("unsupported model architecture:
 * 'gptj'"), so we write the compute-equivalent "phi2" layout: the same parallel attention + MLP block
 * under one biased LayerNorm, separate q/k/v without bias, a biased output projection and MLP (GELU),
 * partial rotary (`rotary_dim`), and an untied lm_head with bias. The one difference is the rope
 * pairing (phi2 rotates halves, GPT-J interleaves pairs), which costs the same.
 */
import { ConfigError } from "../../../errors.ts";
import type { ModelConfig } from "../../../model/model-config.ts";
import type { ArchPlan, TensorPlan } from "./tensor-plan.ts";
import { kvF32, kvU32, layerNormArchKvs, matrix, rawNumber, vector } from "./tensor-plan.ts";

export function planGptj(config: ModelConfig, contextLength: number): ArchPlan {
  const a = "phi2";
  const h = config.hiddenSize;
  const hd = config.headSize;
  const nq = config.numAttentionHeads * hd;
  if (nq !== h) throw new ConfigError(`gptj needs head size × heads = hidden size (${nq} ≠ ${h})`);
  const ff = config.intermediateSize > 0 ? config.intermediateSize : 4 * h;
  const kvs = [
    ...layerNormArchKvs(a, config, contextLength, ff),
    kvU32(`${a}.rope.dimension_count`, Math.min(hd, rawNumber(config, "rotary_dim") ?? hd)),
    kvF32(`${a}.rope.freq_base`, config.ropeTheta),
  ];
  const nkv = config.numKeyValueHeads * hd;
  const tensors: TensorPlan[] = [
    matrix("token_embd.weight", h, config.vocabSize),
    vector("output_norm.weight", h),
    vector("output_norm.bias", h, "bias"),
    matrix("output.weight", h, config.vocabSize),
    vector("output.bias", config.vocabSize, "bias"),
  ];
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const b = `blk.${i}`;
    tensors.push(
      vector(`${b}.attn_norm.weight`, h),
      vector(`${b}.attn_norm.bias`, h, "bias"),
      matrix(`${b}.attn_q.weight`, h, nq),
      matrix(`${b}.attn_k.weight`, h, nkv),
      matrix(`${b}.attn_v.weight`, h, nkv),
      matrix(`${b}.attn_output.weight`, nq, h),
      vector(`${b}.attn_output.bias`, h, "bias"),
      matrix(`${b}.ffn_up.weight`, h, ff),
      vector(`${b}.ffn_up.bias`, ff, "bias"),
      matrix(`${b}.ffn_down.weight`, ff, h),
      vector(`${b}.ffn_down.bias`, h, "bias"),
    );
  }
  return { arch: a, kvs, tensors };
}
