import type { PercentileStats } from "../dataset/types.ts";
import { computeGoodput, type GoodputStatistics, type SloSpec } from "./goodput.ts";
import { type InputTokenCounts, inputTokenCounts } from "./input-tokens.ts";
import { percentileStatsInPlace, sum } from "./percentiles.ts";
import type { RequestRecord } from "./record.ts";
import {
  e2eNs,
  generationTimeNs,
  generationTokenThroughput,
  outputTokenThroughput,
  queueNs,
  slotIdleNs,
  tpotNs,
  ttftNs,
} from "./request-metrics.ts";

/**
 * Aggregate statistics, trtllm-bench's `generate_statistics_summary` + `BenchmarkStatistics` (brief §4.4),
 * plus llm-bench's additions (failures, token accounting, queueing, a real submission rate).
 * Every formula is documented in docs/metrics.md. Times are ns, throughputs per second.
 */
export interface StatisticsOptions {
  streaming: boolean;
  /** tp × pp, the divisor of "Per GPU Output Throughput". */
  worldSize: number;
  /**
   * trtllm-bench's `max_draft_len`: when > 0 and records carry no draft counts, drafts are derived as
   * max_draft_len × iterations and acceptances as output − iterations, as trtllm-bench does.
   */
  maxDraftLen?: number | undefined;
  /** `--goodput` bounds: when given, goodput is computed over every record (failures count as misses). */
  slo?: SloSpec | undefined;
}

export interface StreamingStatistics {
  avgTtftNs: number;
  avgTpotNs: number;
  /** "Per User Output Speed": mean GTPS (tokens/s). */
  perUserOutputSpeed: number;
  ttftNs: PercentileStats;
  tpotNs: PercentileStats;
  /** Per-request generation throughput (tokens/s). */
  gtps: PercentileStats;
}

export interface DecodingStatistics {
  numDraftTokens: PercentileStats;
  numAcceptedDraftTokens: PercentileStats;
  draftAcceptanceRate: PercentileStats;
  acceptanceLength: PercentileStats;
  /** Σ output tokens / Σ decode iterations over all requests. */
  globalAcceptanceLength: number;
}

export interface TokenAccounting {
  requestedOutputTokens: number;
  actualOutputTokens: number;
  /** Successful requests whose output length differs from the requested one (EOS honoured, engine cap...). */
  mismatchedRequests: number;
  /** Of those, how many produced fewer tokens than requested. */
  shortRequests: number;
}

/** HTTP backends count output tokens twice: the server's usage and the client tokenizer over the returned text. */
export interface OutputTokenCounts {
  /** Successful requests with a server count, with a client count, and with both. */
  serverCounted: number;
  clientCounted: number;
  bothCounted: number;
  /** Σ server counts and Σ client counts, each over the requests that have it. */
  serverOutputTokens: number;
  clientOutputTokens: number;
  /** Σ (server − client) over requests with both counts, and how many of them differ. */
  difference: number;
  differingRequests: number;
}

/** Streamed chunks: what the client saw arrive, distinct from the per-token TPOT. */
export interface ChunkStatistics {
  chunks: number;
  /** Gaps between consecutive output-carrying chunks of a request, pooled over requests (vLLM's "ITL"). */
  chunkGapNs: PercentileStats;
  /** Per chunk when every request had per-chunk server counts (continuous usage), else per request n / chunks. */
  tokensPerChunk: PercentileStats;
  tokensPerChunkSource: "server_per_chunk" | "request_average";
}

export interface FailureSummary {
  message: string;
  count: number;
}

