import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { computeDatasetMetadata } from "../dataset/stats.ts";
import type { EngineInfo } from "../engine/types.ts";
import type { RequestRecord } from "../metrics/record.ts";
import { computeStatistics } from "../metrics/statistics.ts";
import {
  buildOutputJson,
  buildReportJson,
  buildRequestJson,
  REPORT_SCHEMA_VERSION,
  writeOutputJson,
  writeReportJson,
  writeRequestJson,
} from "./json.ts";
import type { ReportInput } from "./report-input.ts";

const MS = 1e6;

const engine: EngineInfo = {
  backend: "llama.cpp",
  model: "m",
  modelPath: "/models/m.gguf",
  engineDir: undefined,
  version: "3.21.1",
  dtype: "bfloat16",
  kvCacheDtype: "f16",
  quantization: "Q8_0",
  maxInputLength: undefined,
  maxSequenceLength: 4096,
  tpSize: 2,
  ppSize: 1,
  maxBatchSize: 8,
  maxNumTokens: 2048,
  schedulingPolicy: "GUARANTEED_NO_EVICT",
  kvCacheFraction: 0.9,
};

const records: RequestRecord[] = [
  // e2e 1000 ms, TTFT 100 ms, TPOT 100 ms, n/e2e = 10 tok/s, GTPS 9/0.9 s = 10 tok/s
  {
    id: "10",
    numInputTokens: 50,
    numOutputTokens: 10,
    requestedOutputTokens: 10,
    scheduledNs: 0,
    startNs: 0,
    firstTokenNs: 100 * MS,
    endNs: 1000 * MS,
    decodeIterations: 10,
    error: undefined,
    outputIds: [1, 2],
  },
  // e2e 1000 ms, TTFT 50 ms, TPOT 50 ms
  {
    id: "2",
    numInputTokens: 100,
    numOutputTokens: 20,
    requestedOutputTokens: 20,
    scheduledNs: 100 * MS,
    startNs: 200 * MS,
    firstTokenNs: 250 * MS,
    endNs: 1200 * MS,
    decodeIterations: 20,
    error: undefined,
    outputIds: [3],
  },
];
const decode = (ids: readonly number[]) => ids.map((i) => `<${i}>`).join("");

function input(streaming: boolean): ReportInput {
  return {
    engine,
    stats: computeStatistics(records, { streaming, worldSize: 2 }),
    dataset: computeDatasetMetadata("d.jsonl", [50, 100], [10, 20]),
    streaming,
  };
}

describe("buildReportJson", () => {
  const j = buildReportJson(input(true)) as unknown as Record<string, Record<string, unknown>>;

  test("trtllm-bench's sections and key names, plus schema_version and llm_bench", () => {
    assert.deepEqual(Object.keys(j), [
      "schema_version",
      "engine",
      "machine",
      "world_info",
      "request_info",
      "performance",
      "streaming_metrics",
      "dataset",
      "llm_bench",
    ]);
    assert.equal(j["schema_version"], REPORT_SCHEMA_VERSION);
    assert.equal(j["machine"], null);
    assert.deepEqual(Object.keys(j["world_info"]!), [
      "tp_size",
      "pp_size",
      "ep_size",
      "world_size",
      "max_batch_size",
      "max_num_tokens",
      "scheduling_policy",
      "kv_cache_percentage",
      "issue_rate",
    ]);
    assert.deepEqual(Object.keys(j["performance"]!), [
      "total_latency_ms",
      "avg_request_latency_ms",
      "request_throughput_req_s",
      "system_output_throughput_tok_s",
      "system_total_throughput_tok_s",
      "output_throughput_per_user_tok_s",
      "output_throughput_per_gpu_tok_s",
      "request_latency_percentiles_ms",
    ]);
    assert.deepEqual(Object.keys(j["streaming_metrics"]!), [
      "token_output_speed_tok_s",
      "avg_ttft_ms",
      "avg_tpot_ms",
      "tpot_percentiles",
      "ttft_percentiles",
      "gen_tps_percentiles",
    ]);
    assert.deepEqual(Object.keys(j["dataset"]!), [
      "isl_stats",
      "osl_stats",
      "seq_len_stats",
      "num_requests",
      "dataset_path",
      "max_isl",
      "max_osl",
      "max_sequence_length",
      "avg_isl",
      "avg_osl",
      "avg_sequence_length",
    ]);
  });

  test("values in trtllm-bench's units (ms, tok/s, fraction)", () => {
    const w = j["world_info"]!;
    assert.equal(w["world_size"], 2);
    assert.equal(w["kv_cache_percentage"], 0.9);
    assert.equal(w["issue_rate"], 1e17); // (200 ms / 2 requests) in ns × 1e9
    const p = j["performance"]!;
    assert.equal(p["total_latency_ms"], 1200);
    assert.equal(p["avg_request_latency_ms"], 1000);
    assert.equal(p["system_output_throughput_tok_s"], 25); // 30 / 1.2 s
    assert.equal(p["output_throughput_per_gpu_tok_s"], 12.5); // / world size 2
    assert.deepEqual(p["request_latency_percentiles_ms"], {
      p50: 1000,
      p90: 1000,
      p95: 1000,
      p99: 1000,
      minimum: 1000,
      maximum: 1000,
      average: 1000,
    });
    const s = j["streaming_metrics"]!;
    assert.equal(s["avg_ttft_ms"], 75);
    assert.equal(s["avg_tpot_ms"], 75);
    assert.equal((s["ttft_percentiles"] as Record<string, number>)["minimum"], 50);
    const l = j["llm_bench"]!;
    assert.deepEqual(l["failures"], { num_failed: 0, errors: [] });
    assert.deepEqual(l["queueing"], {
      queue_time_percentiles_ms: {
        p50: 100,
        p90: 100,
        p95: 100,
        p99: 100,
        minimum: 0,
        maximum: 100,
        average: 50,
      },
      // end − scheduled: 1000 and 1100 ms; first − scheduled: 100 and 150 ms.
      latency_from_scheduled_percentiles_ms: {
        p50: 1100,
        p90: 1100,
        p95: 1100,
        p99: 1100,
        minimum: 1000,
        maximum: 1100,
        average: 1050,
      },
      ttft_from_scheduled_percentiles_ms: {
        p50: 150,
        p90: 150,
        p95: 150,
        p99: 150,
        minimum: 100,
        maximum: 150,
        average: 125,
      },
    });
    assert.equal((l["issue"] as Record<string, number>)["submission_rate_req_s"], 5); // 1 gap in 0.2 s
  });

  test("no streaming_metrics or decoding_stats unless measured", () => {
    const k = Object.keys(buildReportJson(input(false)));
    assert.ok(!k.includes("streaming_metrics"));
    assert.ok(!k.includes("decoding_stats"));
  });
});

