import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "../../errors.ts";
import { datasetDetailsBlock, engineInfoBlock, validateBuildMode } from "./build-mode.ts";

const base = { tpSize: 1, ppSize: 1 };

describe("validateBuildMode (apply_build_mode_settings)", () => {
  it("dataset mode needs no max_seq_len", () => {
    assert.deepEqual(validateBuildMode({ ...base, dataset: "d.jsonl" }), {
      mode: { kind: "dataset", dataset: "d.jsonl" },
      warnings: [],
    });
  });
  it("limits and target modes take both options of their group", () => {
    assert.deepEqual(
      validateBuildMode({ ...base, maxBatchSize: 1024, maxNumTokens: 2048, maxSeqLen: 4096 }).mode,
      {
        kind: "limits",
        maxBatchSize: 1024,
        maxNumTokens: 2048,
      },
    );
    assert.deepEqual(
      validateBuildMode({ ...base, targetInputLen: 128, targetOutputLen: 64, maxSeqLen: 4096 }).mode,
      {
        kind: "target",
        targetInputLen: 128,
        targetOutputLen: 64,
      },
    );
    assert.throws(
      () => validateBuildMode({ ...base, maxBatchSize: 1024, maxSeqLen: 4096 }),
      /--max_batch_size and --max_num_tokens must be given together \(missing --max_num_tokens\)/,
    );
    assert.throws(
      () => validateBuildMode({ ...base, targetOutputLen: 5, maxSeqLen: 4096 }),
      /missing --target_input_len/,
    );
  });
  it("no mode: 2048 / 8192 with a warning, and max_seq_len required", () => {
    const v = validateBuildMode({ ...base, maxSeqLen: 256 });
    assert.deepEqual(v.mode, { kind: "default", maxBatchSize: 2048, maxNumTokens: 8192 });
    assert.equal(v.warnings.length, 1);
    assert.throws(
      () => validateBuildMode(base),
      (e: unknown) => {
        return e instanceof UsageError && e.message === "Unspecified max_seq_len for engine build. Exiting.";
      },
    );
    assert.throws(
      () => validateBuildMode({ ...base, targetInputLen: 1, targetOutputLen: 1 }),
      /Unspecified max_seq_len/,
    );
  });
  it("rejects more than one mode", () => {
    const msg =
      "Multiple engine build options detected, please choose only one engine build option. Exiting.";
    assert.throws(() => validateBuildMode({ ...base, dataset: "d", maxBatchSize: 1, maxNumTokens: 1 }), {
      message: msg,
    });
    assert.throws(
      () =>
        validateBuildMode({
          ...base,
          maxSeqLen: 9,
          maxBatchSize: 1,
          maxNumTokens: 1,
          targetInputLen: 1,
          targetOutputLen: 1,
        }),
      { message: msg },
    );
  });
  it("world size above 8 is the seed's error; 8 is fine", () => {
    assert.throws(
      () => validateBuildMode({ tpSize: 4, ppSize: 4, dataset: "d" }),
      (e: unknown) => {
        return (
          e instanceof UsageError &&
          e.message ===
            "Parallelism mapping of TP4-PP4 is currently unsupported. Please try with a mapping with <=8 GPUs."
        );
      },
    );
    assert.equal(validateBuildMode({ tpSize: 8, ppSize: 1, dataset: "d" }).mode.kind, "dataset");
  });
});

describe("printed blocks", () => {
  it("prints the seed's DATASET DETAILS fields", () => {
    const text = datasetDetailsBlock({
      dataset_path: "d",
      num_requests: 3000,
      max_isl: 128,
      max_osl: 128,
      max_sequence_length: 256,
      avg_isl: 128,
      avg_osl: 128,
      avg_sequence_length: 256,
      isl_stats: undefined as never,
      osl_stats: undefined as never,
      seq_len_stats: undefined as never,
    });
    assert.match(text, /= DATASET DETAILS\n/);
    assert.match(text, /\nMax Sequence Length:\t256\n/);
    assert.match(text, /\nNumber of Sequences:\t3000\n/);
  });
  it("prints None for an absent model path and quantization", () => {
    const text = engineInfoBlock({
      model: "m/x",
      modelPath: undefined,
      workspace: "/tmp",
      engineDir: "/tmp/m/x/tp_1_pp_1",
      maxSeqLen: 256,
      maxBatchSize: 4096,
      maxNumTokens: 8192,
      quantization: null,
      kvCacheDtype: null,
      weightType: "BF16",
      kvCacheType: "bf16",
      weightsSource: "dummy",
    });
    assert.match(text, /Model Path:\t\tNone\n/);
    assert.match(text, /Quantization:\t\t\tNone\n/);
    assert.match(text, /= ENGINE CONFIGURATION DETAILS\n/);
    assert.match(text, /Engine Directory:\t\/tmp\/m\/x\/tp_1_pp_1\n/);
  });
});
