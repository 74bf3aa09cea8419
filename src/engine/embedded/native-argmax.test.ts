import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { mulberry32 } from "../../util/mulberry32.ts";
import { nativeArgmaxRow } from "./native-greedy.ts";

/** llama.cpp's greedy sampler (llama_sampler_greedy_apply): the first element greater than all before it. */
function reference(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

const argmax = nativeArgmaxRow();
const hasCompiler = spawnSync("c++", ["--version"]).status === 0;

describe("native argmax kernel (native/greedy.cc)", { timeout: 60_000 }, () => {
  it("is built wherever a C++ compiler exists", () => {
    if (hasCompiler) assert.ok(argmax, "a C++ compiler exists but the native addon was not built");
  });

  it("chooses what llama.cpp's greedy sampler chooses: ties, NaNs, infinities, every length and lane", {
    skip: argmax ? false : "native addon not built",
  }, () => {
    const f = argmax!;
    const cases: [string, number[]][] = [
      ["one value", [3]],
      ["first of two equal maxima", [1, 5, 5]],
      ["a NaN first value wins", [Number.NaN, 1, 2]],
      ["NaN never wins later", [0, Number.NaN, -1]],
      ["all -Infinity: the first", [-Infinity, -Infinity, -Infinity]],
      ["+Infinity", [0, 1, Infinity, Infinity]],
      ["max equal to the first value", [7, 1, 7, 2]],
    ];
    for (const [name, values] of cases) {
      const row = Float32Array.from(values);
      assert.equal(f(row), reference(row), name);
    }
    // Seeded, so a failure names a reproducible row.
    const next = mulberry32(42);
    for (const n of [1, 7, 8, 15, 16, 17, 31, 32, 33, 1000, 32_000, 128_256]) {
      for (let trial = 0; trial < 20; trial++) {
        const row = new Float32Array(n);
        // Few distinct values, so maxima repeat across lanes, blocks and the tail.
        const levels = trial < 10 ? 4 : 1 << 20;
        for (let i = 0; i < n; i++) row[i] = Math.floor(next() * levels) - levels / 2;
        if (trial % 5 === 1) row[Math.floor(next() * n)] = Number.NaN;
        if (trial % 5 === 2) row[n - 1] = levels; // the maximum in the tail
        if (trial % 5 === 3) for (let i = 0; i < n; i += 9) row[i] = levels; // equal maxima in many lanes
        assert.equal(f(row), reference(row), `n=${n} trial=${trial}`);
      }
    }
  });
});
