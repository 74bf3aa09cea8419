/** Types and helpers the per-architecture planners share. */
import type { ModelConfig } from "../../../model/model-config.ts";
import type { GgufKv } from "./writer.ts";

/**
 * How a tensor is used, which decides its storage type and its dummy values:
 * matrices take the requested weight type; vectors (norms, biases) and the MoE router stay F32.
 */
export type TensorRole = "matrix" | "norm" | "bias" | "router" | "constant";

export interface TensorPlan {
  /** GGUF name, e.g. `blk.0.attn_q.weight`. */
  name: string;
  /** ne0 first. */
  dims: number[];
  role: TensorRole;
  /** Fixed values for role "constant" (e.g. llama3 rope factors). */
  values?: Float32Array;
}

export interface ArchPlan {
  /** `general.architecture` value. */
  arch: string;
  /** Architecture hparams (`<arch>.*` keys). */
  kvs: GgufKv[];
  tensors: TensorPlan[];
}

export type ArchPlanner = (config: ModelConfig, contextLength: number) => ArchPlan;

export function kvU32(key: string, value: number): GgufKv {
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`${key} must be a non-negative integer`);
  return { key, type: "u32", value };
}

export function kvF32(key: string, value: number): GgufKv {
  return { key, type: "f32", value };
}

export function matrix(name: string, ne0: number, ne1: number, ne2?: number): TensorPlan {
  return { name, dims: ne2 === undefined ? [ne0, ne1] : [ne0, ne1, ne2], role: "matrix" };
}

export function vector(name: string, n: number, role: "norm" | "bias" | "router" = "norm"): TensorPlan {
  return { name, dims: [n], role };
}

/** A number from the raw config.json, if present and numeric. */
export function rawNumber(config: ModelConfig, ...keys: string[]): number | undefined {
  for (const k of keys) {
    const v = config.raw[k];
    if (typeof v === "number" && Number.isFinite(v)) return v;
  }
  return undefined;
}

/**
 * The hyperparameters every LayerNorm architecture (falcon, gptj written as phi2) states the same way, in the
 * order llama.cpp's converters write them.
 */
export function layerNormArchKvs(
  arch: string,
  config: ModelConfig,
  contextLength: number,
  ff: number,
): GgufKv[] {
  return [
    kvU32(`${arch}.context_length`, contextLength),
    kvU32(`${arch}.embedding_length`, config.hiddenSize),
    kvU32(`${arch}.feed_forward_length`, ff),
    kvU32(`${arch}.block_count`, config.numHiddenLayers),
    kvU32(`${arch}.attention.head_count`, config.numAttentionHeads),
    kvU32(`${arch}.attention.head_count_kv`, config.numKeyValueHeads),
    kvF32(`${arch}.attention.layer_norm_epsilon`, rawNumber(config, "layer_norm_epsilon") ?? 1e-5),
  ];
}