export interface BenchmarkStatistics {
  /** Successful requests: the N of every trtllm-bench formula. */
  numRequests: number;
  numFailed: number;
  /** Distinct failure messages, most frequent first. */
  failures: FailureSummary[];
  worldSize: number;
  totalLatencyNs: number;
  totalInputTokens: number;
  totalOutputTokens: number;
  /** total output − N (tokens after each request's first). */
  generationTokens: number;
  avgInputLength: number;
  avgOutputLength: number;
  requestThroughput: number;
  /** "Total Output Throughput": Σ output / total latency. */
  outputThroughput: number;
  /** "Total Token Throughput": (Σ input + Σ output) / total latency. */
  totalTokenThroughput: number;
  /** "Per User Output Throughput [w/ ctx]": mean of n/e2e. */
  perUserOutputThroughput: number;
  perGpuOutputThroughput: number;
  avgRequestLatencyNs: number;
  /** Σ e2e / total latency. */
  avgConcurrentRequests: number;
  /** trtllm-bench's issue_rate_ns: (max start − min start) / N, i.e. the mean gap between submissions in ns. */
  issueRateNs: number;
  /** What trtllm-bench prints as "Issue Rate (req/sec)": issue_rate_ns × 1e9 (not a rate; kept for parity). */
  issueRateReported: number;
  /** The actual submission rate: (N − 1) / (max start − min start) in req/s; 0 when undefined. */
  submissionRate: number;
  requestLatencyNs: PercentileStats;
  generationTimeNs: PercentileStats;
  outputTokens: PercentileStats;
  outputThroughputPerUser: PercentileStats;
  /** start − scheduled: client-side waiting hidden from latency (coordinated omission). */
  queueNs: PercentileStats;
  /** end − scheduled: latency as the schedule saw it, client-side queueing included. */
  latencyFromScheduledNs: PercentileStats;
  /** Requests that waited for a concurrency slot: send − max(slot freed, scheduled). Absent when none did. */
  slotIdleNs?: PercentileStats | undefined;
  /** first token − scheduled (streaming only; 0 when unknown). */
  ttftFromScheduledNs: PercentileStats;
  tokenAccounting: TokenAccounting;
  streaming: StreamingStatistics | undefined;
  decoding: DecodingStatistics | undefined;
  /** Failures grouped by reason code (`http_503`, `timeout`, ...: the text before the first ':'). */
  failureReasons?: FailureSummary[];
  /** Present when any successful request carried a server or client output-token count. */
  outputTokenCounts?: OutputTokenCounts | undefined;
  /** Present when any successful request carried the server's input-token count (src/metrics/input-tokens.ts). */
  inputTokenCounts?: InputTokenCounts | undefined;
  /** Present when any successful request carried chunk arrival times. */
  chunks?: ChunkStatistics | undefined;
  /** Present with `--goodput` (src/metrics/goodput.ts). */
  goodput?: GoodputStatistics | undefined;
}

const NS_PER_S = 1e9;

