import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "../errors.ts";
import { checkSloStreaming, computeGoodput, formatSlo, meetsSlo, parseSlo } from "./goodput.ts";
import type { RequestRecord } from "./record.ts";
import { computeStatistics } from "./statistics.ts";

const MS = 1e6;

/** n tokens, TTFT and end in ms from a start at `start` ms. */
function rec(id: string, start: number, ttft: number, e2e: number, n: number, error?: string): RequestRecord {
  return {
    id,
    numInputTokens: 10,
    numOutputTokens: n,
    requestedOutputTokens: n,
    scheduledNs: start * MS,
    startNs: start * MS,
    firstTokenNs: (start + ttft) * MS,
    endNs: (start + e2e) * MS,
    decodeIterations: n,
    error,
  };
}

// TTFT / TPOT (ms) / e2e: a 100/10/190, b 300/10/390, c 100/40/460, d fails, e 50/20/130
const records = [
  rec("a", 0, 100, 190, 10),
  rec("b", 0, 300, 390, 10),
  rec("c", 40, 100, 460, 10),
  rec("d", 0, 10, 20, 2, "boom"),
  rec("e", 870, 50, 130, 5),
];

describe("parseSlo", () => {
  it("takes separate words or one comma-separated word", () => {
    assert.deepEqual(parseSlo(["ttft:200", "tpot:50"]), { ttftMs: 200, tpotMs: 50 });
    assert.deepEqual(parseSlo(["ttft:200,e2el:1000.5"]), { ttftMs: 200, e2elMs: 1000.5 });
    assert.deepEqual(parseSlo([" TPOT : 7 "]), { tpotMs: 7 });
  });
  it("names the bad part and the flag", () => {
    assert.throws(
      () => parseSlo(["itl:5"], "--slo"),
      (e) => e instanceof UsageError && /--slo: 'itl:5'/.test(e.message),
    );
    assert.throws(() => parseSlo(["ttft:-1"]), /positive number of milliseconds/);
    assert.throws(() => parseSlo(["ttft:abc"]), /positive number/);
    assert.throws(() => parseSlo(["ttft200"]), /not KEY:MS/);
    assert.throws(() => parseSlo(["ttft:1", "ttft:2"]), /given twice/);
    assert.throws(() => parseSlo([]), /at least one/);
  });
  it("formats back to the same syntax", () => {
    assert.equal(formatSlo({ e2elMs: 3, ttftMs: 1 }), "ttft:1,e2el:3");
  });
});

describe("goodput", () => {
  it("checks each bound inclusively and never passes a failed request", () => {
    assert.equal(meetsSlo(records[0]!, { ttftMs: 100, tpotMs: 10 }), true);
    assert.equal(meetsSlo(records[0]!, { ttftMs: 99.9 }), false);
    assert.equal(meetsSlo(records[2]!, { tpotMs: 39.9 }), false);
    assert.equal(meetsSlo(records[2]!, { e2elMs: 460 }), true);
    assert.equal(meetsSlo(records[3]!, { e2elMs: 1e9 }), false);
  });
  it("counts requests meeting every SLO over the total latency; failures stay in the fraction", () => {
    // ttft ≤ 200 and tpot ≤ 20: a, e meet; b (ttft), c (tpot), d (failed) do not.
    // Total latency of the successful requests: max end 1000 ms − min start 0 = 1 s.
    const g = computeGoodput(records, { ttftMs: 200, tpotMs: 20 }, 1000 * MS);
    assert.equal(g.goodRequests, 2);
    assert.equal(g.totalRequests, 5);
    assert.equal(g.goodput, 2);
    assert.equal(g.fraction, 0.4);
    assert.equal(computeGoodput([], { ttftMs: 1 }, 0).goodput, 0);
    assert.equal(computeGoodput([], { ttftMs: 1 }, 0).fraction, 0);
  });
  it("is part of the statistics only when SLOs are given", () => {
    const s = computeStatistics(records, { streaming: true, worldSize: 1, slo: { e2elMs: 400 } });
    assert.equal(s.totalLatencyNs, 1000 * MS);
    // e2e ≤ 400: a, b, e.
    assert.equal(s.goodput?.goodRequests, 3);
    assert.equal(s.goodput?.goodput, 3);
    assert.equal(computeStatistics(records, { streaming: true, worldSize: 1 }).goodput, undefined);
  });
  it("refuses TTFT/TPOT SLOs without streaming", () => {
    assert.throws(() => checkSloStreaming({ ttftMs: 1 }, false), /need --streaming/);
    checkSloStreaming({ e2elMs: 1 }, false);
    checkSloStreaming({ ttftMs: 1 }, true);
  });
});
