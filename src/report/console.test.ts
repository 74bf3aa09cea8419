import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { computeDatasetMetadata } from "../dataset/stats.ts";
import { describeMachine } from "../engine/machine.ts";
import type { EngineInfo } from "../engine/types.ts";
import type { RequestRecord } from "../metrics/record.ts";
import { computeStatistics } from "../metrics/statistics.ts";
import { formatReport } from "./console.ts";
import type { ReportInput } from "./report-input.ts";

const MS = 1e6;

const docsEngine: EngineInfo = {
  backend: "trt",
  model: "meta-llama/Llama-3.1-8B",
  modelPath: undefined,
  engineDir: "/tmp/meta-llama/Llama-3.1-8B/tp_1_pp_1",
  version: "0.17.0",
  dtype: "bfloat16",
  kvCacheDtype: "FP8",
  quantization: "FP8",
  maxInputLength: 256,
  maxSequenceLength: 256,
  tpSize: 1,
  ppSize: 1,
  maxBatchSize: 4096,
  maxNumTokens: 8192,
  schedulingPolicy: "Guaranteed No Evict",
  kvCacheFraction: 0.9,
};

/** The 0.17 docs run: 3000 × 128/128, total latency 13525.6862 ms, issue_rate_ns 506890. */
function docsInput(): ReportInput {
  const window = 3000 * 506_890;
  const total = 13_525_686_200;
  const records: RequestRecord[] = Array.from({ length: 3000 }, (_, i) => ({
    id: String(i),
    numInputTokens: 128,
    numOutputTokens: 128,
    requestedOutputTokens: 128,
    scheduledNs: 0,
    startNs: Math.round((i * window) / 2999),
    firstTokenNs: -1,
    endNs: total - (2999 - i) * 1000,
    decodeIterations: 128,
    error: undefined,
  }));
  const stats = computeStatistics(records, { streaming: false, worldSize: 1 });
  const dataset = computeDatasetMetadata(
    "/tmp/synthetic_128_128.txt",
    new Array(3000).fill(128),
    new Array(3000).fill(128),
  );
  return { engine: docsEngine, stats, dataset, streaming: false };
}

function lines(report: string): string[] {
  return report.split("\n");
}

describe("formatReport reproduces the docs sample", () => {
  const report = formatReport(docsInput());
  const all = lines(report);

  test("sections in trtllm-bench's newer order, framed by the rule", () => {
    const titles = all.filter((l) => l.startsWith("= "));
    assert.deepEqual(titles, [
      "= ENGINE DETAILS",
      "= REQUEST DETAILS",
      "= WORLD + RUNTIME INFORMATION",
      "= PERFORMANCE OVERVIEW",
      "= LLM-BENCH DETAILS",
      "= DATASET DETAILS",
    ]);
    assert.equal(all[0], "===========================================================");
    assert.ok(report.endsWith("===========================================================\n"));
  });

  test("engine and world lines match the docs text column for column", () => {
    for (const l of [
      "Model:                  meta-llama/Llama-3.1-8B",
      "Engine Directory:       /tmp/meta-llama/Llama-3.1-8B/tp_1_pp_1",
      "Dtype:                  bfloat16",
      "KV Cache Dtype:         FP8",
      "Max Input Length:       256",
      "Max Sequence Length:    256",
      "TP Size:                1",
      "Max Runtime Batch Size: 4096",
      "Max Runtime Tokens:     8192",
      "Scheduling Policy:      Guaranteed No Evict",
      "KV Memory Percentage:   90.00%",
      "Issue Rate (req/sec):   5.0689E+14",
      "Model Path:             None",
    ]) {
      assert.ok(all.includes(l), `missing line ${JSON.stringify(l)}`);
    }
  });

  test("the performance numbers of the docs sample", () => {
    for (const l of [
      "Number of requests:             3000",
      "Average Input Length (tokens):  128.0000",
      "Average Output Length (tokens): 128.0000",
      "Request Throughput (req/sec):                     221.8002",
      "Total Output Throughput (tokens/sec):             28390.4265",
      "Total Token Throughput (tokens/sec):              56780.8530", // (384000 + 384000) / 13.5256862 s
      "Total Latency (ms):                               13525.6862",
      "Per GPU Output Throughput (tps/gpu):              28390.4265",
    ]) {
      assert.ok(all.includes(l), `missing line ${JSON.stringify(l)}`);
    }
  });

  test("no streaming breakdowns without streaming; the latency breakdown always", () => {
    assert.ok(!report.includes("[TTFT]"));
    assert.ok(!report.includes("Average time-to-first-token"));
    const i = all.indexOf("-- Request Latency Breakdown (ms) -----------------------");
    assert.ok(i > 0);
    assert.deepEqual(
      all.slice(i + 2, i + 9).map((l) => l.slice(0, 18)),
      [
        "[Latency] P50    :",
        "[Latency] P90    :",
        "[Latency] P95    :",
        "[Latency] P99    :",
        "[Latency] MINIMUM:",
        "[Latency] MAXIMUM:",
        "[Latency] AVERAGE:",
      ],
    );
  });

  test("dataset table with trtllm-bench's %9.4f cells", () => {
    assert.ok(all.includes("Dataset Path:         /tmp/synthetic_128_128.txt"));
    assert.ok(all.includes("Number of Sequences:  3000"));
    assert.ok(all.includes("MIN:   128.0000           128.0000           256.0000"));
    assert.ok(all.includes("P99:   128.0000           128.0000           256.0000"));
  });
});

