import type { PercentileStats } from "../dataset/types.ts";
import { computeSummary, gpuSummary, hostSummary } from "../engine/machine.ts";
import { formatSlo } from "../metrics/goodput.ts";
import { scaleStats } from "../metrics/percentiles.ts";
import { escapeControls } from "../util/terminal-text.ts";
import { datasetCell, exponential, fixed, pyStr } from "./format.ts";
import type { ReportInput } from "./report-input.ts";
import { telemetrySections } from "./telemetry-console.ts";

/**
 * The printed report in trtllm-bench's newer (~0.20 → 1.x) layout and labels (brief §4.5), framed like the
 * docs samples. trtllm-bench aligns values with tabs; we expand them to the same columns with spaces so the
 * output does not depend on the terminal's tab stops. llm-bench's own lines live in their own section.
 */
export function formatReport(input: ReportInput): string {
  const sections = [
    partialSection(input),
    engineSection(input),
    input.machine ? machineSection(input) : undefined,
    requestSection(input),
    worldSection(input),
    performanceSection(input),
    decodingSection(input),
    llmBenchSection(input),
    ...telemetrySections(input),
    datasetSection(input),
  ];
  // Model names, paths and a server's version string are quoted as given: escaped for the terminal.
  return escapeControls(`${sections.filter((s) => s !== undefined).join("\n")}${RULE}\n`);
}

const RULE = "===========================================================";
const MS = 1e-6;
const ORDER_BREAKDOWN = ["minimum", "maximum", "average", "p50", "p90", "p95", "p99"] as const;
const ORDER_DUMP = ["p50", "p90", "p95", "p99", "minimum", "maximum", "average"] as const;

function header(title: string): string {
  return `${RULE}\n= ${title}\n${RULE}\n`;
}

/** Label padded to a column, as trtllm-bench's hand-aligned f-strings (or tabs at 8-column stops) do. */
function rows(width: number, entries: Array<[string, string]>): string {
  return entries.map(([label, value]) => `${label.padEnd(width - 1)} ${value}\n`).join("");
}

function breakdown(
  tag: string,
  stats: PercentileStats,
  order: readonly (keyof PercentileStats)[],
  digits = 4,
) {
  return order.map((k) => `[${tag}] ${k.toUpperCase().padEnd(7)}: ${fixed(stats[k], digits)}`).join("\n");
}

function engineSection({ engine }: ReportInput): string {
  const hasDir = engine.engineDir !== undefined;
  const title = hasDir ? "ENGINE DETAILS" : `${engine.backend.toUpperCase()} BACKEND`;
  const entries: Array<[string, string]> = [
    ["Model:", engine.model],
    ["Model Path:", pyStr(engine.modelPath)],
  ];
  if (hasDir) entries.push(["Engine Directory:", pyStr(engine.engineDir)]);
  entries.push(
    ["Backend:", engine.backend],
    ["Version:", engine.version],
    ["Dtype:", engine.dtype],
    ["KV Cache Dtype:", engine.kvCacheDtype],
    ["Quantization:", engine.quantization],
  );
  if (hasDir || engine.maxInputLength !== undefined)
    entries.push(["Max Input Length:", pyStr(engine.maxInputLength)]);
  if (hasDir || engine.maxSequenceLength !== undefined) {
    entries.push(["Max Sequence Length:", pyStr(engine.maxSequenceLength)]);
  }
  return `${header(title)}${rows(24, entries)}`;
}

function machineSection({ machine }: ReportInput): string {
  const m = machine!;
  const mem = m.memoryTotalGiB !== undefined ? `${fixed(m.memoryTotalGiB, 2)} GB` : "N/A";
  const clock = m.memoryClockGHz !== undefined ? `${fixed(m.memoryClockGHz, 2)} GHz` : "N/A";
  const gpus = gpuSummary(m.host);
  const lines = rows(10, [
    ["Compute:", computeSummary(m.compute)],
    ["Host:", hostSummary(m.host)],
    ...(gpus ? ([["GPUs:", gpus]] as Array<[string, string]>) : []),
  ]);
  return `${header("MACHINE DETAILS")}${m.name}, memory ${mem}, ${clock}\n${lines}`;
}

