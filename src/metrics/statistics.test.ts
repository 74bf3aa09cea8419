import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { RequestRecord } from "./record.ts";
import { computeStatistics } from "./statistics.ts";

const MS = 1e6;

function rec(p: Partial<RequestRecord> & { id: string }): RequestRecord {
  return {
    numInputTokens: 0,
    numOutputTokens: 1,
    scheduledNs: 0,
    startNs: 0,
    firstTokenNs: -1,
    endNs: 0,
    decodeIterations: 1,
    requestedOutputTokens: 1,
    error: undefined,
    ...p,
  };
}

/** Four successful requests and one failure; every expected value below is worked out by hand. */
const handSet: RequestRecord[] = [
  // e2e 1000, ttft 100, gen 900, tpot 900/9 = 100, GTPS 9/0.9 s = 10, n/e2e = 10 tok/s, queue 0
  rec({
    id: "1",
    numInputTokens: 50,
    numOutputTokens: 10,
    requestedOutputTokens: 10,
    startNs: 0,
    firstTokenNs: 100 * MS,
    endNs: 1000 * MS,
    decodeIterations: 10,
  }),
  // e2e 1000, ttft 50, gen 950, tpot 950/19 = 50, GTPS 19/0.95 = 20, n/e2e = 20, queue 200
  rec({
    id: "2",
    numInputTokens: 100,
    numOutputTokens: 20,
    requestedOutputTokens: 20,
    startNs: 200 * MS,
    firstTokenNs: 250 * MS,
    endNs: 1200 * MS,
    decodeIterations: 20,
  }),
  // e2e 1000, ttft 100, gen 900, tpot 900/4 = 225, GTPS 4/0.9 = 4.444…, n/e2e = 5, queue 300; asked 8, got 5
  rec({
    id: "3",
    numInputTokens: 30,
    numOutputTokens: 5,
    requestedOutputTokens: 8,
    scheduledNs: 100 * MS,
    startNs: 400 * MS,
    firstTokenNs: 500 * MS,
    endNs: 1400 * MS,
    decodeIterations: 5,
  }),
  rec({
    id: "4",
    numInputTokens: 999,
    numOutputTokens: 0,
    requestedOutputTokens: 7,
    startNs: 0,
    endNs: 5000 * MS,
    error: "boom",
  }),
  // e2e 1400, ttft 100, gen 1300, tpot 1300/10 = 130, GTPS 10/1.3 = 7.692…, n/e2e = 11/1.4 = 7.857…, queue 600
  rec({
    id: "5",
    numInputTokens: 20,
    numOutputTokens: 11,
    requestedOutputTokens: 11,
    startNs: 600 * MS,
    firstTokenNs: 700 * MS,
    endNs: 2000 * MS,
    decodeIterations: 11,
  }),
];

describe("computeStatistics on a hand-computed set", () => {
  const s = computeStatistics(handSet, { streaming: true, worldSize: 2 });

  test("counts, failures and token accounting", () => {
    assert.equal(s.numRequests, 4);
    assert.equal(s.numFailed, 1);
    assert.deepEqual(s.failures, [{ message: "boom", count: 1 }]);
    assert.equal(s.totalInputTokens, 200); // 50 + 100 + 30 + 20 (the failure's 999 is excluded)
    assert.equal(s.totalOutputTokens, 46); // 10 + 20 + 5 + 11
    assert.equal(s.generationTokens, 42); // 46 − 4
    assert.equal(s.avgInputLength, 50);
    assert.equal(s.avgOutputLength, 11.5);
    assert.deepEqual(s.tokenAccounting, {
      requestedOutputTokens: 49, // 10 + 20 + 8 + 11
      actualOutputTokens: 46,
      mismatchedRequests: 1,
      shortRequests: 1,
    });
  });

  test("system throughputs over total latency = max end − min start = 2000 ms", () => {
    assert.equal(s.totalLatencyNs, 2000 * MS);
    assert.equal(s.requestThroughput, 2); // 4 / 2 s
    assert.equal(s.outputThroughput, 23); // 46 / 2 s
    assert.equal(s.totalTokenThroughput, 123); // (200 + 46) / 2 s
    assert.equal(s.perGpuOutputThroughput, 11.5); // 23 / world size 2
    assert.ok(Math.abs(s.perUserOutputThroughput - (10 + 20 + 5 + 11 / 1.4) / 4) < 1e-12); // 10.714…
    assert.equal(s.avgRequestLatencyNs, 1100 * MS); // (1000 + 1000 + 1000 + 1400) / 4
    assert.equal(s.avgConcurrentRequests, 2.2); // 4400 / 2000
  });

  test("issue rate: trtllm-bench's formula and the real submission rate", () => {
    assert.equal(s.issueRateNs, 150 * MS); // (600 − 0) ms / 4
    assert.equal(s.issueRateReported, 1.5e17); // 1.5e8 ns × 1e9, printed as "req/sec" by trtllm-bench
    assert.equal(s.submissionRate, 5); // 3 gaps over 0.6 s
  });

  test("latency, TTFT, TPOT and GTPS percentiles (floor index)", () => {
    assert.deepEqual(s.requestLatencyNs, {
      p50: 1000 * MS, // sorted [1000, 1000, 1000, 1400][2]
      p90: 1400 * MS, // [floor(3.6)] = [3]
      p95: 1400 * MS,
      p99: 1400 * MS,
      minimum: 1000 * MS,
      maximum: 1400 * MS,
      average: 1100 * MS,
    });
    const st = s.streaming!;
    assert.equal(st.avgTtftNs, 87.5 * MS); // (100 + 50 + 100 + 100) / 4
    assert.equal(st.ttftNs.p50, 100 * MS);
    assert.equal(st.ttftNs.minimum, 50 * MS);
    assert.equal(st.avgTpotNs, 126.25 * MS); // (100 + 50 + 225 + 130) / 4
    assert.deepEqual([st.tpotNs.p50, st.tpotNs.p90, st.tpotNs.minimum], [130 * MS, 225 * MS, 50 * MS]);
    assert.ok(Math.abs(st.perUserOutputSpeed - (10 + 20 + 4 / 0.9 + 10 / 1.3) / 4) < 1e-9); // 10.534…
    assert.ok(Math.abs(st.gtps.maximum - 20) < 1e-9);
    assert.deepEqual(s.generationTimeNs.minimum, 900 * MS);
  });

  test("queueing (start − scheduled) percentiles", () => {
    assert.deepEqual(s.queueNs, {
      p50: 300 * MS, // sorted [0, 200, 300, 600][2]
      p90: 600 * MS,
      p95: 600 * MS,
      p99: 600 * MS,
      minimum: 0,
      maximum: 600 * MS,
      average: 275 * MS, // 1100 / 4
    });
  });

  test("no streaming section without streaming; no decoding section without drafts", () => {
    assert.equal(computeStatistics(handSet, { streaming: false, worldSize: 1 }).streaming, undefined);
    assert.equal(s.decoding, undefined);
  });
});