describe("per-request outputs", () => {
  test("--request_json entries: trtllm-bench's fields in ns, tokens/ns throughputs", () => {
    const [e] = buildRequestJson(records, decode);
    assert.deepEqual(e, {
      id: 10,
      num_input_tokens: 50,
      error_tokens: 0,
      start_timestamp: 0,
      first_token_timestamp: 100 * MS,
      end_timestamp: 1000 * MS,
      decode_iteration: 9, // trtllm-bench's last-iteration index
      num_total_output_tokens: 10,
      num_generated_tokens: 9,
      generation_time: 900 * MS,
      time_to_first_token: 100 * MS,
      intertoken_latency: 100 * MS,
      end_to_end_latency: 1000 * MS,
      output_token_throughput: 1e-8, // 10 tokens / 1e9 ns
      generation_token_throughput: 1e-8, // 9 / 9e8 ns
      output: "<1><2>",
      output_tokens: 10,
      llm_bench: {
        scheduled_timestamp: 0,
        sent_timestamp: null,
        first_byte_timestamp: null,
        queue_time: 0,
        requested_output_tokens: 10,
        error: null,
        draft_tokens: null,
        accepted_draft_tokens: null,
      },
    });
    assert.equal(buildRequestJson(records)[1]!["output"], null);
  });

  test("per-request throughput names follow --compat: n / e2e and (n − 1) / generation time", () => {
    // n = 5 over 1 s, first token at 0.5 s: 5 tok/s end to end, 4 / 0.5 s = 8 tok/s after the first token.
    const r: RequestRecord = {
      ...records[0]!,
      numOutputTokens: 5,
      requestedOutputTokens: 5,
      firstTokenNs: 500 * MS,
      endNs: 1000 * MS,
    };
    const latest = buildRequestJson([r])[0]!;
    assert.equal(latest["num_total_output_tokens"], 5);
    assert.equal(latest["output_token_throughput"], 5e-9);
    assert.equal(latest["generation_token_throughput"], 8e-9);
    assert.ok(!("total_token_throughput" in latest));
    const old = buildRequestJson([r], undefined, "0.17")[0]!;
    // 0.17's RequestRecord: the same two formulas under its own names, in its dump order.
    assert.equal(old["num_output_tokens"], 5);
    assert.equal(old["total_token_throughput"], 5e-9);
    assert.equal(old["output_token_throughput"], 8e-9);
    assert.ok(!("generation_token_throughput" in old) && !("num_total_output_tokens" in old));
    assert.deepEqual(Object.keys(old).slice(7, 15), [
      "num_output_tokens",
      "num_generated_tokens",
      "generation_time",
      "time_to_first_token",
      "intertoken_latency",
      "end_to_end_latency",
      "total_token_throughput",
      "output_token_throughput",
    ]);
  });

  test("--output_json is sorted by numeric id", () => {
    const o = buildOutputJson(records, decode);
    assert.deepEqual(Object.entries(o), [
      ["2", "<3>"],
      ["10", "<1><2>"],
    ]);
  });
});

describe("writers", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "llm-bench-json-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("streamed request JSON is byte-identical to JSON.stringify(list, null, 4)", async () => {
    for (const n of [0, 1, 1300]) {
      const many: RequestRecord[] = Array.from({ length: n }, (_, i) => ({
        ...records[i % 2]!,
        id: String(i),
      }));
      const p = join(dir, `req-${n}.json`);
      await writeRequestJson(p, many, decode);
      assert.equal(await readFile(p, "utf8"), `${JSON.stringify(buildRequestJson(many, decode), null, 4)}\n`);
    }
  });

  test("output and report JSON", async () => {
    const out = join(dir, "out.json");
    await writeOutputJson(out, records, decode);
    assert.equal(
      await readFile(out, "utf8"),
      `${JSON.stringify(buildOutputJson(records, decode), null, 4)}\n`,
    );
    const rep = join(dir, "sub", "report.json");
    await writeReportJson(rep, input(true));
    assert.deepEqual(JSON.parse(await readFile(rep, "utf8")), buildReportJson(input(true)));
    // Atomic writes leave no temporary files behind.
    assert.deepEqual(await readdir(join(dir, "sub")), ["report.json"]);
  });
});
