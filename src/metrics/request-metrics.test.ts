import assert from "node:assert/strict";
import { test } from "node:test";
import type { RequestRecord } from "./record.ts";
import {
  e2eNs,
  generationTimeNs,
  generationTokenThroughput,
  outputTokenThroughput,
  queueNs,
  requestMetrics,
  tpotNs,
  ttftNs,
} from "./request-metrics.ts";

function rec(p: Partial<RequestRecord>): RequestRecord {
  return {
    id: "0",
    numInputTokens: 10,
    numOutputTokens: 5,
    scheduledNs: 800,
    startNs: 1000,
    firstTokenNs: 1500,
    endNs: 3500,
    decodeIterations: 5,
    requestedOutputTokens: 5,
    error: undefined,
    ...p,
  };
}

test("streaming request: every §4.3 formula", () => {
  const m = requestMetrics(rec({}));
  assert.deepEqual(m, {
    numTotalOutputTokens: 5,
    numGeneratedTokens: 4,
    e2eNs: 2500, // 3500 − 1000
    ttftNs: 500, // 1500 − 1000
    generationTimeNs: 2000, // 2500 − 500
    tpotNs: 500, // (3500 − 1500) / 4
    outputTokenThroughput: 2_000_000, // 5 tokens / 2500 ns = 2e6 tok/s
    generationTokenThroughput: 2_000_000, // 4 tokens / 2000 ns
    queueNs: 200, // 1000 − 800
    slotIdleNs: undefined, // the request found a slot free
  });
});

test("slot idle time: send − max(slot freed, scheduled)", () => {
  // Closed loop: due long before, the slot freed at 900, sent (bytes to the socket) at 1040.
  assert.equal(requestMetrics(rec({ slotFreedNs: 900, sentNs: 1040 })).slotIdleNs, 140);
  // Without a send stamp (embedded engine) the start is the send.
  assert.equal(requestMetrics(rec({ slotFreedNs: 900 })).slotIdleNs, 100);
  // Capped rate load: the slot was freed before the request was due, so only the wait after its due time counts.
  assert.equal(requestMetrics(rec({ slotFreedNs: 500 })).slotIdleNs, 200);
});

test("unknown first token (non-streaming): TTFT and TPOT are 0, generation time is the whole request", () => {
  const m = requestMetrics(rec({ firstTokenNs: -1 }));
  assert.equal(m.ttftNs, 0);
  assert.equal(m.tpotNs, 0);
  assert.equal(m.generationTimeNs, 2500);
  assert.equal(m.generationTokenThroughput, 1_600_000); // 4 / 2500 ns
  // A first token at clock 0 is a real time, not "unknown".
  assert.equal(requestMetrics(rec({ startNs: 0, firstTokenNs: 0, endNs: 400 })).tpotNs, 100);
});

test("divide-by-zero guards", () => {
  // One output token: no generated tokens, TPOT and GTPS are 0 (trtllm-bench: TPOT 0, GTPS 0/x).
  const one = requestMetrics(rec({ numOutputTokens: 1, endNs: 1500 }));
  assert.equal(one.tpotNs, 0);
  assert.equal(one.generationTimeNs, 0);
  assert.equal(one.generationTokenThroughput, 0);
  assert.equal(one.outputTokenThroughput, 2_000_000); // 1 / 500 ns
  // Zero-length request (clock granularity): throughput 0 instead of Infinity.
  const zero = requestMetrics(rec({ firstTokenNs: 1000, endNs: 1000 }));
  assert.equal(zero.outputTokenThroughput, 0);
  assert.equal(zero.generationTokenThroughput, 0);
  assert.equal(zero.tpotNs, 0);
});

test("each metric alone gives requestMetrics' value (the statistics take them one at a time)", {
  timeout: 10_000,
}, () => {
  for (const r of [
    rec({}),
    rec({ firstTokenNs: -1 }),
    rec({ numOutputTokens: 1, endNs: 1500 }),
    rec({ numOutputTokens: 0, endNs: 1000 }),
    rec({ startNs: 0, firstTokenNs: 0, endNs: 400 }),
    rec({ startNs: 1000, firstTokenNs: 3500, endNs: 3500 }),
  ]) {
    const m = requestMetrics(r);
    assert.deepEqual(
      [
        e2eNs(r),
        ttftNs(r),
        generationTimeNs(r),
        tpotNs(r),
        outputTokenThroughput(r),
        generationTokenThroughput(r),
        queueNs(r),
      ],
      [
        m.e2eNs,
        m.ttftNs,
        m.generationTimeNs,
        m.tpotNs,
        m.outputTokenThroughput,
        m.generationTokenThroughput,
        m.queueNs,
      ],
    );
  }
  // By hand, the second record (first token unknown): e2e 2500, generation 2500, 4 tokens / 2500 ns.
  const unknown = rec({ firstTokenNs: -1 });
  assert.equal(generationTimeNs(unknown), 2500);
  assert.equal(generationTokenThroughput(unknown), 1_600_000);
});