test("reproduces the 0.17 docs sample: 3000 × 128 tokens over 13525.6862 ms", () => {
  // Starts spread over 3000 × 506890 ns so that trtllm-bench's issue_rate_ns is 506890 (printed 5.0689E+14).
  const window = 3000 * 506_890;
  const total = 13_525_686_200;
  const records = Array.from({ length: 3000 }, (_, i) =>
    rec({
      id: String(i),
      numInputTokens: 128,
      numOutputTokens: 128,
      requestedOutputTokens: 128,
      startNs: Math.round((i * window) / 2999),
      endNs: total - (2999 - i) * 1000,
    }),
  );
  const s = computeStatistics(records, { streaming: false, worldSize: 1 });
  assert.equal(s.totalLatencyNs, total);
  assert.equal(s.outputThroughput.toFixed(4), "28390.4265");
  assert.equal(s.requestThroughput.toFixed(4), "221.8002");
  assert.equal(s.avgInputLength, 128);
  assert.equal(s.issueRateReported.toExponential(4), "5.0689e+14");
  // The real rate: 2999 gaps over 1.52067 s.
  assert.equal(s.submissionRate.toFixed(2), "1972.16");
});

describe("speculative decoding statistics", () => {
  test("derived from max_draft_len as trtllm-bench does", () => {
    const records = [
      // 10 tokens in 4 iterations: drafts 3×4 = 12, accepted 10 − 4 = 6, DAR 0.5, AL 2.5
      rec({ id: "a", numOutputTokens: 10, decodeIterations: 4, endNs: 10 }),
      // 6 tokens in 6 iterations: drafts 18, accepted 0, DAR 0, AL 1
      rec({ id: "b", numOutputTokens: 6, decodeIterations: 6, endNs: 10 }),
    ];
    const d = computeStatistics(records, { streaming: false, worldSize: 1, maxDraftLen: 3 }).decoding!;
    assert.deepEqual([d.numDraftTokens.minimum, d.numDraftTokens.maximum], [12, 18]);
    assert.equal(d.numAcceptedDraftTokens.average, 3);
    assert.equal(d.draftAcceptanceRate.average, 0.25);
    assert.equal(d.acceptanceLength.p50, 2.5); // sorted [1, 2.5][1]
    assert.equal(d.globalAcceptanceLength, 1.6); // 16 tokens / 10 iterations
  });

  test("taken from the engine's draft counts when present", () => {
    const records = [
      rec({ id: "a", numOutputTokens: 9, decodeIterations: 4, draftTokens: 8, acceptedDraftTokens: 5 }),
    ];
    const d = computeStatistics(records, { streaming: false, worldSize: 1 }).decoding!;
    assert.equal(d.draftAcceptanceRate.average, 0.625);
    assert.equal(d.acceptanceLength.average, 2.25);
  });
});

