/** The tensor list and hparams of each architecture we can write, chosen by HF `model_type`. */
import { UnsupportedError } from "../../../errors.ts";
import type { ModelConfig } from "../../../model/model-config.ts";
import { planFalcon } from "./arch-falcon.ts";
import { planGptj } from "./arch-gptj.ts";
import { planLlama } from "./arch-llama.ts";
import type { GgufWeightType } from "./constants.ts";
import { fitsRows } from "./encoders.ts";
import type { ArchPlan, ArchPlanner, TensorPlan } from "./tensor-plan.ts";

const PLANNERS: Record<string, ArchPlanner> = {
  llama: planLlama,
  mistral: planLlama,
  mixtral: planLlama,
  gptj: planGptj,
  falcon: planFalcon,
  RefinedWeb: planFalcon,
  RefinedWebModel: planFalcon,
};

/** HF `model_type` values writeGguf accepts. */
export function supportedArchitectures(): string[] {
  return Object.keys(PLANNERS);
}

export function planArchitecture(config: ModelConfig, contextLength: number): ArchPlan {
  const planner = PLANNERS[config.modelType];
  if (!planner) {
    throw new UnsupportedError(
      `cannot write a GGUF for model_type "${config.modelType}"; supported: ${supportedArchitectures().join(", ")}`,
    );
  }
  return planner(config, contextLength);
}

/** Storage type of one tensor: matrices use `weightType` unless their rows do not fit its blocks. */
export function storageType(t: TensorPlan, weightType: GgufWeightType): GgufWeightType {
  if (t.role !== "matrix") return "F32";
  if (fitsRows(weightType, t.dims[0]!)) return weightType;
  return weightType === "F32" ? "F32" : "F16";
}
