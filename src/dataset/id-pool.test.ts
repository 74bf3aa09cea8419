import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IdPool, PackedRequest } from "./id-pool.ts";

describe("IdPool", { timeout: 10_000 }, () => {
  it("packs requests back to back, releases a rejected line's ids, and gives large requests their own chunk", () => {
    const pool = new IdPool();
    const a = pool.reserve(3);
    a.chunk.set([1, 2, 3], a.offset);
    const rejected = pool.reserve(2);
    pool.release(rejected);
    const b = pool.reserve(2);
    assert.equal(b.chunk, a.chunk);
    assert.equal(b.offset, 3, "the released room is reused");
    b.chunk.set([7, 8], b.offset);
    const big = pool.reserve(300_000);
    assert.equal(big.offset, 0);
    assert.equal(big.chunk.length, 300_000);
    const ra = new PackedRequest(0, a.chunk, a.offset, 3, undefined, 1, 1, undefined);
    const rb = new PackedRequest(1, b.chunk, b.offset, 2, undefined, 1, 2, undefined);
    assert.deepEqual([...ra.inputIds], [1, 2, 3]);
    assert.deepEqual([...rb.inputIds], [7, 8]);
    assert.equal(ra.inputLength, 3);
  });

  it("starts a new chunk when a request does not fit in the rest of the current one", () => {
    const pool = new IdPool();
    const first = pool.reserve(200_000);
    const second = pool.reserve(100_000);
    assert.notEqual(second.chunk, first.chunk);
    assert.equal(second.offset, 0);
  });
});
