/**
 * Golden tests of `--compat 0.17`'s console report (test/fixtures/trtllm-0.17/README.md says where each file
 * comes from): the seed docs' throughput and PyTorch-flow reports, and 0.17's own report functions run on five
 * records (streaming throughput, latency). The only difference allowed is "Version:" in place of
 * "TensorRT-LLM Version:".
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { computeDatasetMetadata } from "../dataset/stats.ts";
import type { EngineInfo } from "../engine/types.ts";
import { acceptance017 } from "../metrics/acceptance-017.ts";
import type { RequestRecord } from "../metrics/record.ts";
import { computeStatistics } from "../metrics/statistics.ts";
import { packageRoot } from "../model/known-models.ts";
import { formatReport017, policyDisplayName } from "./console-017.ts";
import type { ReportInput } from "./report-input.ts";

const FIXTURES = join(await packageRoot(), "test/fixtures/trtllm-0.17");
const fixture = (name: string) => readFileSync(join(FIXTURES, name), "utf8");

/** Python's `str.expandtabs(8)`, how a terminal (and the docs) show the tabs. */
function expandTabs(text: string): string {
  return text
    .split("\n")
    .map((line) => {
      let out = "";
      for (const ch of line) out += ch === "\t" ? " ".repeat(8 - (out.length % 8)) : ch;
      return out;
    })
    .join("\n");
}

/** Our "Version:" line in 0.17's words; both reach column 24 with their tabs. */
function asTrtllm(text: string): string {
  return text.replace(/^Version:\t\t/m, "TensorRT-LLM Version:\t");
}

const trimEnds = (text: string) => text.replace(/ +$/gm, "");

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
  schedulingPolicy: "GUARANTEED_NO_EVICT",
  kvCacheFraction: 0.9,
};

/** A docs run: 3000 × 128/128 over `totalNs`, submissions `issueRateNs` apart on average. */
function docsRun(engine: EngineInfo, totalNs: number, issueRateNs: number): ReportInput {
  const window = 3000 * issueRateNs;
  const records: RequestRecord[] = Array.from({ length: 3000 }, (_, i) => ({
    id: String(i),
    numInputTokens: 128,
    numOutputTokens: 128,
    requestedOutputTokens: 128,
    scheduledNs: 0,
    startNs: Math.round((i * window) / 2999),
    firstTokenNs: -1,
    endNs: totalNs - (2999 - i) * 1000,
    decodeIterations: 128,
    error: undefined,
  }));
  const stats = computeStatistics(records, { streaming: false, worldSize: 1 });
  const dataset = computeDatasetMetadata("/tmp/synthetic_128_128.txt", [128], [128]);
  return { engine, stats, dataset, streaming: false };
}

/** The records 0.17's report functions were run on for the two generated fixtures: (start, first, end, n, iterations, isl). */
const RECORDS: Array<[number, number, number, number, number, number]> = [
  [1_000_000, 21_000_000, 121_000_000, 11, 11, 100],
  [2_000_000, 30_500_000, 230_500_000, 21, 21, 37],
  [3_500_000, 40_000_000, 90_000_000, 6, 3, 64],
  [4_000_000, 14_250_000, 180_750_000, 34, 34, 250],
  [9_000_000, 19_000_000, 25_000_000, 1, 1, 3],
];

function fiveRecordRun(maxBatchSize: number): { input: ReportInput; records: RequestRecord[] } {
  const records: RequestRecord[] = RECORDS.map(([start, first, end, n, iters, isl], i) => ({
    id: String(i),
    numInputTokens: isl,
    numOutputTokens: n,
    requestedOutputTokens: n,
    scheduledNs: start,
    startNs: start,
    firstTokenNs: first,
    endNs: end,
    decodeIterations: iters,
    error: undefined,
  }));
  const engine: EngineInfo = {
    ...docsEngine,
    engineDir: "/tmp/engine",
    kvCacheDtype: "None",
    quantization: "None",
    maxInputLength: 2048,
    maxSequenceLength: 4096,
    maxBatchSize,
  };
  const stats = computeStatistics(records, { streaming: true, worldSize: 1 });
  const dataset = computeDatasetMetadata("d", [1], [1]);
  return { input: { engine, stats, dataset, streaming: true }, records };
}

