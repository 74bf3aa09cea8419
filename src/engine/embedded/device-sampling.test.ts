/**
 * Greedy sampling in llama.cpp's graph (native/greedy.cc RowArgmax and backendGreedy; GreedySampling's onDevice):
 * once the native sampler is checked, every sequence gets a sampler in llama.cpp's graph and only token ids come
 * back. The default where every layer is on a GPU, opt-in on the CPU; here it runs on the CPU backend, where the graph path is the same. The tokens must be the
 * host argmax's (random weights: no ties), through every way a step is sampled: planned steps, native decode runs,
 * prefill outputs of requests admitted later, and sequences moved to another id.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { writeTinyGguf } from "../../../test/helpers/small-vocab.ts";
import { generateAll, withTinyEngine } from "../../../test/helpers/tiny-engine.ts";
import { tempDir } from "./gguf/test-support.ts";
import { samplesInGraph } from "./llama-native.ts";
import { nativePausedArgmaxSteps } from "./native-greedy.ts";

const PROMPTS = [
  [791, 462, 198, 282, 35, 374, 264, 129, 13],
  [300, 400, 500, 600, 700],
  [11, 22, 33, 44, 55, 66, 77],
  [5, 6, 7, 8],
];
// The second request ends early, so its id frees mid-run; the fourth arrives once the first three are running.
const OSL = [30, 5, 30, 20];

let dir: string;
let cleanup: () => Promise<void>;
let gguf: string;

async function run(
  deviceSampling: boolean,
  decodeRuns: boolean,
): Promise<{ out: number[][]; sampling: string | undefined }> {
  const scheduler = { maxBatchSize: 3, maxNumTokens: 64, kvCacheTokens: 3 * 128, maxSeqLen: 128 };
  return withTinyEngine(gguf, scheduler, { decodeRuns, deviceSampling }, async (engine) => {
    const done = await generateAll(engine, PROMPTS, OSL, (i) => i === 0);
    for (const r of done) assert.equal(r.error, undefined);
    return { out: done.map((r) => r.outputIds), sampling: engine.info.device?.sampling };
  });
}

describe("where greedy sampling runs (samplesInGraph)", { timeout: 5_000 }, () => {
  it("defaults to the graph exactly when every layer is on a GPU", () => {
    assert.equal(samplesInGraph(undefined, undefined, true), true);
    assert.equal(samplesInGraph(undefined, undefined, false), false);
    assert.equal(samplesInGraph(undefined, undefined, undefined), false); // the CPU
    assert.equal(samplesInGraph(undefined, "", true), true);
  });
  it("follows LLM_BENCH_DEVICE_SAMPLING, then the option, but never with layers left on the CPU", () => {
    assert.equal(samplesInGraph(undefined, "0", true), false);
    assert.equal(samplesInGraph(undefined, "1", undefined), true);
    assert.equal(samplesInGraph(undefined, "1", false), false);
    assert.equal(samplesInGraph(false, "1", true), false);
    assert.equal(samplesInGraph(true, "0", undefined), true);
    assert.equal(samplesInGraph(true, undefined, false), false);
  });
});

describe("greedy sampling in llama.cpp's graph", { timeout: 120_000 }, () => {
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    // Untied embeddings: with tied ones this dummy model mostly repeats its last token, whatever the context.
    gguf = await writeTinyGguf(dir, "tiny.gguf", { contextLength: 256, tieWordEmbeddings: false });
  });
  after(async () => {
    await cleanup?.();
  });

  it("chooses the host argmax's tokens, in planned steps and in decode runs", async (t) => {
    if (nativePausedArgmaxSteps() === undefined) {
      t.skip("the native addon is not built here (no C++ compiler): sampling stays on the host");
      return;
    }
    const ref = await run(false, false);
    assert.equal(ref.sampling, "native batched argmax");
    assert.deepEqual(
      ref.out.map((o) => o.length),
      OSL,
    );
    for (const runs of [false, true]) {
      const got = await run(true, runs);
      assert.equal(got.sampling, "llama.cpp greedy in the graph", `runs ${runs}`);
      assert.deepEqual(got.out, ref.out, `runs ${runs}`);
    }
  });
});
