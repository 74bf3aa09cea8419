/**
 * The embedded engine on the CPU with llama.cpp's thread pool attached (threads > 1): when a step's logits rows
 * are many (rows x vocabulary past native/greedy.cc's threshold), the argmax pauses the pool and takes its cores
 * too, and the next decode must wake the pool again. The tokens must be exactly those of one thread (no pool, no
 * pause), with decode runs on and off, and the pause must really have happened.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { generateAll, withTinyEngine } from "../../../test/helpers/tiny-engine.ts";
import { writeGguf } from "./gguf/index.ts";
import { LLAMA3_TOKENIZER_CONFIG, LLAMA3_TOKENIZER_JSON, tempDir, tinyConfig } from "./gguf/test-support.ts";
import { nativePausedArgmaxSteps } from "./native-greedy.ts";

// 12 sequences x 128,256 logits = 1.5M floats a decode step: past the 2^20 threshold.
const SEQS = 12;
const OSL = 12;

let dir: string;
let cleanup: () => Promise<void>;
let gguf: string;

async function outputs(threads: number, decodeRuns: boolean): Promise<number[][]> {
  const scheduler = { maxBatchSize: SEQS, maxNumTokens: 512, kvCacheTokens: SEQS * 256, maxSeqLen: 64 };
  return withTinyEngine(gguf, scheduler, { threads, decodeRuns }, async (engine) => {
    const prompts = Array.from({ length: SEQS }, (_, i) =>
      Array.from({ length: 8 + i }, (_, k) => 1000 + 37 * i + k),
    );
    const results = await generateAll(engine, prompts, new Array(SEQS).fill(OSL));
    for (const r of results) assert.equal(r.error, undefined);
    return results.map((r) => r.outputIds);
  });
}

describe("CPU thread pool paused for a large argmax", { timeout: 180_000 }, () => {
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    const written = await writeGguf({
      config: tinyConfig(),
      tokenizerJsonPath: LLAMA3_TOKENIZER_JSON,
      tokenizerConfigPath: LLAMA3_TOKENIZER_CONFIG,
      weightType: "F32",
      source: { kind: "dummy", seed: 11 },
      contextLength: 256,
      outPath: join(dir, "tiny-128k.gguf"),
    });
    gguf = written.path;
  });
  after(async () => {
    await cleanup?.();
  });

  it("2 threads pick one thread's tokens, with decode runs on and off, and the pool was paused", async (t) => {
    const before = nativePausedArgmaxSteps();
    if (before === undefined) {
      t.skip("the native sampler is not built here (no C++ compiler)");
      return;
    }
    const ref = await outputs(1, false);
    assert.equal(nativePausedArgmaxSteps(), before, "one thread attaches no pool, so nothing is paused");
    for (const o of ref) assert.equal(o.length, OSL);
    assert.deepEqual(await outputs(2, false), ref);
    const afterSteps = nativePausedArgmaxSteps()!;
    // Every step with all 12 sequences decoding is past the threshold (the prefill steps sample 12 rows too).
    assert.ok(afterSteps - before >= OSL - 1, `paused ${afterSteps - before} steps`);
    assert.deepEqual(await outputs(2, true), ref);
    assert.ok(nativePausedArgmaxSteps()! - afterSteps >= OSL - 1);
  });
});
