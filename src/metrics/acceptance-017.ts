import type { PercentileStats } from "../dataset/types.ts";
import { percentileStats } from "./percentiles.ts";
import type { RequestRecord } from "./record.ts";

/**
 * The acceptance figures of trtllm-bench 0.17's latency report (`--compat 0.17`): "Acceptance Rate
 * (Speculative)" = Σ n / Σ iterations, and the ACCEPTANCE BREAKDOWN over the per-request (n − 1) / iterations.
 * Iterations are engine steps that produced tokens (0.17's `decode_iteration + 1`), at least 1 as in
 * `decodingStatistics`. Successful requests only, like every other statistic.
 */
export interface Acceptance017 {
  acceptanceRate: number;
  perRequest: PercentileStats;
}

export function acceptance017(records: readonly RequestRecord[]): Acceptance017 {
  const ok = records.filter((r) => r.error === undefined);
  const perRequest = new Float64Array(ok.length);
  let totalOut = 0;
  let totalIter = 0;
  for (let i = 0; i < ok.length; i++) {
    const r = ok[i]!;
    const iters = Math.max(1, r.decodeIterations);
    perRequest[i] = (r.numOutputTokens - 1) / iters;
    totalOut += r.numOutputTokens;
    totalIter += iters;
  }
  return {
    acceptanceRate: totalIter > 0 ? totalOut / totalIter : 0,
    perRequest: percentileStats(perRequest),
  };
}
