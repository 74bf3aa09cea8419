import type { RequestRecord } from "./record.ts";

/**
 * Per-request derived values, trtllm-bench's RequestRecord computed fields (brief §4.3). Times are ns,
 * throughputs tokens/s (trtllm-bench keeps tokens/ns and multiplies by 1e9 when reporting; same numbers).
 * See docs/metrics.md for every formula and the divide-by-zero guards.
 */
export interface RequestMetrics {
  /** Output tokens including the first (trtllm's num_total_output_tokens). */
  numTotalOutputTokens: number;
  /** numTotalOutputTokens − 1, the tokens produced after the first one. */
  numGeneratedTokens: number;
  /** end − start. */
  e2eNs: number;
  /** first token − start; 0 when the first-token time is unknown (non-streaming). */
  ttftNs: number;
  /** e2e − ttft. */
  generationTimeNs: number;
  /** TPOT (trtllm's intertoken_latency): (end − first token)/(n − 1); 0 when n ≤ 1 or first token unknown. */
  tpotNs: number;
  /** "Per User Output Throughput [w/ ctx]": n / e2e, in tokens/s; 0 when e2e is 0. */
  outputTokenThroughput: number;
  /** GTPS, "Per User Output Speed": (n − 1) / generation time, in tokens/s; 0 when generation time is 0. */
  generationTokenThroughput: number;
  /** Client-side queueing: start − scheduled (time spent waiting for a concurrency slot or the schedule). */
  queueNs: number;
  /**
   * Slot idle time: send − max(slot freed, scheduled), for a request that waited for a concurrency slot. The
   * client's own gap between one request's end and the next send on its slot; undefined without a wait.
   */
  slotIdleNs: number | undefined;
}

const NS_PER_S = 1e9;

/** Whether the engine reported when the first token arrived (records use −1 for "unknown"). */
export function hasFirstToken(r: RequestRecord): boolean {
  return r.firstTokenNs >= 0;
}

export function requestMetrics(r: RequestRecord): RequestMetrics {
  const n = r.numOutputTokens;
  return {
    numTotalOutputTokens: n,
    numGeneratedTokens: n - 1,
    e2eNs: e2eNs(r),
    ttftNs: ttftNs(r),
    generationTimeNs: generationTimeNs(r),
    tpotNs: tpotNs(r),
    outputTokenThroughput: outputTokenThroughput(r),
    generationTokenThroughput: generationTokenThroughput(r),
    queueNs: queueNs(r),
    slotIdleNs: slotIdleNs(r),
  };
}

// One function per field of RequestMetrics, so the statistics can take one metric at a time over a million
// records (one scratch array instead of one array per metric) with the very same arithmetic.

export function e2eNs(r: RequestRecord): number {
  return r.endNs - r.startNs;
}

export function ttftNs(r: RequestRecord): number {
  return hasFirstToken(r) ? r.firstTokenNs - r.startNs : 0;
}

export function generationTimeNs(r: RequestRecord): number {
  return e2eNs(r) - ttftNs(r);
}

export function tpotNs(r: RequestRecord): number {
  const generated = r.numOutputTokens - 1;
  // trtllm-bench divides by a first-token time of −1 when it is unknown; we report 0 instead of nonsense.
  return hasFirstToken(r) && generated > 0 ? (r.endNs - r.firstTokenNs) / generated : 0;
}

export function outputTokenThroughput(r: RequestRecord): number {
  const e2e = e2eNs(r);
  return e2e > 0 ? (r.numOutputTokens * NS_PER_S) / e2e : 0;
}

export function generationTokenThroughput(r: RequestRecord): number {
  const generated = r.numOutputTokens - 1;
  const generation = generationTimeNs(r);
  return generation > 0 && generated > 0 ? (generated * NS_PER_S) / generation : 0;
}

export function queueNs(r: RequestRecord): number {
  return r.startNs - r.scheduledNs;
}

/** See RequestMetrics.slotIdleNs: the send is the bytes handed to the socket where the backend knows it. */
export function slotIdleNs(r: RequestRecord): number | undefined {
  if (r.slotFreedNs === undefined) return undefined;
  return (r.sentNs ?? r.startNs) - Math.max(r.slotFreedNs, r.scheduledNs);
}
