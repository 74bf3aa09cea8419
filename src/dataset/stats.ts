import { percentileStats } from "../metrics/percentiles.ts";
import type { DatasetMetadata } from "./types.ts";

/**
 * Dataset statistics as trtllm-bench computes them (brief §2.6): ISL = prompt token count, OSL = the
 * *requested* `output_tokens`, sequence length = ISL + OSL; the `max_*`/`avg_*` summaries are truncated to
 * integers (`int(...)` in Python), which the build heuristic then consumes.
 */
export function computeDatasetMetadata(
  path: string,
  isl: ArrayLike<number>,
  osl: ArrayLike<number>,
): DatasetMetadata {
  if (isl.length !== osl.length) {
    throw new RangeError(`ISL and OSL counts differ (${isl.length} vs ${osl.length})`);
  }
  const seq = new Float64Array(isl.length);
  for (let i = 0; i < seq.length; i++) seq[i] = isl[i]! + osl[i]!;
  const islStats = percentileStats(isl);
  const oslStats = percentileStats(osl);
  const seqStats = percentileStats(seq);
  return {
    dataset_path: path,
    num_requests: isl.length,
    isl_stats: islStats,
    osl_stats: oslStats,
    seq_len_stats: seqStats,
    max_isl: Math.trunc(islStats.maximum),
    max_osl: Math.trunc(oslStats.maximum),
    max_sequence_length: Math.trunc(seqStats.maximum),
    avg_isl: Math.trunc(islStats.average),
    avg_osl: Math.trunc(oslStats.average),
    avg_sequence_length: Math.trunc(seqStats.average),
  };
}
