/**
 * Llama family (Llama 2/3/3.1, Mistral, Mixtral): GGUF arch "llama". Mixtral is the same arch with
 * `expert_count`/`expert_used_count` and merged 3-D expert tensors, as llama.cpp's converter writes it.
 */
import { ConfigError } from "../../../errors.ts";
import type { ModelConfig } from "../../../model/model-config.ts";
import type { ArchPlan, TensorPlan } from "./tensor-plan.ts";
import { kvF32, kvU32, matrix, vector } from "./tensor-plan.ts";
import type { GgufKv } from "./writer.ts";

interface RopeScaling {
  type: string;
  factor?: number;
  lowFreqFactor?: number;
  highFreqFactor?: number;
  originalContext?: number;
}

function ropeScaling(config: ModelConfig): RopeScaling | undefined {
  const r = config.raw["rope_scaling"];
  if (!r || typeof r !== "object") return undefined;
  const o = r as Record<string, unknown>;
  const num = (k: string) => (typeof o[k] === "number" ? (o[k] as number) : undefined);
  const type = typeof o["rope_type"] === "string" ? o["rope_type"] : o["type"];
  if (typeof type !== "string") return undefined;
  const s: RopeScaling = { type };
  const factor = num("factor");
  if (factor !== undefined) s.factor = factor;
  const lo = num("low_freq_factor");
  if (lo !== undefined) s.lowFreqFactor = lo;
  const hi = num("high_freq_factor");
  if (hi !== undefined) s.highFreqFactor = hi;
  const orig = num("original_max_position_embeddings");
  if (orig !== undefined) s.originalContext = orig;
  return s;
}

/**
 * Llama-3.1 ("llama3") rope: per-frequency divisors stored as the `rope_freqs.weight` tensor,
 * computed from rope_theta and the scaling parameters the way llama.cpp's converter does.
 */
export function llama3RopeFactors(headDim: number, theta: number, s: RopeScaling): Float32Array {
  const factor = s.factor ?? 8;
  const lo = s.lowFreqFactor ?? 1;
  const hi = s.highFreqFactor ?? 4;
  const oldCtx = s.originalContext ?? 8192;
  const lowWavelen = oldCtx / lo;
  const highWavelen = oldCtx / hi;
  const out = new Float32Array(headDim / 2);
  for (let i = 0; i < out.length; i++) {
    const freq = 1 / theta ** ((2 * i) / headDim);
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = factor;
    else {
      const smooth = (oldCtx / wavelen - lo) / (hi - lo);
      out[i] = 1 / ((1 - smooth) / factor + smooth);
    }
  }
  return out;
}

export function planLlama(config: ModelConfig, contextLength: number): ArchPlan {
  const a = "llama";
  const h = config.hiddenSize;
  const hd = config.headSize;
  const nq = config.numAttentionHeads * hd;
  const nkv = config.numKeyValueHeads * hd;
  const ff = config.intermediateSize;
  const nExp = config.numLocalExperts ?? 0;
  if (nExp > 0 && !(config.numExpertsPerTok && config.numExpertsPerTok <= nExp)) {
    throw new ConfigError(`num_experts_per_tok must be between 1 and num_local_experts (${nExp})`);
  }
  if (hd % 2 !== 0) throw new ConfigError(`head size ${hd} must be even for rope`);
  const kvs: GgufKv[] = [
    kvU32(`${a}.vocab_size`, config.vocabSize),
    kvU32(`${a}.context_length`, contextLength),
    kvU32(`${a}.embedding_length`, h),
    kvU32(`${a}.block_count`, config.numHiddenLayers),
    kvU32(`${a}.feed_forward_length`, ff),
    kvU32(`${a}.attention.head_count`, config.numAttentionHeads),
    kvU32(`${a}.attention.head_count_kv`, config.numKeyValueHeads),
    kvU32(`${a}.rope.dimension_count`, hd),
    kvF32(`${a}.rope.freq_base`, config.ropeTheta),
    kvF32(`${a}.attention.layer_norm_rms_epsilon`, config.rmsNormEps),
  ];
  // llama.cpp derives the head size as n_embd / n_head unless told otherwise (e.g. Mistral-Nemo).
  if (hd * config.numAttentionHeads !== h) {
    kvs.push(kvU32(`${a}.attention.key_length`, hd), kvU32(`${a}.attention.value_length`, hd));
  }
  if (nExp > 0) {
    kvs.push(kvU32(`${a}.expert_count`, nExp), kvU32(`${a}.expert_used_count`, config.numExpertsPerTok!));
  }
  const tensors: TensorPlan[] = [matrix("token_embd.weight", h, config.vocabSize)];
  const scaling = ropeScaling(config);
  if (scaling?.type === "llama3") {
    tensors.push({
      name: "rope_freqs.weight",
      dims: [hd / 2],
      role: "constant",
      values: llama3RopeFactors(hd, config.ropeTheta, scaling),
    });
  } else if ((scaling?.type === "linear" || scaling?.type === "yarn") && scaling.factor) {
    kvs.push({ key: `${a}.rope.scaling.type`, type: "str", value: scaling.type });
    kvs.push(kvF32(`${a}.rope.scaling.factor`, scaling.factor));
    if (scaling.originalContext) {
      kvs.push(kvU32(`${a}.rope.scaling.original_context_length`, scaling.originalContext));
    }
  }
  tensors.push(vector("output_norm.weight", h));
  if (!config.tieWordEmbeddings) tensors.push(matrix("output.weight", h, config.vocabSize));
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const b = `blk.${i}`;
    tensors.push(
      vector(`${b}.attn_norm.weight`, h),
      matrix(`${b}.attn_q.weight`, h, nq),
      matrix(`${b}.attn_k.weight`, h, nkv),
      matrix(`${b}.attn_v.weight`, h, nkv),
      matrix(`${b}.attn_output.weight`, nq, h),
      vector(`${b}.ffn_norm.weight`, h),
    );
    if (nExp > 0) {
      tensors.push(
        { name: `${b}.ffn_gate_inp.weight`, dims: [h, nExp], role: "router" },
        matrix(`${b}.ffn_gate_exps.weight`, h, ff, nExp),
        matrix(`${b}.ffn_down_exps.weight`, ff, h, nExp),
        matrix(`${b}.ffn_up_exps.weight`, h, ff, nExp),
      );
    } else {
      tensors.push(
        matrix(`${b}.ffn_gate.weight`, h, ff),
        matrix(`${b}.ffn_down.weight`, ff, h),
        matrix(`${b}.ffn_up.weight`, h, ff),
      );
    }
  }
  return { arch: a, kvs, tensors };
}