export function computeStatistics(
  records: readonly RequestRecord[],
  opts: StatisticsOptions,
): BenchmarkStatistics {
  const ok = records.filter((r) => r.error === undefined);
  const n = ok.length;
  let minStart = Number.POSITIVE_INFINITY;
  let maxStart = Number.NEGATIVE_INFINITY;
  let maxEnd = Number.NEGATIVE_INFINITY;
  let totalInput = 0;
  let slotWaits = 0;
  const acct: TokenAccounting = {
    requestedOutputTokens: 0,
    actualOutputTokens: 0,
    mismatchedRequests: 0,
    shortRequests: 0,
  };

  for (let i = 0; i < n; i++) {
    const r = ok[i]!;
    minStart = Math.min(minStart, r.startNs);
    maxStart = Math.max(maxStart, r.startNs);
    maxEnd = Math.max(maxEnd, r.endNs);
    totalInput += r.numInputTokens;
    if (r.slotFreedNs !== undefined) slotWaits++;
    acct.requestedOutputTokens += r.requestedOutputTokens;
    acct.actualOutputTokens += r.numOutputTokens;
    if (r.numOutputTokens !== r.requestedOutputTokens) {
      acct.mismatchedRequests++;
      if (r.numOutputTokens < r.requestedOutputTokens) acct.shortRequests++;
    }
  }

  // Each metric in turn fills one scratch array, whose percentiles are then found in place: a million
  // completions cost one 8 MB array (or the chunks' size) instead of one per metric plus a copy of each.
  const census = chunkCensus(ok);
  const scratch = new Scratch(Math.max(n, census?.gaps ?? 0, census?.chunks ?? 0));
  const stats = (metric: (r: RequestRecord) => number): PercentileStats =>
    percentileStatsInPlace(scratch.fill(ok, metric));

  const latency = scratch.fill(ok, e2eNs);
  const latencySum = sum(latency);
  const requestLatencyNs = percentileStatsInPlace(latency);
  const outputThroughputPerUser = stats(outputTokenThroughput);
  const generationTime = stats(generationTimeNs);
  const outputTokens = stats(numTotalOutputTokens);
  const queue = stats(queueNs);
  const fromScheduled = stats(latencyFromScheduledNs);
  let slotIdle: PercentileStats | undefined;
  if (slotWaits > 0) {
    const a = scratch.take(slotWaits);
    let k = 0;
    for (const r of ok) {
      const v = slotIdleNs(r);
      if (v !== undefined) a[k++] = v;
    }
    slotIdle = percentileStatsInPlace(a);
  }
  const ttftFromScheduled = stats(ttftFromScheduledNs);
  const streaming = opts.streaming
    ? streamingStatistics(stats(ttftNs), stats(tpotNs), stats(generationTokenThroughput))
    : undefined;

  const totalLatencyNs = n > 0 ? maxEnd - minStart : 0;
  const totalOutput = acct.actualOutputTokens;
  const perSecond = (count: number) => (totalLatencyNs > 0 ? (count * NS_PER_S) / totalLatencyNs : 0);
  const outputThroughput = perSecond(totalOutput);
  const issueWindowNs = n > 0 ? maxStart - minStart : 0;
  const issueRateNs = n > 0 ? issueWindowNs / n : 0;

  return {
    numRequests: n,
    numFailed: records.length - n,
    failures: summarizeFailures(records),
    worldSize: opts.worldSize,
    totalLatencyNs,
    totalInputTokens: totalInput,
    totalOutputTokens: totalOutput,
    generationTokens: totalOutput - n,
    avgInputLength: n > 0 ? totalInput / n : 0,
    avgOutputLength: n > 0 ? totalOutput / n : 0,
    requestThroughput: perSecond(n),
    outputThroughput,
    totalTokenThroughput: perSecond(totalInput + totalOutput),
    perUserOutputThroughput: outputThroughputPerUser.average,
    perGpuOutputThroughput: opts.worldSize > 0 ? outputThroughput / opts.worldSize : 0,
    avgRequestLatencyNs: requestLatencyNs.average,
    avgConcurrentRequests: totalLatencyNs > 0 ? latencySum / totalLatencyNs : 0,
    issueRateNs,
    issueRateReported: issueRateNs * NS_PER_S,
    submissionRate: issueWindowNs > 0 ? ((n - 1) * NS_PER_S) / issueWindowNs : 0,
    requestLatencyNs,
    generationTimeNs: generationTime,
    outputTokens,
    outputThroughputPerUser,
    queueNs: queue,
    latencyFromScheduledNs: fromScheduled,
    ...(slotIdle !== undefined ? { slotIdleNs: slotIdle } : {}),
    ttftFromScheduledNs: ttftFromScheduled,
    tokenAccounting: acct,
    streaming,
    decoding: decodingStatistics(ok, opts.maxDraftLen ?? 0, scratch),
    failureReasons: summarizeFailureReasons(records),
    outputTokenCounts: outputTokenCounts(ok),
    inputTokenCounts: inputTokenCounts(ok),
    chunks: census ? chunkStatistics(ok, census, scratch) : undefined,
    ...(opts.slo ? { goodput: computeGoodput(records, opts.slo, totalLatencyNs) } : {}),
  };
}

/** Output tokens including the first (the numTotalOutputTokens of requestMetrics). */
function numTotalOutputTokens(r: RequestRecord): number {
  return r.numOutputTokens;
}

/** end − scheduled: latency as the schedule saw it. */
function latencyFromScheduledNs(r: RequestRecord): number {
  return r.endNs - r.scheduledNs;
}

/** first token − scheduled; 0 when the first-token time is unknown. */
function ttftFromScheduledNs(r: RequestRecord): number {
  return r.firstTokenNs >= 0 ? r.firstTokenNs - r.scheduledNs : 0;
}