function requestSection({ stats }: ReportInput): string {
  return `${header("REQUEST DETAILS")}${rows(32, [
    ["Number of requests:", String(stats.numRequests)],
    ["Number of concurrent requests:", fixed(stats.avgConcurrentRequests)],
    ["Average Input Length (tokens):", fixed(stats.avgInputLength)],
    ["Average Output Length (tokens):", fixed(stats.avgOutputLength)],
  ])}`;
}

function worldSection({ engine, stats, epSize }: ReportInput): string {
  const kv = engine.kvCacheFraction !== undefined ? `${fixed(engine.kvCacheFraction * 100, 2)}%` : "None";
  return `${header("WORLD + RUNTIME INFORMATION")}${rows(24, [
    ["TP Size:", String(engine.tpSize)],
    ["PP Size:", String(engine.ppSize)],
    ["EP Size:", String(epSize ?? 1)],
    // llm-bench's: only when the model was split over several GPUs, so one-GPU reports keep trtllm-bench's bytes
    ...(engine.device?.split
      ? ([["Model Split:", `${engine.device.split}: ${engine.device.devices.join(", ")}`]] as Array<
          [string, string]
        >)
      : []),
    ["Max Runtime Batch Size:", pyStr(engine.maxBatchSize)],
    ["Max Runtime Tokens:", pyStr(engine.maxNumTokens)],
    ["Scheduling Policy:", pyStr(engine.schedulingPolicy)],
    ["KV Memory Percentage:", kv],
    // trtllm-bench's value and label (mean ns between submissions × 1e9); the real rate is in LLM-BENCH DETAILS.
    ["Issue Rate (req/sec):", exponential(stats.issueRateReported, 4, true)],
  ])}`;
}

function performanceSection({ stats, streaming }: ReportInput): string {
  const entries: Array<[string, string]> = [
    ["Request Throughput (req/sec):", fixed(stats.requestThroughput)],
    ["Total Output Throughput (tokens/sec):", fixed(stats.outputThroughput)],
    ["Total Token Throughput (tokens/sec):", fixed(stats.totalTokenThroughput)],
    ["Total Latency (ms):", fixed(stats.totalLatencyNs * MS)],
    ["Average request latency (ms):", fixed(stats.avgRequestLatencyNs * MS)],
    ["Per User Output Throughput [w/ ctx] (tps/user):", fixed(stats.perUserOutputThroughput)],
    ["Per GPU Output Throughput (tps/gpu):", fixed(stats.perGpuOutputThroughput)],
  ];
  let out = header("PERFORMANCE OVERVIEW");
  const st = streaming ? stats.streaming : undefined;
  if (st) {
    entries.push(
      ["Average time-to-first-token [TTFT] (ms):", fixed(st.avgTtftNs * MS)],
      ["Average time-per-output-token [TPOT] (ms):", fixed(st.avgTpotNs * MS)],
      ["Per User Output Speed (tps/user):", fixed(st.perUserOutputSpeed)],
    );
  }
  out += rows(50, entries);
  if (st) {
    out +=
      "\n-- Per-Request Time-per-Output-Token [TPOT] Breakdown (ms)\n\n" +
      `${breakdown("TPOT", scaleStats(st.tpotNs, MS), ORDER_BREAKDOWN)}\n` +
      "\n-- Per-Request Time-to-First-Token [TTFT] Breakdown (ms)\n\n" +
      `${breakdown("TTFT", scaleStats(st.ttftNs, MS), ORDER_BREAKDOWN)}\n` +
      "\n-- Per-Request Generation Throughput [GTPS] Breakdown (tps/user)\n\n" +
      `${breakdown("GTPS", st.gtps, ORDER_BREAKDOWN)}\n`;
  }
  out +=
    "\n-- Request Latency Breakdown (ms) -----------------------\n\n" +
    `${breakdown("Latency", scaleStats(stats.requestLatencyNs, MS), ORDER_DUMP)}\n`;
  return out;
}

