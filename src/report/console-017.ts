import type { PercentileStats } from "../dataset/types.ts";
import { exponential, fixed, pyStr } from "./format.ts";
import type { ReportInput } from "./report-input.ts";

/**
 * The printed report of trtllm-bench 0.17 (`--compat 0.17`): `report_statistics` for throughput and
 * `report_latency_statistics` for latency in `tensorrt_llm/bench/dataclasses/reporting.py` (0.17.0.post1),
 * byte for byte: labels separated from values by tabs, the section titles that end in a space, the blank lines.
 * Two deliberate differences: "Version:" stands in for "TensorRT-LLM Version:" (the value is llm-bench's), and
 * a backend without an engine directory is titled "= <backend> backend" where 0.17 wrote "= PyTorch backend".
 * The output starts at the first rule; 0.17 logs it after "[date] [TRT-LLM] [I] " and an empty line.
 */
export function formatReport017(input: ReportInput, kind: "throughput" | "latency"): string {
  return kind === "latency" ? latencyReport(input) : throughputReport(input);
}

const RULE = "===========================================================";
const MS = 1e-6;

function engineSection({ engine }: ReportInput): string {
  if (engine.engineDir !== undefined) {
    return (
      `${RULE}\n= ENGINE DETAILS\n${RULE}\n` +
      `Model:\t\t\t${engine.model}\n` +
      `Engine Directory:\t${engine.engineDir}\n` +
      `Version:\t\t${engine.version}\n` +
      `Dtype:\t\t\t${engine.dtype}\n` +
      `KV Cache Dtype:\t\t${engine.kvCacheDtype}\n` +
      `Quantization:\t\t${engine.quantization}\n` +
      `Max Input Length:\t${pyStr(engine.maxInputLength)}\n` +
      `Max Sequence Length:\t${pyStr(engine.maxSequenceLength)}\n` +
      "\n"
    );
  }
  return (
    `${RULE}\n= ${engine.backend} backend\n${RULE}\n` +
    `Model:\t\t\t${engine.model}\n` +
    `Model Path:\t\t${pyStr(engine.modelPath)}\n` +
    `Version:\t\t${engine.version}\n` +
    `Dtype:\t\t\t${engine.dtype}\n` +
    `KV Cache Dtype:\t\t${engine.kvCacheDtype}\n` +
    `Quantization:\t\t${engine.quantization}\n` +
    "\n"
  );
}

/** 0.17 printed `CapacitySchedulerPolicy.values[1]`, the policy's display name. */
export function policyDisplayName(policy: string | undefined): string {
  if (policy === undefined) return "None";
  return policy
    .toLowerCase()
    .split("_")
    .map((w) => (w ? w[0]!.toUpperCase() + w.slice(1) : w))
    .join(" ");
}

function worldSection({ engine, stats }: ReportInput, withIssueRate: boolean): string {
  const kv = engine.kvCacheFraction !== undefined ? `${fixed(engine.kvCacheFraction * 100, 2)}%` : "None";
  return (
    `${RULE}\n= WORLD + RUNTIME INFORMATION \n${RULE}\n` +
    `TP Size:\t\t${engine.tpSize}\n` +
    `PP Size:\t\t${engine.ppSize}\n` +
    `Max Runtime Batch Size:\t${pyStr(engine.maxBatchSize)}\n` +
    `Max Runtime Tokens:\t${pyStr(engine.maxNumTokens)}\n` +
    `Scheduling Policy:\t${policyDisplayName(engine.schedulingPolicy)}\n` +
    `KV Memory Percentage:\t${kv}\n` +
    (withIssueRate ? `Issue Rate (req/sec):\t${exponential(stats.issueRateReported, 4, true)}\n` : "") +
    "\n"
  );
}