describe("streaming, backend header, decoding and failures", () => {
  const records: RequestRecord[] = [
    // e2e 1000 ms, TTFT 100, TPOT (1000−100)/9 = 100 ms, GTPS 9/0.9 s = 10; 10 tokens in 4 iterations
    {
      id: "1",
      numInputTokens: 50,
      numOutputTokens: 10,
      requestedOutputTokens: 10,
      scheduledNs: 0,
      startNs: 0,
      firstTokenNs: 100 * MS,
      endNs: 1000 * MS,
      decodeIterations: 4,
      error: undefined,
      draftTokens: 12,
      acceptedDraftTokens: 6,
    },
    // e2e 1000 ms, TTFT 50, TPOT 950/19 = 50 ms, GTPS 19/0.95 = 20
    {
      id: "2",
      numInputTokens: 100,
      numOutputTokens: 20,
      requestedOutputTokens: 20,
      scheduledNs: 0,
      startNs: 200 * MS,
      firstTokenNs: 250 * MS,
      endNs: 1200 * MS,
      decodeIterations: 9,
      error: undefined,
      draftTokens: 27,
      acceptedDraftTokens: 11,
    },
    {
      id: "3",
      numInputTokens: 7,
      numOutputTokens: 0,
      requestedOutputTokens: 5,
      scheduledNs: 0,
      startNs: 0,
      firstTokenNs: -1,
      endNs: 5,
      decodeIterations: 0,
      error: "HTTP 500",
    },
  ];
  const engine: EngineInfo = {
    ...docsEngine,
    backend: "llama.cpp",
    engineDir: undefined,
    maxInputLength: undefined,
    maxSequenceLength: undefined,
    kvCacheFraction: undefined,
    schedulingPolicy: undefined,
  };
  const input: ReportInput = {
    engine,
    stats: computeStatistics(records, { streaming: true, worldSize: 1 }),
    dataset: computeDatasetMetadata("d.jsonl", [50, 100], [10, 250000]),
    streaming: true,
    decodingMode: "draft-model",
    machine: describeMachine(
      {
        cpu: "AMD EPYC",
        cpuCores: 2,
        memoryGiB: 23.5,
        os: "Linux 6.1",
        gpus: [],
        driverVersion: undefined,
        cudaVersion: undefined,
      },
      { backend: "cpu", devices: [], flashAttention: "on", threads: 1 },
    ),
  };
  const all = lines(formatReport(input));

  test("backend header instead of ENGINE DETAILS, and None for unknown settings", () => {
    assert.equal(all[1], "= LLAMA.CPP BACKEND");
    assert.ok(!all.some((l) => l.startsWith("Engine Directory:") || l.startsWith("Max Input Length:")));
    assert.ok(all.includes("KV Memory Percentage:   None"));
    assert.ok(all.includes("Scheduling Policy:      None"));
    assert.ok(all.includes("AMD EPYC, memory 23.50 GB, N/A"));
    assert.ok(all.includes("Compute:  cpu, flash attention on, 1 threads"));
    assert.ok(all.includes("Host:     AMD EPYC (2 cores), 23.5 GiB RAM, Linux 6.1"));
  });

  test("streaming averages and breakdowns in trtllm-bench's order", () => {
    assert.ok(all.includes("Average time-to-first-token [TTFT] (ms):          75.0000"));
    assert.ok(all.includes("Average time-per-output-token [TPOT] (ms):        75.0000"));
    assert.ok(all.includes("Per User Output Speed (tps/user):                 15.0000"));
    const i = all.indexOf("-- Per-Request Time-per-Output-Token [TPOT] Breakdown (ms)");
    assert.deepEqual(all.slice(i + 2, i + 5), [
      "[TPOT] MINIMUM: 50.0000",
      "[TPOT] MAXIMUM: 100.0000",
      "[TPOT] AVERAGE: 75.0000",
    ]);
    assert.ok(all.includes("[TTFT] P50    : 100.0000")); // sorted [50, 100][1]
    assert.ok(all.includes("[GTPS] MAXIMUM: 20.0000"));
  });

  test("decoding statistics with %.2f", () => {
    assert.ok(all.includes("= DECODING STATISTICS (draft-model)"));
    assert.ok(all.includes("[DAR] MINIMUM: 0.41")); // 11/27
    assert.ok(all.includes("[AL] MAXIMUM: 2.50")); // 10 tokens / 4 iterations
    assert.ok(all.includes("Global Acceptance Length:  2.31")); // 30 / 13
  });

  test("llm-bench additions: failures, token accounting, queueing", () => {
    assert.ok(all.includes("Failed requests (excluded from all statistics):   1"));
    assert.ok(all.includes("  1 × HTTP 500"));
    assert.ok(all.includes("Output tokens requested / produced:               30 / 30"));
    assert.ok(all.includes("Measured submission rate (req/sec):               5.0000")); // 1 gap in 0.2 s
    assert.ok(all.includes("[Queue] MAXIMUM: 200.0000"));
  });

  test("large dataset values switch to %9.2e", () => {
    assert.ok(all.includes("MAX:   100.0000           2.50e+05           2.50e+05"));
  });
});