function decodingSection({ stats, decodingMode }: ReportInput): string | undefined {
  const d = stats.decoding;
  if (!d) return undefined;
  const part = (title: string, tag: string, s: PercentileStats) =>
    `-- ${title} --------------------------------\n\n${breakdown(tag, s, ORDER_BREAKDOWN, 2)}\n`;
  return (
    `${header(`DECODING STATISTICS (${decodingMode ?? "speculative"})`)}\n` +
    part("Number of Draft Tokens Details", "DT", d.numDraftTokens) +
    part("Number of Accepted Draft Tokens Details", "ADT", d.numAcceptedDraftTokens) +
    part("Draft Acceptance Rate Details", "DAR", d.draftAcceptanceRate) +
    part("Acceptance Length Details", "AL", d.acceptanceLength) +
    `Global Acceptance Length:  ${fixed(d.globalAcceptanceLength, 2)}\n`
  );
}

/** An interrupted run still reports, over the requests that finished, and says so first. */
export function partialSection({ load }: ReportInput): string | undefined {
  if (!load?.interrupted) return undefined;
  return (
    `${header("PARTIAL REPORT (interrupted)")}` +
    `Statistics cover the ${load.completed} finished request(s); ${load.cancelled} cancelled in flight, ` +
    `${load.notIssued} never sent.\n`
  );
}

function loadShapeLabel(load: NonNullable<ReportInput["load"]>): string {
  const parts = [
    load.shape === "rate"
      ? `rate ${fixed(load.requestRate ?? 0)} req/s, burstiness ${load.burstiness}`
      : "offline",
    `concurrency ${load.concurrency > 0 ? load.concurrency : "unlimited"}`,
  ];
  if (load.durationS !== undefined)
    parts.push(`duration ${load.durationS}s${load.durationReached ? " (reached)" : ""}`);
  return parts.join(", ");
}

/** llm-bench's additions, kept apart so the trtllm-bench sections stay comparable line by line. */
function llmBenchSection({ stats, load, streaming }: ReportInput): string {
  const t = stats.tokenAccounting;
  let out = `${header("LLM-BENCH DETAILS")}${rows(50, [
    ["Failed requests (excluded from all statistics):", String(stats.numFailed)],
    ["Output tokens requested / produced:", `${t.requestedOutputTokens} / ${t.actualOutputTokens}`],
    ["Requests with another output length than asked:", `${t.mismatchedRequests} (${t.shortRequests} short)`],
    ["Measured submission rate (req/sec):", fixed(stats.submissionRate)],
    ["Average queueing delay (ms):", fixed(stats.queueNs.average * MS)],
  ])}`;
  if (load) {
    const lag = load.eventLoopLag;
    out += rows(50, [
      ["Load shape:", loadShapeLabel(load)],
      [
        "Client event-loop lag p99 / max (ms):",
        `${fixed(lag.p99Ms, 2)} / ${fixed(lag.maxMs, 2)}${lag.saturated ? " (client saturated: latencies include client delay)" : ""}`,
      ],
    ]);
  }
  const g = stats.goodput;
  if (g) {
    out += rows(50, [
      [`Goodput [${formatSlo(g.slo)}] (req/sec):`, fixed(g.goodput)],
      ["Requests meeting the SLOs (of all, failed incl.):", `${g.goodRequests} / ${g.totalRequests}`],
    ]);
  }
  for (const f of stats.failures.slice(0, 5)) out += `  ${f.count} × ${f.message}\n`;
  if (stats.failures.length > 5) out += `  … ${stats.failures.length - 5} more distinct errors\n`;
  out += tokenSourcesLines(stats);
  out +=
    "\n-- Queueing Delay Breakdown (ms) [start − scheduled] ----\n\n" +
    `${breakdown("Queue", scaleStats(stats.queueNs, MS), ORDER_BREAKDOWN)}\n`;
  if (stats.slotIdleNs) {
    out +=
      "\n-- Slot Idle Time (ms) [send − end before it on the slot]\n\n" +
      `${breakdown("Slot Idle", scaleStats(stats.slotIdleNs, MS), ORDER_BREAKDOWN)}\n`;
  }
  out +=
    "\n-- Latency From Scheduled Time (ms) [end − scheduled] ---\n\n" +
    `${breakdown("Sched. Latency", scaleStats(stats.latencyFromScheduledNs, MS), ORDER_BREAKDOWN)}\n`;
  if (streaming) {
    out +=
      "\n-- TTFT From Scheduled Time (ms) [first − scheduled] ----\n\n" +
      `${breakdown("Sched. TTFT", scaleStats(stats.ttftFromScheduledNs, MS), ORDER_BREAKDOWN)}\n`;
  }
  return out;
}

