/** One line of `--iteration_log`: what the scheduler did in one engine step. */
export interface IterationStats {
  iter: number;
  /** ns since the engine started. */
  timestamp_ns: number;
  step_ms: number;
  /**
   * Of step_ms: llama_decode and llama_synchronize. With the native sampler, timed on the pool thread that runs
   * them (the hops to and from it are in neither part); otherwise node-llama-cpp's decodeBatch, call to resolution.
   */
  decode_ms: number;
  /** Of step_ms: greedy sampling of every sampled position (the native argmax as timed on its thread, or all
   * of node-llama-cpp's sampling calls, first to last). */
  sample_ms: number;
  batch_size: number;
  num_context_requests: number;
  num_generation_requests: number;
  prefill_tokens: number;
  decode_tokens: number;
  kv_cache_tokens_used: number;
  kv_cache_tokens_total: number;
  num_active_requests: number;
  num_queued_requests: number;
  num_preempted: number;
  /** Speculative decoding only: drafts verified and accepted this step. */
  draft_tokens?: number;
  accepted_draft_tokens?: number;
}
