/**
 * `build`'s option rules (trtllm-bench's `apply_build_mode_settings`, brief §1.2) and the text blocks it prints.
 * Pure, so every rule is unit-tested.
 */
import type { DatasetMetadata } from "../../dataset/types.ts";
import { UsageError } from "../../errors.ts";
import { DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_NUM_TOKENS } from "../../model/tuning.ts";

export const MAX_WORLD_SIZE = 8;

export interface BuildModeInput {
  dataset?: string | undefined;
  maxBatchSize?: number | undefined;
  maxNumTokens?: number | undefined;
  targetInputLen?: number | undefined;
  targetOutputLen?: number | undefined;
  maxSeqLen?: number | undefined;
  tpSize: number;
  ppSize: number;
}

export type BuildMode =
  | { kind: "dataset"; dataset: string }
  | { kind: "limits"; maxBatchSize: number; maxNumTokens: number }
  | { kind: "target"; targetInputLen: number; targetOutputLen: number }
  | { kind: "default"; maxBatchSize: number; maxNumTokens: number };

export interface ValidatedBuildMode {
  mode: BuildMode;
  warnings: string[];
}

/** Both options of an all-or-none group (click-option-group's AllOptionGroup), or neither. */
function pair(
  a: number | undefined,
  b: number | undefined,
  names: [string, string],
): [number, number] | undefined {
  if (a === undefined && b === undefined) return undefined;
  if (a === undefined || b === undefined) {
    throw new UsageError(
      `${names[0]} and ${names[1]} must be given together (missing ${a === undefined ? names[0] : names[1]}).`,
    );
  }
  return [a, b];
}

/** Exactly one build mode, world size <= 8, and max_seq_len unless a dataset supplies it. */
export function validateBuildMode(o: BuildModeInput): ValidatedBuildMode {
  const limits = pair(o.maxBatchSize, o.maxNumTokens, ["--max_batch_size", "--max_num_tokens"]);
  const target = pair(o.targetInputLen, o.targetOutputLen, ["--target_input_len", "--target_output_len"]);
  const chosen = [o.dataset !== undefined, limits !== undefined, target !== undefined].filter(Boolean).length;
  const warnings: string[] = [];
  let mode: BuildMode;
  if (chosen > 1) {
    throw new UsageError(
      "Multiple engine build options detected, please choose only one engine build option. Exiting.",
    );
  }
  if (o.dataset !== undefined) mode = { kind: "dataset", dataset: o.dataset };
  else if (limits) mode = { kind: "limits", maxBatchSize: limits[0], maxNumTokens: limits[1] };
  else if (target) mode = { kind: "target", targetInputLen: target[0], targetOutputLen: target[1] };
  else {
    warnings.push(
      `No engine build option is selected, use the default max_batch_size (${DEFAULT_MAX_BATCH_SIZE}) and ` +
        `max_num_tokens (${DEFAULT_MAX_NUM_TOKENS}) to build the engine.`,
    );
    mode = { kind: "default", maxBatchSize: DEFAULT_MAX_BATCH_SIZE, maxNumTokens: DEFAULT_MAX_NUM_TOKENS };
  }
  if (o.tpSize * o.ppSize > MAX_WORLD_SIZE) {
    throw new UsageError(
      `Parallelism mapping of TP${o.tpSize}-PP${o.ppSize} is currently unsupported. Please try with a mapping with <=8 GPUs.`,
    );
  }
  if (o.dataset === undefined && o.maxSeqLen === undefined) {
    throw new UsageError("Unspecified max_seq_len for engine build. Exiting.");
  }
  return { mode, warnings };
}

const RULE = "===========================================================";

/** Python's str(None) for absent values, as the seed prints them. */
function show(v: string | number | null | undefined): string {
  return v === null || v === undefined ? "None" : String(v);
}

export function datasetDetailsBlock(m: DatasetMetadata): string {
  return [
    "",
    RULE,
    "= DATASET DETAILS",
    RULE,
    `Max Input Sequence Length:\t${m.max_isl}`,
    `Max Output Sequence Length:\t${m.max_osl}`,
    `Max Sequence Length:\t${m.max_sequence_length}`,
    `Target (Average) Input Sequence Length:\t${m.avg_isl}`,
    `Target (Average) Output Sequence Length:\t${m.avg_osl}`,
    `Number of Sequences:\t${m.num_requests}`,
    RULE,
    "",
  ].join("\n");
}

export interface EngineInfoBlockInput {
  model: string;
  modelPath: string | undefined;
  workspace: string;
  engineDir: string;
  maxSeqLen: number;
  maxBatchSize: number;
  maxNumTokens: number;
  quantization: string | null;
  kvCacheDtype: string | null;
  weightType: string;
  kvCacheType: string;
  weightsSource: string;
}

/** ENGINE BUILD INFO and ENGINE CONFIGURATION DETAILS, plus the llama.cpp storage lines of this engine. */
export function engineInfoBlock(i: EngineInfoBlockInput): string {
  return [
    "",
    RULE,
    "= ENGINE BUILD INFO",
    RULE,
    `Model Name:\t\t${i.model}`,
    `Model Path:\t\t${show(i.modelPath)}`,
    `Workspace Directory:\t${i.workspace}`,
    `Engine Directory:\t${i.engineDir}`,
    "",
    RULE,
    "= ENGINE CONFIGURATION DETAILS",
    RULE,
    `Max Sequence Length:\t\t${i.maxSeqLen}`,
    `Max Batch Size:\t\t\t${i.maxBatchSize}`,
    `Max Num Tokens:\t\t\t${i.maxNumTokens}`,
    `Quantization:\t\t\t${show(i.quantization)}`,
    `KV Cache Dtype:\t\t\t${show(i.kvCacheDtype)}`,
    `GGUF Weight Type:\t\t${i.weightType}`,
    `llama.cpp KV Cache Type:\t${i.kvCacheType}`,
    `Weights:\t\t\t${i.weightsSource}`,
    RULE,
    "",
  ].join("\n");
}

export function engineSavedBlock(engineDir: string): string {
  return ["", "", RULE, `ENGINE SAVED: ${engineDir}`, RULE, ""].join("\n");
}
