/**
 * Backends behind one small interface and a name -> factory map. A backend is prepared in two phases because
 * the dataset sits in between: the tokenizer (phase 1) is needed to read the dataset, and the dataset's
 * lengths (max ISL+OSL) set the engine's runtime limits (phase 2).
 */
import type { CompatVersion } from "../compat.ts";
import type { DatasetMetadata } from "../dataset/types.ts";
import type { LlmApiOptions } from "../model/llm-api-options.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import type { IterationStats } from "./embedded/embedded-engine.ts";
import type { DeviceFlag } from "./embedded/llama-native.ts";
import type { SchedulerPolicy } from "./embedded/scheduler.ts";
import type { SpeculativeConfig } from "./embedded/speculative/speculator.ts";
import type { OpenAiBackendOptions } from "./openai/connection.ts";
import type { Engine, EngineInfo } from "./types.ts";

/** Runtime knobs a benchmark passes to any backend; each backend uses the ones that mean something to it. */
export interface RuntimeKnobs {
  maxBatchSize?: number | undefined;
  maxNumTokens?: number | undefined;
  maxSeqLen?: number | undefined;
  kvCacheFreeGpuMemFraction: number;
  schedulerPolicy: SchedulerPolicy;
  enableChunkedContext: boolean;
  /** `kv_cache_config.max_tokens` from the YAML. */
  kvMaxTokens?: number | undefined;
  threads?: number | undefined;
  /** `--device` (embedded engine): where llama.cpp runs. */
  device?: DeviceFlag | undefined;
  /** `--gpu_layers` (embedded engine): layers offloaded to the GPU. */
  gpuLayers?: number | "max" | undefined;
}

export interface BackendOptions {
  model: string;
  modelPath?: string | undefined;
  workspace: string;
  revision?: string | undefined;
  /** The dataset path: the embedded backend builds an engine for it when no engine dir is given. */
  dataset: string;
  engineDir?: string | undefined;
  runtime: RuntimeKnobs;
  yaml: LlmApiOptions;
  onIteration?: ((stats: IterationStats) => void) | undefined;
  /** Speculative decoding (embedded engine only; others must refuse it through their capabilities). */
  speculative?: SpeculativeConfig | undefined;
  /** `--backend openai`: the server to talk to (src/engine/openai). */
  openai?: OpenAiBackendOptions | undefined;
  /** `--compat`: the heuristic an engine built on the fly (no engine dir) is tuned with. */
  compat?: CompatVersion | undefined;
}

export interface StartedBackend {
  engine: Engine;
  info: EngineInfo;
}

export interface PreparedBackend {
  tokenizer: Tokenizer;
  /** Dataset ids must be below this. */
  vocabSize: number;
  start(dataset: DatasetMetadata): Promise<StartedBackend>;
}

export type BackendFactory = (opts: BackendOptions) => Promise<PreparedBackend>;
