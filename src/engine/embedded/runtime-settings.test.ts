import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "../../errors.ts";
import { contextCells } from "./llama-native.ts";
import {
  defaultThreads,
  kvBytesPerToken,
  type RuntimeInputs,
  resolveRuntimeSettings,
} from "./runtime-settings.ts";

const base: RuntimeInputs = {
  engine: { maxBatchSize: 64, maxNumTokens: 2048, maxSeqLen: 512 },
  cli: {},
  dataset: { maxSequenceLength: 256, maxIsl: 128 },
  policy: "guaranteed_no_evict",
  chunkedContext: true,
  kvFraction: 0.9,
  freeMemoryBytes: 10 * 2 ** 30,
  kvBytesPerToken: 2048,
};

describe("resolveRuntimeSettings", () => {
  it("takes the engine's limits and the dataset's max sequence length by default", () => {
    const s = resolveRuntimeSettings(base).scheduler;
    assert.equal(s.maxBatchSize, 64);
    assert.equal(s.maxNumTokens, 2048);
    assert.equal(s.maxSeqLen, 256);
    // 0.9 * 10 GiB / 2048 B = 4718592 tokens, capped by 64 sequences x 256 cells
    assert.equal(s.kvCacheTokens, 64 * 256);
  });

  it("CLI values win; max batch is capped at llama.cpp's 256 sequences", () => {
    const r = resolveRuntimeSettings({ ...base, cli: { maxBatchSize: 4096, maxNumTokens: 8192 } });
    assert.equal(r.scheduler.maxBatchSize, 256);
    assert.equal(r.scheduler.maxNumTokens, 8192);
    assert.match(r.notes[0]!, /capped to 256/);
  });

  it("without chunked context raises max_num_tokens to max_isl + max_batch_size", () => {
    const r = resolveRuntimeSettings({
      ...base,
      chunkedContext: false,
      engine: { ...base.engine, maxNumTokens: 100 },
    });
    assert.equal(r.scheduler.maxNumTokens, 128 + 64);
  });

  it("a small KV budget lowers the number of sequences", () => {
    // 0.5 * 1 MiB / 512 B = 1024 tokens -> 4 sequences of 256
    const r = resolveRuntimeSettings({
      ...base,
      kvFraction: 0.5,
      freeMemoryBytes: 2 ** 20,
      kvBytesPerToken: 512,
    });
    assert.equal(r.scheduler.maxBatchSize, 4);
    assert.equal(r.scheduler.kvCacheTokens, 1024);
    const capped = resolveRuntimeSettings({ ...base, kvMaxTokens: 600 });
    assert.equal(capped.scheduler.maxBatchSize, 2);
    assert.equal(capped.scheduler.kvCacheTokens, 512);
  });

  it("plans the KV budget on llama.cpp's padded cells per sequence (multiples of 256)", () => {
    // max_seq_len 300 takes 512 cells per sequence: 0.5 * 1 MiB / 512 B = 1024 tokens -> 2 sequences, not 3.
    const r = resolveRuntimeSettings({
      ...base,
      engine: { ...base.engine, maxSeqLen: 512 },
      dataset: { maxSequenceLength: 300, maxIsl: 200 },
      kvFraction: 0.5,
      freeMemoryBytes: 2 ** 20,
      kvBytesPerToken: 512,
    });
    assert.equal(r.scheduler.maxSeqLen, 300);
    assert.equal(r.scheduler.maxBatchSize, 2);
    assert.match(r.notes[0]!, /holds 2 sequences of 512 cells/);
    assert.deepEqual([contextCells(1), contextCells(256), contextCells(257)], [256, 256, 512]);
  });

  it("refuses a run the engine was not built for", () => {
    assert.throws(() => resolveRuntimeSettings({ ...base, cli: { maxSeqLen: 1024 } }), UsageError);
    assert.throws(() => resolveRuntimeSettings({ ...base, kvMaxTokens: 100 }), /cannot hold one request/);
  });
});

describe("kvBytesPerToken / defaultThreads", () => {
  it("counts keys and values of every layer", () => {
    // Llama-3.1-8B, F16 KV: 2 * 32 * 8 * 128 * 2 = 131072 B
    assert.equal(kvBytesPerToken(32, 8, 128, "F16"), 131072);
    assert.equal(kvBytesPerToken(32, 8, 128, "Q8_0"), 131072 * (34 / 64));
  });
  it("leaves a core for node on small machines", () => {
    // Batches of several sequences: every core; one sequence at a time: one core left over (one on 2 cores).
    assert.equal(defaultThreads(2), 2);
    assert.equal(defaultThreads(8), 8);
    assert.equal(defaultThreads(2, 16), 2);
    assert.equal(defaultThreads(2, 1), 1);
    assert.equal(defaultThreads(8, 1), 7);
    assert.equal(defaultThreads(1, 1), 1);
  });
});
