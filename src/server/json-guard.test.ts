import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { JsonShapeGuard } from "./json-guard.ts";
import { HttpError } from "./openai-error.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const loose = { maxDepth: 1000, maxValues: 1_000_000 };

function countsOf(chunks: Uint8Array[]): { depth: number; values: number } {
  const g = new JsonShapeGuard(loose);
  for (const c of chunks) g.push(c);
  return g.counts;
}

describe("JsonShapeGuard", { timeout: 30_000 }, () => {
  it("counts containers and commas outside strings, whatever the chunk boundaries", () => {
    const doc = JSON.stringify({
      prompt: 'a [quoted] "string", with {brackets}, commas and \\ backslashes \\"',
      ids: [1, 2, [3, 4]],
      m: [{ role: "u", content: "\\" }],
    });
    const whole = countsOf([bytes(doc)]);
    // Containers: the body, ids, [3, 4], m, the message = 5; commas outside strings: 6.
    assert.deepEqual(whole, { depth: 0, values: 5 + 6 });
    const b = bytes(doc);
    for (let cut = 0; cut <= b.length; cut++) {
      assert.deepEqual(countsOf([b.subarray(0, cut), b.subarray(cut)]), whole, `split at ${cut}`);
    }
  });

  it("refuses the first byte past the nesting or value limit", () => {
    const g = new JsonShapeGuard({ maxDepth: 3, maxValues: 100 });
    g.push(bytes("[[["));
    assert.throws(
      () => g.push(bytes("[")),
      (e: unknown) => e instanceof HttpError && e.status === 400 && e.code === "json_too_deep",
    );
    const v = new JsonShapeGuard({ maxDepth: 3, maxValues: 10 });
    v.push(bytes("[1,2,3,4,5,6,7,8,9,10"));
    assert.throws(
      () => v.push(bytes(",11")),
      (e: unknown) => e instanceof HttpError && e.status === 413 && e.code === "request_too_large",
    );
  });

  it("scans a string of escapes in one pass", () => {
    const g = new JsonShapeGuard(loose);
    const chunk = bytes(`"${"\\\\".repeat(2_000_000)}", [1]`);
    g.push(chunk);
    assert.deepEqual(g.counts, { depth: 0, values: 2 });
  });
});