describe("--compat 0.17 console report", { timeout: 10_000 }, () => {
  test("the docs' throughput report, line for line (tabs expanded as the docs show them)", () => {
    const out = formatReport017(docsRun(docsEngine, 13_525_686_200, 506_890), "throughput");
    assert.equal(trimEnds(expandTabs(asTrtllm(out))), fixture("throughput.txt"));
  });

  test("the docs' PyTorch-flow report, line for line, then 0.17's closing rule", () => {
    const engine: EngineInfo = {
      ...docsEngine,
      backend: "PyTorch",
      engineDir: undefined,
      modelPath: "/Ckpt/Path/To/Llama-3.1-8B",
      kvCacheDtype: "None",
      maxInputLength: undefined,
      maxSequenceLength: undefined,
      maxBatchSize: 2048,
      maxNumTokens: 4096,
    };
    // 18563.682452 ms: a total latency that rounds to both printed figures (18563.6825 ms, 20685.5510 tok/s).
    const out = trimEnds(
      expandTabs(asTrtllm(formatReport017(docsRun(engine, 18_563_682_452, 767_530), "throughput"))),
    );
    const docs = fixture("pytorch.txt");
    assert.ok(out.startsWith(docs), out);
    // The docs cut the block before 0.17's final rule.
    assert.equal(out.slice(docs.length), "===========================================================\n");
  });

  test("streaming throughput: byte for byte what 0.17's report_statistics prints", () => {
    const { input } = fiveRecordRun(4096);
    assert.equal(asTrtllm(formatReport017(input, "throughput")), fixture("throughput-streaming.txt"));
  });

  test("latency: byte for byte what 0.17's report_latency_statistics prints (P90 lines show p50, as 0.17's)", () => {
    const { input, records } = fiveRecordRun(1);
    input.acceptance017 = acceptance017(records);
    assert.equal(asTrtllm(formatReport017(input, "latency")), fixture("latency.txt"));
  });

  test("section titles keep 0.17's trailing space; labels and values are tab-separated", () => {
    const { input } = fiveRecordRun(4096);
    const out = formatReport017(input, "throughput");
    // "Version:" stands in for "TensorRT-LLM Version:": its value starts in the same column as the others.
    assert.match(expandTabs(out), /^Version: {16}0\.17\.0$/m);
    assert.match(expandTabs(out), /^Model: {18}meta-llama/m);
    assert.match(out, /^= WORLD \+ RUNTIME INFORMATION \n/m);
    assert.match(out, /^= PERFORMANCE OVERVIEW \n/m);
    assert.match(out, /^= STREAMING STATISTICS \n/m);
    assert.match(out, /^= ENGINE DETAILS\n/m);
    assert.match(out, /^Token Throughput \(tokens\/sec\):\t318\.0828$/m);
  });

  test("a backend without an engine directory is titled by its name; unknown values print None", () => {
    const { input } = fiveRecordRun(4096);
    input.engine = {
      ...input.engine,
      backend: "openai",
      engineDir: undefined,
      modelPath: undefined,
      maxBatchSize: undefined,
      schedulingPolicy: undefined,
      kvCacheFraction: undefined,
    };
    const out = formatReport017(input, "throughput");
    assert.match(out, /^= openai backend\n/m);
    assert.match(out, /^Model Path:\t\tNone$/m);
    assert.match(out, /^Max Runtime Batch Size:\tNone$/m);
    assert.match(out, /^Scheduling Policy:\tNone$/m);
    assert.match(out, /^KV Memory Percentage:\tNone$/m);
    assert.doesNotMatch(out, /Engine Directory/);
  });

  test("policy display names", () => {
    assert.equal(policyDisplayName("GUARANTEED_NO_EVICT"), "Guaranteed No Evict");
    assert.equal(policyDisplayName("MAX_UTILIZATION"), "Max Utilization");
    assert.equal(policyDisplayName(undefined), "None");
  });
});
