/**
 * The one interface every engine implements: the embedded llama.cpp engine and the OpenAI HTTP backend.
 * Benchmarks (src/load) only talk to this.
 */

export interface SamplingOptions {
  /** 0 = greedy (the benchmark default: deterministic, and cheapest to sample). */
  temperature: number;
  topK?: number;
  topP?: number;
  seed?: number;
}

export interface GenerationRequest {
  id: string;
  inputIds: ArrayLike<number>;
  /** Text form of the prompt, for engines that only take text. */
  prompt?: string | undefined;
  /** Exactly this many tokens are generated unless `eosId` is set and produced earlier. */
  maxTokens: number;
  /** Stop at this token; undefined means EOS is ignored (trtllm-bench's `--eos_id -1`). */
  eosId?: number | undefined;
  /** Whether the client reads tokens as they come (TTFT/TPOT are only defined when true). */
  streaming: boolean;
  sampling?: SamplingOptions;
}

/** Receives tokens as the engine produces them. Timestamps are `nowNs()` (monotonic ns). */
export interface TokenSink {
  onTokens?(tokens: readonly number[], timeNs: number): void;
}

export type FinishReason = "length" | "stop" | "cancelled" | "error";

export interface GenerationResult {
  outputIds: number[];
  /** Time of the first generated token (when known to the caller; always set by engines that stream). */
  firstTokenNs: number | undefined;
  endNs: number;
  /** Engine steps that produced tokens for this request (speculative decoding: < outputIds.length). */
  decodeIterations: number;
  finishReason: FinishReason;
  error?: string | undefined;
  /** Speculative decoding: draft tokens proposed and accepted over the request. */
  draftTokens?: number | undefined;
  acceptedDraftTokens?: number | undefined;
  /** Output tokens as the server counted them (OpenAI `usage.completion_tokens`), when it said. */
  serverOutputTokens?: number | undefined;
  /** Input tokens as the server counted them (OpenAI `usage.prompt_tokens`), when it said. */
  serverInputTokens?: number | undefined;
  /** Output tokens as the client tokenizer counts the returned text (HTTP backends). */
  clientOutputTokens?: number | undefined;
  /**
   * HTTP backends return text, not ids (`outputIds` is empty): it is tokenized after the measured run
   * (src/engine/openai/client-count.ts), so client-side counting never blocks the event loop mid-run.
   */
  outputText?: string | undefined;
  /** Arrival time of every output-carrying chunk (`nowNs()`), for the chunk-gap distribution. */
  chunkTimesNs?: number[] | undefined;
  /** HTTP backends: when the request's bytes were handed to the socket, and when the first response byte came. */
  sentNs?: number | undefined;
  firstByteNs?: number | undefined;
  /** Tokens in each of those chunks, when the server reported them per chunk. */
  chunkTokens?: number[] | undefined;
}

export interface EngineCapabilities {
  tokenIdPrompts: boolean;
  streaming: boolean;
  /** The engine can be forced to emit exactly maxTokens tokens. */
  exactOutputLength: boolean;
  cancel: boolean;
  speculativeDecoding: boolean;
}

/** What the report's ENGINE DETAILS and WORLD + RUNTIME INFORMATION sections print. */
export interface EngineInfo {
  backend: string;
  model: string;
  modelPath: string | undefined;
  engineDir: string | undefined;
  version: string;
  dtype: string;
  kvCacheDtype: string;
  quantization: string;
  maxInputLength: number | undefined;
  maxSequenceLength: number | undefined;
  tpSize: number;
  ppSize: number;
  maxBatchSize: number | undefined;
  maxNumTokens: number | undefined;
  schedulingPolicy: string | undefined;
  /** `--kv_cache_free_gpu_mem_fraction` as a fraction (0.9). */
  kvCacheFraction: number | undefined;
  /** What ran the model; undefined for a server the client cannot see into. */
  device?: ComputeDevice | undefined;
}

/** The device an in-process engine ran on, as its runtime reports it. */
export interface ComputeDevice {
  /** "cuda", "vulkan", "metal", "cpu"; "remote" for a server. */
  backend: string;
  /** GPU names as the runtime sees them (CUDA_VISIBLE_DEVICES applied); empty on a CPU. */
  devices: string[];
  /** Total memory of the GPUs used, bytes. */
  vramTotalBytes?: number | undefined;
  /** Model layers offloaded to the GPU, of all. */
  gpuLayers?: { offloaded: number; total: number } | undefined;
  /** "on", "off" or "auto" (llama.cpp decides per device). */
  flashAttention?: string | undefined;
  /** CPU compute threads. */
  threads?: number | undefined;
  /** How tokens are sampled (e.g. the native batched argmax, or node-llama-cpp's one call per position). */
  sampling?: string | undefined;
  /** How the model is split over several GPUs (llama.cpp's layer split); undefined on one device. */
  split?: string | undefined;
}

/** A snapshot of the engine's runtime state, for progress lines and the report. */
export interface EngineRuntimeStats {
  steps: number;
  activeRequests: number;
  queuedRequests: number;
  kvCacheTokensUsed: number;
  kvCacheTokensTotal: number;
  preemptions: number;
}

export interface Engine {
  readonly info: EngineInfo;
  readonly capabilities: EngineCapabilities;
  /**
   * Where the engine computes, when it runs in this process: "cpu", "cuda", "vulkan", "metal". Remote engines
   * leave it undefined. GPU telemetry starts by itself for "cuda" (src/benchmarks/run-telemetry.ts).
   */
  readonly device?: string | undefined;
  /** Resolves when the request is finished, cancelled (signal) or failed; never rejects for a request-level failure. */
  generate(request: GenerationRequest, sink?: TokenSink, signal?: AbortSignal): Promise<GenerationResult>;
  stats(): EngineRuntimeStats;
  stop(): Promise<void>;
}
