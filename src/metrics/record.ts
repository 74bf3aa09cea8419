/**
 * One measured request (trtllm-bench's RequestRecord, brief §4.3). All times are integer ns from `nowNs()`.
 * Derived per-request metrics are computed in `request-metrics.ts`, every formula in one place.
 */
export interface RequestRecord {
  id: string;
  numInputTokens: number;
  /** Output tokens including the first one (trtllm-bench's num_total_output_tokens). */
  numOutputTokens: number;
  /** When the request was due to be sent (load shapes with a schedule); equals startNs for offline runs. */
  scheduledNs: number;
  /** Taken after the concurrency slot is acquired, just before submission (trtllm-bench's start_timestamp). */
  startNs: number;
  /** HTTP backends: the request's bytes handed to the socket (startNs + the client's own preparation). */
  sentNs?: number;
  /** HTTP backends: the first byte of the response (status line). */
  firstByteNs?: number;
  /**
   * Closed loops: when the request had to wait for a concurrency slot, the end (`endNs`) of the request that
   * freed it. Absent for requests that found a slot free (the first `concurrency` ones, open-loop arrivals).
   */
  slotFreedNs?: number;
  /** -1 when unknown (non-streaming). */
  firstTokenNs: number;
  endNs: number;
  decodeIterations: number;
  /** Requested output length, to detect engines that did not honour it. */
  requestedOutputTokens: number;
  error: string | undefined;
  outputIds?: number[];
  /** Arrival time of every streamed chunk (only when asked for: one number per chunk). */
  chunkNs?: number[];
  draftTokens?: number;
  acceptedDraftTokens?: number;
  /** HTTP backends: output tokens per the server's usage and per the client tokenizer (n is the server's when known). */
  serverOutputTokens?: number;
  clientOutputTokens?: number;
  /** HTTP backends: input tokens per the server's usage (`numInputTokens` stays the dataset's). */
  serverInputTokens?: number;
  /** HTTP backends: the generated text until it is tokenized after the run (then removed). */
  outputText?: string | undefined;
  /** Arrival times (ns) of the output-carrying chunks; tokens per chunk when the server reported them. */
  chunkTimesNs?: number[];
  chunkTokens?: number[];
}
