/**
 * Speculative decoding on the embedded engine with a tiny dummy-weight GGUF (untied output head, so greedy
 * outputs wander instead of echoing the last token): verification must reproduce plain greedy decoding token
 * for token whatever the drafts are. A dummy copy of the target as draft is accepted in full; a draft with
 * other weights is rejected, which exercises the KV rollback of both contexts; prompt n-gram lookup gets drafts
 * accepted on a repetitive prompt. Two requests run at once, so verification batches span requests.
 */
import assert from "node:assert/strict";
import { copyFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { writeTinyGguf } from "../../../../test/helpers/small-vocab.ts";
import type { EngineInfo, GenerationResult } from "../../types.ts";
import { EmbeddedEngine } from "../embedded-engine.ts";
import { tempDir } from "../gguf/test-support.ts";
import { nativePausedArgmaxSteps } from "../native-greedy.ts";
import type { SchedulerConfig } from "../scheduler.ts";
import type { SpeculativeConfig } from "./speculator.ts";

const OSL = 24;
const PROMPT = [791, 462, 198, 282, 35, 374, 264, 129, 13, 578, 40, 220, 512];
/** `a b b b` five times, then `a b`: prompt lookup finds its n-grams again and again. */
const REPETITIVE = [...Array.from({ length: 20 }, (_, i) => (i % 4 === 0 ? 300 : 400)), 300, 400];

let dir: string;
let cleanup: () => Promise<void>;
let target: string;
let draft: string;
let otherDraft: string;
/** Tied embeddings: the dummy model tends to repeat itself, which prompt lookup then predicts. */
let tied: string;

const INFO = { backend: "test", model: "tiny" } as unknown as EngineInfo;
const SCHED: SchedulerConfig = {
  maxBatchSize: 2,
  maxNumTokens: 64,
  kvCacheTokens: 256,
  maxSeqLen: 128,
  policy: "guaranteed_no_evict",
  chunkedContext: true,
};

async function generate(
  prompts: number[][],
  speculative?: SpeculativeConfig,
  ggufPath = target,
  deviceSampling = false,
): Promise<{ results: GenerationResult[]; streamed: number[][]; sampling: string | undefined }> {
  const engine = await EmbeddedEngine.start({
    ggufPath,
    info: INFO,
    scheduler: SCHED,
    threads: 1,
    gpu: false,
    kvCacheType: "F16",
    speculative,
    deviceSampling,
  });
  try {
    const streamed: number[][] = prompts.map(() => []);
    const results = await Promise.all(
      prompts.map((p, i) =>
        engine.generate(
          { id: String(i), inputIds: p, maxTokens: OSL, streaming: true },
          { onTokens: (t) => streamed[i]!.push(...t) },
        ),
      ),
    );
    return { results, streamed, sampling: engine.info.device?.sampling };
  } finally {
    await engine.stop();
  }
}

describe("speculative decoding on the embedded engine", { timeout: 120_000 }, () => {
  let plain: GenerationResult[];

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    // A 1003-token vocabulary: models load in a fraction of a second instead of seconds.
    const write = (seed: number, name: string, tieWordEmbeddings = false) =>
      writeTinyGguf(dir, name, { seed, contextLength: 256, tieWordEmbeddings });
    target = await write(1, "target.gguf");
    otherDraft = await write(2, "other.gguf");
    tied = await write(3, "tied.gguf", true);
    // Same config and seed: identical weights, so the draft always agrees with the target.
    draft = join(dir, "draft.gguf");
    await copyFile(target, draft);
    ({ results: plain } = await generate([PROMPT, REPETITIVE]));
    for (const r of plain) {
      assert.equal(r.outputIds.length, OSL);
      assert.equal(r.decodeIterations, OSL);
      assert.equal(r.draftTokens, undefined);
    }
  });
  after(async () => {
    await cleanup?.();
  });

  it("a dummy copy of the target as draft: every draft accepted, output identical to plain greedy", async () => {
    const { results, streamed } = await generate([PROMPT, REPETITIVE], {
      mode: "draft",
      maxDraftLen: 4,
      ngramSize: 3,
      draftGgufPath: draft,
    });
    for (let i = 0; i < 2; i++) {
      const r = results[i]!;
      assert.deepEqual(r.outputIds, plain[i]!.outputIds);
      assert.deepEqual(streamed[i], r.outputIds);
      assert.equal(r.finishReason, "length");
      // First token from the prefill step, then steps of 1 + 4 tokens; the last step drafts only what is left:
      // 23 tokens after the first = 4 full steps (20) + one step of 3 (2 drafts + 1).
      assert.equal(r.decodeIterations, 1 + 5);
      assert.equal(r.draftTokens, 4 * 4 + 2);
      assert.equal(r.acceptedDraftTokens, r.draftTokens);
    }
  });

  it("a draft with other weights: drafts rejected and rolled back, output identical to plain greedy", async () => {
    const { results, streamed } = await generate([PROMPT, REPETITIVE], {
      mode: "draft",
      maxDraftLen: 3,
      ngramSize: 3,
      draftGgufPath: otherDraft,
    });
    for (let i = 0; i < 2; i++) {
      const r = results[i]!;
      assert.deepEqual(r.outputIds, plain[i]!.outputIds);
      assert.deepEqual(streamed[i], r.outputIds);
      assert.ok(r.acceptedDraftTokens! < r.draftTokens!, "expected rejections from an unrelated draft");
      assert.equal(r.decodeIterations, OSL - r.acceptedDraftTokens!);
    }
  });

  it("sampling in llama.cpp's graph: several verified positions per sequence, output identical to plain greedy", async (t) => {
    if (nativePausedArgmaxSteps() === undefined) {
      t.skip("the native addon is not built here (no C++ compiler): sampling stays on the host");
      return;
    }
    const spec = { mode: "draft", maxDraftLen: 3, ngramSize: 3, draftGgufPath: otherDraft } as const;
    const { results, streamed, sampling } = await generate([PROMPT, REPETITIVE], spec, target, true);
    assert.equal(sampling, "llama.cpp greedy in the graph");
    for (let i = 0; i < 2; i++) {
      const r = results[i]!;
      assert.equal(r.error, undefined);
      assert.deepEqual(r.outputIds, plain[i]!.outputIds);
      assert.deepEqual(streamed[i], r.outputIds);
      assert.ok(r.acceptedDraftTokens! < r.draftTokens!, "expected rejections from an unrelated draft");
    }
  });

  it("prompt n-gram lookup on a repetitive prompt: drafts accepted, output identical to plain greedy", async () => {
    const prompts = [REPETITIVE, PROMPT];
    const { results: reference } = await generate(prompts, undefined, tied);
    const spec = { mode: "ngram", maxDraftLen: 4, ngramSize: 3 } as const;
    const { results, streamed } = await generate(prompts, spec, tied);
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(results[i]!.outputIds, reference[i]!.outputIds);
      assert.deepEqual(streamed[i], results[i]!.outputIds);
      assert.equal(reference[i]!.outputIds.length, OSL);
    }
    const r = results[0]!;
    assert.ok(r.acceptedDraftTokens! > 0, `no draft accepted: ${JSON.stringify(r)}`);
    // The model repeats its last token; the prompt's pattern (`b b b a`) is proposed first and its `a` is
    // rejected, so the rollback path runs too.
    assert.ok(r.acceptedDraftTokens! < r.draftTokens!, JSON.stringify(r));
    // Every accepted draft saves one step.
    assert.equal(r.decodeIterations, OSL - r.acceptedDraftTokens!);
  });
});