test("no successful request: zeros, not NaN or Infinity", () => {
  const s = computeStatistics([rec({ id: "x", error: "refused" })], { streaming: true, worldSize: 1 });
  assert.equal(s.numRequests, 0);
  assert.equal(s.numFailed, 1);
  for (const v of [
    s.totalLatencyNs,
    s.requestThroughput,
    s.outputThroughput,
    s.avgConcurrentRequests,
    s.issueRateNs,
  ]) {
    assert.equal(v, 0);
  }
  assert.equal(s.streaming!.avgTtftNs, 0);
});

describe("chunk and slot statistics, one metric at a time", { timeout: 10_000 }, () => {
  // Counted requests with chunk times: gaps 10, 20 (A) and 20 (B); C has no output count, D failed, E has no chunk.
  const chunked = (perChunkB: boolean): RequestRecord[] => [
    rec({
      id: "A",
      numOutputTokens: 3,
      serverOutputTokens: 3,
      chunkTimesNs: [0, 10 * MS, 30 * MS],
      chunkTokens: [1, 1, 1],
    }),
    rec({
      id: "B",
      numOutputTokens: 4,
      serverOutputTokens: 4,
      chunkTimesNs: [5 * MS, 25 * MS],
      ...(perChunkB ? { chunkTokens: [2, 2] } : {}),
    }),
    rec({ id: "C", numOutputTokens: 9, chunkTimesNs: [0, 1 * MS] }),
    rec({
      id: "D",
      error: "timeout",
      serverOutputTokens: 1,
      chunkTimesNs: [0, 99 * MS],
      chunkTokens: [1, 1],
    }),
    rec({ id: "E", numOutputTokens: 2, clientOutputTokens: 2, chunkTimesNs: [], chunkTokens: [] }),
  ];

  test("per-chunk server counts: gaps and tokens pooled over chunks", () => {
    const c = computeStatistics(chunked(true), { streaming: true, worldSize: 1 }).chunks!;
    assert.equal(c.chunks, 5);
    assert.equal(c.tokensPerChunkSource, "server_per_chunk");
    // gaps [10, 20, 20] ms: p50 = sorted[1]
    assert.deepEqual(c.chunkGapNs, {
      p50: 20 * MS,
      p90: 20 * MS,
      p95: 20 * MS,
      p99: 20 * MS,
      minimum: 10 * MS,
      maximum: 20 * MS,
      average: (50 * MS) / 3,
    });
    // tokens [1, 1, 1, 2, 2]: p50 = sorted[2] = 1, p90 = sorted[4] = 2
    assert.deepEqual(c.tokensPerChunk, {
      p50: 1,
      p90: 2,
      p95: 2,
      p99: 2,
      minimum: 1,
      maximum: 2,
      average: 1.4,
    });
  });

  test("without per-chunk counts everywhere: each request's n / chunks (a request with no chunk left out)", () => {
    const c = computeStatistics(chunked(false), { streaming: true, worldSize: 1 }).chunks!;
    assert.equal(c.tokensPerChunkSource, "request_average");
    // A: 3 / 3 = 1, B: 4 / 2 = 2
    assert.deepEqual(c.tokensPerChunk, {
      p50: 2,
      p90: 2,
      p95: 2,
      p99: 2,
      minimum: 1,
      maximum: 2,
      average: 1.5,
    });
    assert.equal(c.chunkGapNs.average, (50 * MS) / 3);
  });

  test("slot idle over the requests that waited; the other metrics keep their own values", () => {
    const s = computeStatistics(
      [
        // send (start) 100 − max(freed 90, scheduled 0) = 10 ms; e2e 400
        rec({ id: "1", startNs: 100 * MS, endNs: 500 * MS, slotFreedNs: 90 * MS }),
        // sent 250 − max(freed 200, scheduled 220) = 30 ms; e2e 260
        rec({
          id: "2",
          scheduledNs: 220 * MS,
          startNs: 240 * MS,
          sentNs: 250 * MS,
          endNs: 500 * MS,
          slotFreedNs: 200 * MS,
        }),
        // no wait; e2e 300
        rec({ id: "3", startNs: 0, endNs: 300 * MS }),
      ],
      { streaming: false, worldSize: 1 },
    );
    assert.deepEqual(s.slotIdleNs, {
      p50: 30 * MS,
      p90: 30 * MS,
      p95: 30 * MS,
      p99: 30 * MS,
      minimum: 10 * MS,
      maximum: 30 * MS,
      average: 20 * MS,
    });
    assert.equal(s.requestLatencyNs.p50, 300 * MS);
    assert.equal(s.requestLatencyNs.minimum, 260 * MS);
    // Σ e2e 960 ms over total latency max end 500 − min start 0.
    assert.equal(s.avgConcurrentRequests, 960 / 500);
    // queue (start − scheduled) [100, 20, 0] ms: p50 = sorted[1]
    assert.deepEqual([s.queueNs.minimum, s.queueNs.p50, s.queueNs.maximum], [0, 20 * MS, 100 * MS]);
  });
});
