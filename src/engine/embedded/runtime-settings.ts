/**
 * Runtime limits of the embedded engine for one benchmark run, from the engine's build limits, the CLI, the
 * `--extra_llm_api_options` YAML, the dataset and the memory left after the model is loaded (brief §4.1).
 * Pure, so every rule is unit-tested.
 */
import { availableParallelism } from "node:os";
import { UsageError } from "../../errors.ts";
import { contextCells, LLAMA_MAX_SEQUENCES } from "./llama-native.ts";
import type { SchedulerConfig, SchedulerPolicy } from "./scheduler.ts";

export interface RuntimeInputs {
  engine: { maxBatchSize: number; maxNumTokens: number; maxSeqLen: number };
  cli: {
    maxBatchSize?: number | undefined;
    maxNumTokens?: number | undefined;
    maxSeqLen?: number | undefined;
  };
  dataset: { maxSequenceLength: number; maxIsl: number };
  policy: SchedulerPolicy;
  chunkedContext: boolean;
  /** `--kv_cache_free_gpu_mem_fraction`. */
  kvFraction: number;
  /** Memory free for the KV cache after the weights are loaded. */
  freeMemoryBytes: number;
  kvBytesPerToken: number;
  /** `kv_cache_config.max_tokens` from the YAML: an absolute cap, as in TensorRT-LLM. */
  kvMaxTokens?: number | undefined;
}

export interface RuntimeSettings {
  scheduler: SchedulerConfig;
  /** Lines to log: each says what was adjusted and why. */
  notes: string[];
}

export function resolveRuntimeSettings(i: RuntimeInputs): RuntimeSettings {
  const notes: string[] = [];
  const maxSeqLen = i.cli.maxSeqLen ?? i.dataset.maxSequenceLength;
  if (maxSeqLen > i.engine.maxSeqLen) {
    throw new UsageError(
      `the run needs max_seq_len ${maxSeqLen} (${i.cli.maxSeqLen !== undefined ? "--max_seq_len" : "the dataset's longest ISL+OSL"}) ` +
        `but the engine was built for ${i.engine.maxSeqLen}. Please rebuild a new engine with a larger --max_seq_len.`,
    );
  }
  let maxBatchSize = i.cli.maxBatchSize ?? i.engine.maxBatchSize;
  if (maxBatchSize > LLAMA_MAX_SEQUENCES) {
    notes.push(
      `Max batch size ${maxBatchSize} capped to ${LLAMA_MAX_SEQUENCES}: llama.cpp holds at most ${LLAMA_MAX_SEQUENCES} sequences per context.`,
    );
    maxBatchSize = LLAMA_MAX_SEQUENCES;
  }
  let maxNumTokens = i.cli.maxNumTokens ?? i.engine.maxNumTokens;
  if (!i.chunkedContext) {
    // trtllm-bench's rule: without chunking the longest prompt (plus one decode token per running request)
    // must fit in one step.
    const needed = Math.max(maxNumTokens, i.dataset.maxIsl + maxBatchSize);
    if (needed !== maxNumTokens) {
      notes.push(
        `Chunked context is disabled: max_num_tokens raised from ${maxNumTokens} to max_isl + max_batch_size = ${needed}.`,
      );
    }
    maxNumTokens = needed;
  }
  let kvTokens = Math.floor((i.kvFraction * i.freeMemoryBytes) / i.kvBytesPerToken);
  if (i.kvMaxTokens !== undefined && i.kvMaxTokens < kvTokens) kvTokens = i.kvMaxTokens;
  // llama.cpp gives each sequence its own fixed KV region of max_seq_len cells (padded: contextCells), so the
  // budget also bounds the number of sequences that can be allocated at all.
  const cells = contextCells(maxSeqLen);
  if (kvTokens < cells) {
    throw new UsageError(
      `the KV cache budget (${kvTokens} tokens from ${(i.kvFraction * 100).toFixed(0)}% of free memory) cannot hold one ` +
        `request of max_seq_len ${maxSeqLen} (${cells} KV cells). Raise --kv_cache_free_gpu_mem_fraction or shorten the requests.`,
    );
  }
  const sequencesThatFit = Math.floor(kvTokens / cells);
  if (sequencesThatFit < maxBatchSize) {
    notes.push(
      `KV cache budget of ${kvTokens} tokens holds ${sequencesThatFit} sequences of ${cells} cells: max batch size lowered from ${maxBatchSize}.`,
    );
    maxBatchSize = sequencesThatFit;
  }
  return {
    scheduler: {
      maxBatchSize,
      maxNumTokens,
      kvCacheTokens: Math.min(kvTokens, maxBatchSize * maxSeqLen),
      maxSeqLen,
      policy: i.policy,
      chunkedContext: i.chunkedContext,
    },
    notes,
  };
}

/** KV bytes per token: keys and values of every attention layer. */
export function kvBytesPerToken(layers: number, kvHeads: number, headSize: number, kvType: string): number {
  const bytesPerElem = kvType === "Q8_0" ? 34 / 32 : kvType === "Q4_0" ? 18 / 32 : kvType === "F32" ? 4 : 2;
  return 2 * layers * kvHeads * headSize * bytesPerElem;
}

/**
 * Compute threads for llama.cpp when --threads is not given: the fastest measured setting for the run's batch.
 * Batches of several sequences: every core, as llama.cpp's own tools default to (with the persistent thread pool,
 * native-greedy.ts, and decode runs keeping the event loop off the critical path): on 2 vCPUs llama-batched-bench
 * and llm-bench both step 1.5-1.7x faster at batch 2 to 64 on 2 threads than on 1. A batch of one sequence
 * (latency): one core left to node's main thread and the sampler, since there a second ggml thread made
 * llama-batched-bench itself slower on 2 vCPUs (2.4-3.1 vs 1.8-2.7 ms a step) and the event loop needs a core.
 * node-llama-cpp's default (4 on a 2-core VM) was 40-100x slower.
 */
export function defaultThreads(
  cores: number = availableParallelism(),
  maxBatchSize = Number.POSITIVE_INFINITY,
): number {
  if (maxBatchSize > 1) return cores;
  return cores <= 2 ? 1 : cores - 1;
}
