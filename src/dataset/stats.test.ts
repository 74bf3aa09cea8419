import assert from "node:assert/strict";
import { test } from "node:test";
import { computeDatasetMetadata } from "./stats.ts";

test("ISL/OSL/sequence statistics with trtllm-bench's int() truncation", () => {
  // ISL 10, 20, 31 → avg 20.333 → 20; OSL 5, 6, 6 → avg 5.667 → 5 (truncated, not rounded); seq 15, 26, 37.
  const m = computeDatasetMetadata("/d.jsonl", [10, 20, 31], [5, 6, 6]);
  assert.equal(m.dataset_path, "/d.jsonl");
  assert.equal(m.num_requests, 3);
  assert.equal(m.avg_isl, 20);
  assert.equal(m.avg_osl, 5);
  assert.equal(m.avg_sequence_length, 26); // 78 / 3
  assert.equal(m.max_isl, 31);
  assert.equal(m.max_osl, 6);
  assert.equal(m.max_sequence_length, 37);
  assert.deepEqual(m.seq_len_stats, {
    p50: 26,
    p90: 37,
    p95: 37,
    p99: 37,
    minimum: 15,
    maximum: 37,
    average: 26,
  });
  assert.equal(m.osl_stats.p50, 6); // sorted [5, 6, 6][1]
});

test("ISL and OSL must pair up", () => {
  assert.throws(() => computeDatasetMetadata("x", [1, 2], [1]), RangeError);
});
