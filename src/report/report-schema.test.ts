import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { computeDatasetMetadata } from "../dataset/stats.ts";
import { describeMachine } from "../engine/machine.ts";
import type { EngineInfo } from "../engine/types.ts";
import type { RequestRecord } from "../metrics/record.ts";
import { computeStatistics } from "../metrics/statistics.ts";
import { packageRoot } from "../model/known-models.ts";
import { buildReportJson } from "./json.ts";
import type { ReportInput } from "./report-input.ts";
import { reportJsonSchemaText, reportSchema } from "./report-schema.ts";

const MS = 1e6;
const engine: EngineInfo = {
  backend: "llama.cpp",
  model: "m",
  modelPath: undefined,
  engineDir: "/e",
  version: "1",
  dtype: "float16",
  kvCacheDtype: "f16",
  quantization: "None",
  maxInputLength: 64,
  maxSequenceLength: 128,
  tpSize: 1,
  ppSize: 1,
  maxBatchSize: 4,
  maxNumTokens: undefined,
  schedulingPolicy: "GUARANTEED_NO_EVICT",
  kvCacheFraction: 0.9,
};

function record(id: string, startMs: number, error?: string): RequestRecord {
  return {
    id,
    numInputTokens: 20,
    numOutputTokens: 8,
    requestedOutputTokens: 8,
    scheduledNs: 0,
    startNs: startMs * MS,
    firstTokenNs: (startMs + 10) * MS,
    endNs: (startMs + 80) * MS,
    decodeIterations: 4,
    error,
    draftTokens: 8,
    acceptedDraftTokens: 4,
    chunkTimesNs: [(startMs + 10) * MS, (startMs + 40) * MS, (startMs + 80) * MS],
    serverOutputTokens: 8,
    clientOutputTokens: 8,
  };
}

/** Every optional section switched on: streaming, decoding, goodput, load, request log, chunks, failures. */
function fullInput(): ReportInput {
  const records = [record("1", 0), record("2", 5), record("3", 9, "timeout")];
  return {
    engine,
    stats: computeStatistics(records, { streaming: true, worldSize: 1, slo: { ttftMs: 50, e2elMs: 100 } }),
    dataset: computeDatasetMetadata("d.jsonl", [20, 20, 20], [8, 8, 8]),
    streaming: true,
    machine: describeMachine(
      {
        cpu: "cpu",
        cpuCores: 16,
        memoryGiB: 125.8,
        os: "Linux 6.1",
        gpus: [
          {
            index: 0,
            name: "NVIDIA H100 80GB HBM3",
            memoryTotalGiB: 79.6,
            memoryClockGHz: 2.619,
            uuid: "GPU-1234",
          },
        ],
        driverVersion: "570.124.06",
        cudaVersion: "12.8",
      },
      {
        backend: "cuda",
        devices: ["NVIDIA H100 80GB HBM3"],
        vramTotalBytes: 79.6 * 1024 ** 3,
        gpuLayers: { offloaded: 33, total: 33 },
        flashAttention: "on",
        threads: 15,
      },
    ),
    decodingMode: "draft-model",
    requestLog: "run.requests.jsonl",
    load: {
      shape: "rate",
      requestRate: 2,
      burstiness: 1,
      concurrency: -1,
      durationS: undefined,
      issued: 3,
      completed: 3,
      cancelled: 0,
      notIssued: 0,
      interrupted: false,
      durationReached: false,
      wallSeconds: 0.1,
      eventLoopLag: { meanMs: 1, p50Ms: 1, p99Ms: 2, maxMs: 3, thresholdMs: 50, saturated: false },
    },
  };
}

let root: string;
before(async () => {
  root = await packageRoot();
});

describe("report JSON schema", () => {
  it("schemas/report.schema.json is what scripts/gen-report-schema.ts writes (run `npm run schema`)", async () => {
    const committed = await readFile(join(root, "schemas", "report.schema.json"), "utf8");
    assert.equal(committed, reportJsonSchemaText());
  });
  it("accepts buildReportJson's output with every optional section", () => {
    const json = JSON.parse(JSON.stringify(buildReportJson(fullInput())));
    const r = reportSchema.safeParse(json);
    assert.ok(r.success, JSON.stringify(r.error?.issues));
    assert.equal(json.llm_bench.goodput.good_requests, 2);
    assert.equal(json.llm_bench.goodput.total_requests, 3);
    assert.deepEqual(json.llm_bench.goodput.slo_ms, { ttft: 50, tpot: null, e2el: 100 });
    assert.equal(json.llm_bench.request_log, "run.requests.jsonl");
    assert.ok(json.streaming_metrics && json.decoding_stats);
  });
  it("accepts the minimal report (no streaming, no extras)", () => {
    const input = fullInput();
    const minimal: ReportInput = {
      engine,
      stats: computeStatistics([record("1", 0)], { streaming: false, worldSize: 1 }),
      dataset: input.dataset,
      streaming: false,
    };
    const r = reportSchema.safeParse(JSON.parse(JSON.stringify(buildReportJson(minimal))));
    assert.ok(r.success, JSON.stringify(r.error?.issues));
  });
  it("accepts the fixture runs written by a real throughput run", async () => {
    for (const f of ["run-c2.json", "run-c6.json"]) {
      const json = JSON.parse(await readFile(join(root, "test", "fixtures", "reports", f), "utf8"));
      const r = reportSchema.safeParse(json);
      assert.ok(r.success, `${f}: ${JSON.stringify(r.error?.issues)}`);
    }
  });
  it("is strict: an unknown or missing key fails, so the schema cannot fall behind the report", () => {
    const json = JSON.parse(JSON.stringify(buildReportJson(fullInput())));
    json.performance.surprise = 1;
    assert.equal(reportSchema.safeParse(json).success, false);
    delete json.performance.surprise;
    delete json.request_info.num_requests;
    assert.equal(reportSchema.safeParse(json).success, false);
  });
});