/** Failures by reason, output tokens as server and client counted them, and chunk gaps (HTTP backends). */
function tokenSourcesLines(stats: ReportInput["stats"]): string {
  let out = "";
  const reasons = stats.failureReasons ?? [];
  if (reasons.length > 0) {
    out += `Failures by reason: ${reasons.map((f) => `${f.message} ${f.count}`).join(", ")}\n`;
  }
  const c = stats.outputTokenCounts;
  if (c) {
    const sign = c.difference > 0 ? "+" : "";
    out += rows(50, [
      ["Output tokens by server usage (requests):", `${c.serverOutputTokens} (${c.serverCounted})`],
      ["Output tokens counted by the client (requests):", `${c.clientOutputTokens} (${c.clientCounted})`],
      [
        "Server − client tokens (requests differing):",
        `${sign}${c.difference} (${c.differingRequests} of ${c.bothCounted})`,
      ],
    ]);
  }
  const inp = stats.inputTokenCounts;
  if (inp) {
    out += rows(50, [
      ["Input tokens by server usage (requests):", `${inp.serverInputTokens} (${inp.serverCounted})`],
      ["Input tokens in the dataset (same requests):", String(inp.datasetInputTokens)],
      [
        "Server − dataset tokens (requests differing):",
        `${inp.difference > 0 ? "+" : ""}${inp.difference} (${inp.differingRequests} of ${inp.serverCounted})`,
      ],
    ]);
  }
  const ch = stats.chunks;
  if (ch) {
    const src = ch.tokensPerChunkSource === "server_per_chunk" ? "server usage per chunk" : "n / chunks";
    out +=
      rows(50, [
        ["Streamed chunks:", String(ch.chunks)],
        ["Average tokens per chunk:", `${fixed(ch.tokensPerChunk.average)} (${src})`],
      ]) +
      "\n-- Chunk Gap Breakdown (ms) [between streamed chunks; not TPOT] --\n\n" +
      `${breakdown("ChunkGap", scaleStats(ch.chunkGapNs, MS), ORDER_BREAKDOWN)}\n`;
  }
  return out;
}

function datasetSection({ dataset }: ReportInput): string {
  const cols = [dataset.isl_stats, dataset.osl_stats, dataset.seq_len_stats];
  const line = (label: string, key: keyof PercentileStats) =>
    `${label}  ${cols.map((c) => datasetCell(c[key])).join("          ")}\n`;
  return (
    `${header("DATASET DETAILS")}` +
    `Dataset Path:         ${dataset.dataset_path}\n` +
    `Number of Sequences:  ${dataset.num_requests}\n` +
    "\n-- Percentiles statistics ---------------------------------\n\n" +
    "        Input              Output           Seq. Length\n" +
    "-----------------------------------------------------------\n" +
    line("MIN:", "minimum") +
    line("MAX:", "maximum") +
    line("AVG:", "average") +
    line("P50:", "p50") +
    line("P90:", "p90") +
    line("P95:", "p95") +
    line("P99:", "p99")
  );
}
