import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { StreamAccumulator } from "./stream.ts";

describe("StreamAccumulator token ids", () => {
  it("counts the ids streamed with every content chunk", () => {
    const acc = new StreamAccumulator(false);
    acc.onData(JSON.stringify({ choices: [{ text: "ab", token_ids: [5, 6] }] }), 1);
    acc.onData(JSON.stringify({ choices: [{ text: "c", token_ids: [7] }] }), 2);
    acc.onData(JSON.stringify({ choices: [{ text: "", finish_reason: "length" }] }), 3);
    acc.onData("[DONE]", 4);
    assert.equal(acc.settle(), undefined);
    assert.deepEqual(acc.receivedIds(), [5, 6, 7]);
  });

  it("falls back to re-tokenizing when a content chunk comes without ids", () => {
    const acc = new StreamAccumulator(false);
    acc.onData(JSON.stringify({ choices: [{ text: "ab", token_ids: [5, 6] }] }), 1);
    acc.onData(JSON.stringify({ choices: [{ text: "c" }] }), 2);
    assert.equal(acc.receivedIds(), undefined);
  });
});
