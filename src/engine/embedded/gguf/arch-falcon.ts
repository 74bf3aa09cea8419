/**
 * Falcon (7B style: multi-query, one LayerNorm per block; 40B/180B style "new decoder architecture":
 * grouped KV and two parallel LayerNorms). Fused QKV laid out as [all q | all k | all v], the order
 * llama.cpp's converter produces from HF's grouped layout.
 */
import { ConfigError, UnsupportedError } from "../../../errors.ts";
import type { ModelConfig } from "../../../model/model-config.ts";
import type { ArchPlan, TensorPlan } from "./tensor-plan.ts";
import { kvF32, layerNormArchKvs, matrix, rawNumber, vector } from "./tensor-plan.ts";

export function planFalcon(config: ModelConfig, contextLength: number): ArchPlan {
  const a = "falcon";
  if (config.raw["alibi"] === true) {
    throw new UnsupportedError("falcon with alibi: llama.cpp's falcon graph only implements rope");
  }
  const h = config.hiddenSize;
  const hd = config.headSize;
  if (hd * config.numAttentionHeads !== h) {
    throw new ConfigError(
      `falcon needs head size × heads = hidden size (${hd} × ${config.numAttentionHeads} ≠ ${h})`,
    );
  }
  const nkv = config.numKeyValueHeads * hd;
  const ff = config.intermediateSize > 0 ? config.intermediateSize : 4 * h;
  const twoNorms =
    config.raw["new_decoder_architecture"] === true || rawNumber(config, "num_ln_in_parallel_attn") === 2;
  const kvs = [
    ...layerNormArchKvs(a, config, contextLength, ff),
    kvF32(`${a}.rope.freq_base`, config.ropeTheta),
  ];
  const tensors: TensorPlan[] = [
    matrix("token_embd.weight", h, config.vocabSize),
    vector("output_norm.weight", h),
    vector("output_norm.bias", h, "bias"),
  ];
  if (!config.tieWordEmbeddings) tensors.push(matrix("output.weight", h, config.vocabSize));
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const b = `blk.${i}`;
    tensors.push(vector(`${b}.attn_norm.weight`, h), vector(`${b}.attn_norm.bias`, h, "bias"));
    if (twoNorms)
      tensors.push(vector(`${b}.attn_norm_2.weight`, h), vector(`${b}.attn_norm_2.bias`, h, "bias"));
    tensors.push(
      matrix(`${b}.attn_qkv.weight`, h, h + 2 * nkv),
      matrix(`${b}.attn_output.weight`, h, h),
      matrix(`${b}.ffn_up.weight`, h, ff),
      matrix(`${b}.ffn_down.weight`, ff, h),
    );
  }
  return { arch: a, kvs, tensors };
}