function throughputReport(input: ReportInput): string {
  const { stats } = input;
  let out =
    engineSection(input) +
    worldSection(input, true) +
    `${RULE}\n= PERFORMANCE OVERVIEW \n${RULE}\n` +
    `Number of requests:\t\t${stats.numRequests}\n` +
    `Average Input Length (tokens):\t${fixed(stats.avgInputLength)}\n` +
    `Average Output Length (tokens):\t${fixed(stats.avgOutputLength)}\n` +
    `Token Throughput (tokens/sec):\t${fixed(stats.outputThroughput)}\n` +
    `Request Throughput (req/sec):\t${fixed(stats.requestThroughput)}\n` +
    `Total Latency (ms):\t\t${fixed(stats.totalLatencyNs * MS)}\n`;
  const st = input.streaming ? stats.streaming : undefined;
  if (st) {
    out +=
      `\n${RULE}\n= STREAMING STATISTICS \n${RULE}\n` +
      `Average request latency (ms):\t\t${fixed(stats.avgRequestLatencyNs * MS)}\n` +
      `Average time-to-first-token (ms):\t${fixed(st.avgTtftNs * MS)}\n` +
      `Average inter-token latency (ms):\t${fixed(st.avgTpotNs * MS)}\n`;
  }
  return `${out}\n${RULE}\n`;
}

/** 0.17's five breakdown lines; its "P90" line prints the p50 value, which is kept so numbers compare. */
function breakdown(s: PercentileStats, unit: string, digits: number, scale = 1): string {
  const v = (x: number) => fixed(x * scale, digits);
  return (
    `MIN${unit}: ${v(s.minimum)}\n` +
    `MAX${unit}: ${v(s.maximum)}\n` +
    `AVG${unit}: ${v(s.average)}\n` +
    `P90${unit}: ${v(s.p50)}\n` +
    `P95${unit}: ${v(s.p95)}\n` +
    `P99${unit}: ${v(s.p99)}\n`
  );
}

function latencyReport(input: ReportInput): string {
  const { stats } = input;
  const st = stats.streaming;
  const acc = input.acceptance017;
  return (
    engineSection(input) +
    worldSection(input, false) +
    `${RULE}\n= GENERAL OVERVIEW \n${RULE}\n` +
    `Number of requests:\t\t${stats.numRequests}\n` +
    `Average Input Length (tokens):\t${fixed(stats.avgInputLength)}\n` +
    `Average Output Length (tokens):\t${fixed(stats.avgOutputLength)}\n` +
    `Average request latency (ms):\t${fixed(stats.avgRequestLatencyNs * MS)}\n` +
    "\n" +
    `${RULE}\n= THROUGHPUT OVERVIEW \n${RULE}\n` +
    `Request Throughput (req/sec):\t\t  ${fixed(stats.requestThroughput)}\n` +
    `Total Token Throughput (tokens/sec):\t  ${fixed(stats.outputThroughput)}\n` +
    `Generation Token Throughput (tokens/sec): ${fixed(st?.perUserOutputSpeed ?? 0)}\n` +
    "\n" +
    `${RULE}\n= LATENCY OVERVIEW \n${RULE}\n` +
    `Total Latency (ms):\t\t  ${fixed(stats.totalLatencyNs * MS)}\n` +
    `Average time-to-first-token (ms): ${fixed((st?.avgTtftNs ?? 0) * MS)}\n` +
    `Average inter-token latency (ms): ${fixed((st?.avgTpotNs ?? 0) * MS)}\n` +
    `Acceptance Rate (Speculative):\t  ${fixed(acc?.acceptanceRate ?? 0, 2)}\n` +
    "\n" +
    `${RULE}\n= GENERATION LATENCY BREAKDOWN \n${RULE}\n` +
    breakdown(stats.generationTimeNs, " (ms)", 4, MS) +
    "\n" +
    `${RULE}\n= ACCEPTANCE BREAKDOWN \n${RULE}\n` +
    breakdown(acc?.perRequest ?? ZERO, "", 2) +
    "\n" +
    `${RULE}\n`
  );
}

const ZERO: PercentileStats = { p50: 0, p90: 0, p95: 0, p99: 0, minimum: 0, maximum: 0, average: 0 };