/** One array lent to each metric in turn (sized once for the largest). */
class Scratch {
  private buf: Float64Array;
  constructor(size: number) {
    this.buf = new Float64Array(size);
  }

  /** The first `size` slots (grown if needed); whatever they held is the caller's to overwrite. */
  take(size: number): Float64Array {
    if (this.buf.length < size) this.buf = new Float64Array(size);
    return this.buf.subarray(0, size);
  }

  /** `metric` of each record, in their order. */
  fill(records: readonly RequestRecord[], metric: (r: RequestRecord) => number): Float64Array {
    const a = this.take(records.length);
    for (let i = 0; i < records.length; i++) a[i] = metric(records[i]!);
    return a;
  }
}

function streamingStatistics(
  ttft: PercentileStats,
  tpot: PercentileStats,
  gtps: PercentileStats,
): StreamingStatistics {
  return {
    avgTtftNs: ttft.average,
    avgTpotNs: tpot.average,
    perUserOutputSpeed: gtps.average,
    ttftNs: ttft,
    tpotNs: tpot,
    gtps,
  };
}

/**
 * Present when any request reports draft counts, or when `maxDraftLen` > 0 (trtllm-bench's derivation).
 * Iterations are engine steps that produced tokens (trtllm-bench's decode_iteration + 1), at least 1.
 */
function decodingStatistics(
  ok: readonly RequestRecord[],
  maxDraftLen: number,
  scratch: Scratch,
): DecodingStatistics | undefined {
  if (ok.length === 0 || (maxDraftLen <= 0 && !ok.some((r) => r.draftTokens !== undefined))) return undefined;
  let totalOut = 0;
  let totalIter = 0;
  for (const r of ok) {
    totalOut += r.numOutputTokens;
    totalIter += iterations(r);
  }
  const draft = (r: RequestRecord) => r.draftTokens ?? maxDraftLen * iterations(r);
  const accepted = (r: RequestRecord) => r.acceptedDraftTokens ?? r.numOutputTokens - iterations(r);
  return {
    numDraftTokens: percentileStatsInPlace(scratch.fill(ok, draft)),
    numAcceptedDraftTokens: percentileStatsInPlace(scratch.fill(ok, accepted)),
    draftAcceptanceRate: percentileStatsInPlace(
      scratch.fill(ok, (r) => {
        const d = draft(r);
        return d > 0 ? accepted(r) / d : 0;
      }),
    ),
    acceptanceLength: percentileStatsInPlace(scratch.fill(ok, (r) => r.numOutputTokens / iterations(r))),
    globalAcceptanceLength: totalOut / totalIter,
  };
}

/** Engine steps that produced tokens (trtllm-bench's decode_iteration + 1), at least 1. */
function iterations(r: RequestRecord): number {
  return Math.max(1, r.decodeIterations);
}

function summarizeFailures(records: readonly RequestRecord[]): FailureSummary[] {
  const counts = new Map<string, number>();
  for (const r of records) if (r.error !== undefined) counts.set(r.error, (counts.get(r.error) ?? 0) + 1);
  return [...counts].map(([message, count]) => ({ message, count })).sort((a, b) => b.count - a.count);
}

/** `http_503: Service Unavailable` → `http_503`; free-form messages stay whole. */
export function failureReason(error: string): string {
  const m = /^([a-z][a-z0-9_]*)(?::|$)/.exec(error);
  return m ? m[1]! : error;
}

function summarizeFailureReasons(records: readonly RequestRecord[]): FailureSummary[] {
  const counts = new Map<string, number>();
  for (const r of records) {
    if (r.error === undefined) continue;
    const reason = failureReason(r.error);
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
  }
  return [...counts].map(([message, count]) => ({ message, count })).sort((a, b) => b.count - a.count);
}

