import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LLAMA3_TOKENIZER_CONFIG, LLAMA3_TOKENIZER_JSON } from "../engine/embedded/gguf/test-support.ts";
import { loadTokenizerFromFiles } from "../model/hf-tokenizer.ts";
import { IncrementalDetokenizer } from "./detokenizer.ts";

describe("IncrementalDetokenizer (Llama-3 byte-level BPE)", () => {
  it("token-by-token deltas join to the full decode, multi-byte characters included", async () => {
    const tok = await loadTokenizerFromFiles(LLAMA3_TOKENIZER_JSON, LLAMA3_TOKENIZER_CONFIG);
    const text = "Hello wörld — 你好, 🦙🦙 llamas! ∑x²";
    const ids = tok.encode(text, { addSpecialTokens: false });
    // The emoji and CJK characters take several byte-level tokens each: a per-token decode would break them.
    assert.ok(
      ids.some((id) => tok.decode([id]).includes("\uFFFD")),
      "the text has split characters",
    );
    const d = new IncrementalDetokenizer(tok);
    const deltas = ids.map((id) => d.push([id]));
    deltas.push(d.flush());
    for (const delta of deltas) assert.ok(!delta.includes("\uFFFD"), JSON.stringify(delta));
    assert.equal(deltas.join(""), text);
    assert.ok(deltas.filter((x) => x === "").length > 0, "incomplete characters were held back");
  });

  it("skips special tokens in the text and flushes an incomplete tail at the end", async () => {
    const tok = await loadTokenizerFromFiles(LLAMA3_TOKENIZER_JSON, LLAMA3_TOKENIZER_CONFIG);
    const d = new IncrementalDetokenizer(tok);
    const eos = tok.eosTokenId!;
    const [first] = tok.encode("🦙", { addSpecialTokens: false });
    assert.equal(d.push(tok.encode("Hi", { addSpecialTokens: false })), "Hi");
    assert.equal(d.push([eos]), "");
    assert.equal(d.push([first!]), "");
    assert.equal(d.flush(), "\uFFFD");
    assert.equal(d.ids.length, 3);
  });
});
