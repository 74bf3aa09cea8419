/**
 * One measured request (trtllm-bench's RequestRecord, brief §4.3). All times are integer ns from `nowNs()`.
 * Derived per-request metrics are computed in `request-metrics.ts`, every formula in one place.
 *
 * The record is the engine's `GenerationResult` plus what the load knows (when the request was due and sent,
 * what it asked for): every engine fact keeps its name from engine to report, and the load copies the result
 * whole instead of field by field. Only a few facts are refined on the way, so each has one meaning here:
 * `firstTokenNs` (-1 when the client saw no first token), `error` (set for failed and cancelled requests, which
 * is all the metrics need of the finish reason) and `outputIds` (kept only when an output file needs them).
 * The load generator's records are views over typed columns (src/load/record-table.ts): every field is a getter.
 */
import type { GenerationResult } from "../engine/types.ts";

export interface RequestRecord
  extends Omit<GenerationResult, "outputIds" | "firstTokenNs" | "error" | "finishReason"> {
  id: string;
  numInputTokens: number;
  /**
   * Output tokens including the first one (trtllm-bench's num_total_output_tokens): the server's own count
   * when it gave one (`serverOutputTokens`), else the client's (`clientOutputTokens`, HTTP backends), else the ids.
   */
  numOutputTokens: number;
  /** When the request was due to be sent (load shapes with a schedule); equals startNs for offline runs. */
  scheduledNs: number;
  /** Taken after the concurrency slot is acquired, just before submission (trtllm-bench's start_timestamp). */
  startNs: number;
  /**
   * Closed loops: when the request had to wait for a concurrency slot, the end (`endNs`) of the request that
   * freed it. Absent for requests that found a slot free (the first `concurrency` ones, open-loop arrivals).
   */
  slotFreedNs?: number | undefined;
  /** -1 when unknown (non-streaming). */
  firstTokenNs: number;
  /** Requested output length, to detect engines that did not honour it. */
  requestedOutputTokens: number;
  /** Set for failed and cancelled requests (the engine's message, else the finish reason). */
  error: string | undefined;
  /** Generated ids, kept only for `--output_json` / `--request_json`. */
  outputIds?: number[] | undefined;
  /**
   * Arrival time of every output-carrying chunk: the engine's own log when it keeps one (HTTP backends, always),
   * else the times the load's sink saw tokens arrive (with `--request_json`).
   */
  chunkTimesNs?: number[] | undefined;
}