function outputTokenCounts(ok: readonly RequestRecord[]): OutputTokenCounts | undefined {
  const c: OutputTokenCounts = {
    serverCounted: 0,
    clientCounted: 0,
    bothCounted: 0,
    serverOutputTokens: 0,
    clientOutputTokens: 0,
    difference: 0,
    differingRequests: 0,
  };
  for (const r of ok) {
    if (r.serverOutputTokens !== undefined) {
      c.serverCounted++;
      c.serverOutputTokens += r.serverOutputTokens;
    }
    if (r.clientOutputTokens !== undefined) {
      c.clientCounted++;
      c.clientOutputTokens += r.clientOutputTokens;
    }
    if (r.serverOutputTokens !== undefined && r.clientOutputTokens !== undefined) {
      c.bothCounted++;
      c.difference += r.serverOutputTokens - r.clientOutputTokens;
      if (r.serverOutputTokens !== r.clientOutputTokens) c.differingRequests++;
    }
  }
  return c.serverCounted + c.clientCounted > 0 ? c : undefined;
}

/** Which successful records count in the chunk statistics, and how many chunks and gaps they hold. */
interface ChunkCensus {
  /** 1: the record (by its index among successful ones) has chunk times and an output count. */
  counted: Uint8Array;
  /** Its number of chunks. */
  chunkCount: Int32Array;
  requests: number;
  chunks: number;
  gaps: number;
  /** Every counted record has per-chunk token counts. */
  perChunk: boolean;
}

/**
 * Over requests whose output came as text (counted by the server's usage or the client's tokenizer), whose chunks
 * carry an unknown number of tokens. An engine that streams token ids sends one chunk per decode step, so its
 * chunk times (kept for `--request_json`) would only repeat TPOT. Undefined when no request qualifies.
 */
function chunkCensus(ok: readonly RequestRecord[]): ChunkCensus | undefined {
  const counted = new Uint8Array(ok.length);
  const chunkCount = new Int32Array(ok.length);
  let requests = 0;
  let chunks = 0;
  let gaps = 0;
  let perChunk = true;
  for (let i = 0; i < ok.length; i++) {
    const r = ok[i]!;
    if (r.serverOutputTokens === undefined && r.clientOutputTokens === undefined) continue;
    // Each record's chunk times are read once per pass: records may build the array on each read (the load
    // generator's are views over columns, src/load/record-table.ts).
    const t = r.chunkTimesNs;
    if (t === undefined) continue;
    counted[i] = 1;
    chunkCount[i] = t.length;
    requests++;
    chunks += t.length;
    gaps += Math.max(0, t.length - 1);
    if (perChunk && r.chunkTokens === undefined) perChunk = false;
  }
  return requests > 0 ? { counted, chunkCount, requests, chunks, gaps, perChunk } : undefined;
}

function chunkStatistics(ok: readonly RequestRecord[], c: ChunkCensus, scratch: Scratch): ChunkStatistics {
  const gap = scratch.take(c.gaps);
  let g = 0;
  for (let i = 0; i < ok.length; i++) {
    if (c.counted[i] !== 1) continue;
    const t = ok[i]!.chunkTimesNs!;
    for (let j = 1; j < t.length; j++) gap[g++] = t[j]! - t[j - 1]!;
  }
  const chunkGapNs = percentileStatsInPlace(gap);
  let tokens: Float64Array;
  if (c.perChunk) {
    tokens = scratch.take(c.chunks);
    let j = 0;
    for (let i = 0; i < ok.length; i++) {
      if (c.counted[i] === 1) for (const v of ok[i]!.chunkTokens!) tokens[j++] = v;
    }
  } else {
    let k = 0;
    for (let i = 0; i < ok.length; i++) if (c.counted[i] === 1 && c.chunkCount[i]! > 0) k++;
    tokens = scratch.take(k);
    let j = 0;
    for (let i = 0; i < ok.length; i++) {
      if (c.counted[i] === 1 && c.chunkCount[i]! > 0) tokens[j++] = ok[i]!.numOutputTokens / c.chunkCount[i]!;
    }
  }
  return {
    chunks: c.chunks,
    chunkGapNs,
    tokensPerChunk: percentileStatsInPlace(tokens),
    tokensPerChunkSource: c.perChunk ? "server_per_chunk" : "request_average",
  };
}
