import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RequestLogEntry } from "../request-log.ts";
import { paretoFront, sampleByStart, sharedHistogram, timeSeries } from "./series.ts";

const S = 1e9;
function entry(
  id: string,
  start: number,
  first: number | null,
  end: number,
  n: number,
  error: string | null = null,
) {
  const e: RequestLogEntry = {
    id,
    scheduled_ns: start * S,
    start_ns: start * S,
    sent_ns: null,
    first_byte_ns: null,
    first_token_ns: first === null ? null : first * S,
    end_ns: end * S,
    input_tokens: 1,
    output_tokens: n,
    requested_output_tokens: n,
    decode_iterations: n,
    queue_ns: 0,
    ttft_ns: first === null ? null : (first - start) * S,
    tpot_ns: null,
    e2e_ns: (end - start) * S,
    error,
  };
  return e;
}

describe("chart series", () => {
  it("bins every run on the same edges", () => {
    const h = sharedHistogram(
      [
        [0, 1, 2],
        [4, 4],
      ],
      4,
    );
    assert.deepEqual(h.edges, [0, 1, 2, 3]);
    assert.equal(h.width, 1);
    // 4 is the upper edge: it falls in the last bin.
    assert.deepEqual(h.counts, [
      [1, 1, 1, 0],
      [0, 0, 0, 2],
    ]);
    assert.deepEqual(sharedHistogram([[5, 5]], 10), { edges: [5], width: 1, counts: [[2]] });
    assert.deepEqual(sharedHistogram([[]]).edges, []);
  });
  it("spreads each request's tokens over first token..end and averages requests in flight", () => {
    const entries = [
      // First token at 1 s (bin 1), the other 4 evenly over 1..3 s: 2 in bin 1, 2 in bin 2.
      entry("a", 0, 1, 3, 5),
      // Not streamed: all 3 tokens at the end (2 s, bin 2); in flight half of bin 1.
      entry("b", 1.5, null, 2, 3),
      // Failed requests are left out.
      entry("c", 0, 0.5, 2.5, 9, "boom"),
    ];
    const ts = timeSeries(entries, 3);
    assert.deepEqual(ts.t, [0, 1, 2]);
    assert.deepEqual(ts.outputTokS, [0, 3, 5]);
    assert.deepEqual(ts.concurrency, [1, 1.5, 1]);
    assert.deepEqual(timeSeries([]), { t: [], outputTokS: [], concurrency: [] });
  });
  it("samples the timeline evenly in start order", () => {
    const entries = [5, 1, 3, 2, 4, 0].map((s) => entry(String(s), s, null, s + 1, 1));
    assert.deepEqual(
      sampleByStart(entries, 3).map((e) => e.id),
      ["0", "2", "4"],
    );
    assert.equal(sampleByStart(entries, 10).length, 6);
  });
  it("keeps the points nothing beats on both axes", () => {
    const pts = [
      { label: "c1", x: 50, y: 50 },
      { label: "c2", x: 40, y: 70 },
      { label: "c4", x: 20, y: 65 },
      { label: "c8", x: 10, y: 90 },
    ];
    assert.deepEqual(
      paretoFront(pts).map((p) => p.label),
      ["c8", "c2", "c1"],
    );
  });
});
