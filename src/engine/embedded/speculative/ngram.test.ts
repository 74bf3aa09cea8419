import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { proposeNgram } from "./ngram.ts";

/** Runs the proposer on `history` with room for `room` drafts; returns the drafts. */
function propose(history: number[], maxNgram: number, maxDraft: number, room = maxDraft): number[] {
  const buf = new Uint32Array(history.length + room);
  buf.set(history);
  const k = proposeNgram(buf, history.length, maxNgram, maxDraft);
  return Array.from(buf.subarray(history.length, history.length + k));
}

describe("proposeNgram", () => {
  it("proposes what followed the last n-gram's earlier occurrence", () => {
    // Last 2-gram [7, 8] occurs at 1; it was followed by 9, 10, 11.
    assert.deepEqual(propose([5, 7, 8, 9, 10, 11, 3, 7, 8], 2, 3), [9, 10, 11]);
  });

  it("prefers the longest n-gram, then the most recent occurrence", () => {
    // 3-gram [1, 2, 3] matches at 0 (followed by 40); the 1-gram [3] alone would match later (followed by 50).
    assert.deepEqual(propose([1, 2, 3, 40, 9, 3, 50, 1, 2, 3], 3, 1), [40]);
    // Two occurrences of [4, 5]: the later one (followed by 7) wins over the earlier one (followed by 6).
    assert.deepEqual(propose([4, 5, 6, 4, 5, 7, 4, 5], 2, 1), [7]);
  });

  it("falls back to shorter n-grams", () => {
    // No earlier [9, 2]; the 1-gram [2] occurs at 1, followed by 3 and 4.
    assert.deepEqual(propose([1, 2, 3, 4, 9, 2], 2, 2), [3, 4]);
  });

  it("extends a repeating pattern past the end of the history (overlapping copy)", () => {
    // Period 2: the most recent [1, 2] is at 2, followed by the suffix itself and then the drafts.
    assert.deepEqual(propose([1, 2, 1, 2, 1, 2], 2, 5), [1, 2, 1, 2, 1]);
    assert.deepEqual(propose([7, 7, 7], 3, 4), [7, 7, 7, 7]);
  });

  it("proposes nothing without a match, without room, or without history", () => {
    assert.deepEqual(propose([1, 2, 3, 4], 3, 4), []);
    assert.deepEqual(propose([1, 2, 1, 2], 2, 0), []);
    assert.deepEqual(propose([1], 2, 3), []);
    // Room for only 2 drafts caps the proposal.
    assert.deepEqual(propose([1, 2, 3, 1, 2], 2, 4, 2), [3, 1]);
  });
});
