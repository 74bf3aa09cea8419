import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RingQueue } from "./ring-queue.ts";

describe("RingQueue", { timeout: 10_000 }, () => {
  it("is first-in first-out across growth and wrap-around", () => {
    const q = new RingQueue<number>(2);
    const expected: number[] = [];
    let next = 0;
    // Interleave pushes and shifts so the head wraps while the buffer grows.
    for (let round = 0; round < 50; round++) {
      for (let k = 0; k < 3; k++) {
        q.push(next);
        expected.push(next++);
      }
      assert.equal(q.shift(), expected.shift());
      assert.equal(q.length, expected.length);
      assert.equal(q.peek(), expected[0]);
    }
    while (expected.length > 0) assert.equal(q.shift(), expected.shift());
    assert.equal(q.shift(), undefined);
    assert.equal(q.length, 0);
  });
});
