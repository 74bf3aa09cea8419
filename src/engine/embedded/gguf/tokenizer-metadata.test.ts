import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError, UnsupportedError } from "../../../errors.ts";
import { LLAMA3_TOKENIZER_CONFIG, LLAMA3_TOKENIZER_JSON, LLAMA3_VOCAB, tempDir } from "./test-support.ts";
import { buildTokenizerMetadata } from "./tokenizer-metadata.ts";
import type { GgufKv } from "./writer.ts";

function kv(kvs: GgufKv[], key: string): unknown {
  return kvs.find((k) => k.key === key)?.value;
}

describe("tokenizer metadata from the real Llama-3.1 tokenizer", () => {
  let kvs: GgufKv[];
  let pre: string;
  before(async () => {
    ({ kvs, pre } = await buildTokenizerMetadata({
      tokenizerJsonPath: LLAMA3_TOKENIZER_JSON,
      tokenizerConfigPath: LLAMA3_TOKENIZER_CONFIG,
      vocabSize: LLAMA3_VOCAB,
    }));
  });
  it("is a gpt2 (byte-level BPE) vocab with the llama-bpe pre-tokenizer", () => {
    assert.equal(kv(kvs, "tokenizer.ggml.model"), "gpt2");
    assert.equal(pre, "llama-bpe");
    assert.equal(kv(kvs, "tokenizer.ggml.pre"), "llama-bpe");
  });
  it("lists every token by id, added tokens included", () => {
    const tokens = kv(kvs, "tokenizer.ggml.tokens") as string[];
    assert.equal(tokens.length, 128256);
    assert.equal(tokens[0], "!");
    assert.equal(tokens[128000], "<|begin_of_text|>");
    assert.equal(tokens[128009], "<|eot_id|>");
    assert.equal(tokens[128255], "<|reserved_special_token_250|>");
  });
  it("marks the special added tokens as control (3) and the rest normal (1)", () => {
    const types = kv(kvs, "tokenizer.ggml.token_type") as Int32Array;
    assert.equal(types.length, 128256);
    assert.equal(
      types.subarray(0, 128000).every((t) => t === 1),
      true,
    );
    assert.equal(
      types.subarray(128000).every((t) => t === 3),
      true,
    );
  });
  it("keeps the merges as 'a b' strings in rank order", () => {
    const merges = kv(kvs, "tokenizer.ggml.merges") as string[];
    assert.equal(merges.length, 280147);
    assert.equal(merges[0], "Ġ Ġ");
  });
  it("takes bos/eos, add_bos and the chat template from the config", () => {
    assert.equal(kv(kvs, "tokenizer.ggml.bos_token_id"), 128000);
    assert.equal(kv(kvs, "tokenizer.ggml.eos_token_id"), 128009);
    assert.equal(kv(kvs, "tokenizer.ggml.add_bos_token"), true); // post-processor prepends <|begin_of_text|>
    assert.match(kv(kvs, "tokenizer.chat_template") as string, /start_header_id/);
  });
});

describe("tokenizer metadata edge cases", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());

  const gpt2Style = {
    added_tokens: [
      { id: 4, content: "<|endoftext|>", special: true },
      { id: 5, content: "<extra>", special: false },
    ],
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, use_regex: true },
    decoder: { type: "ByteLevel" },
    model: {
      type: "BPE",
      vocab: { a: 0, b: 1, ab: 2, Ġa: 3 },
      merges: [
        ["a", "b"],
        ["Ġ", "a"],
      ],
    },
  };
  async function write(name: string, obj: unknown): Promise<string> {
    const p = join(dir, name);
    await writeFile(p, typeof obj === "string" ? obj : JSON.stringify(obj));
    return p;
  }

  it("joins pair merges, types non-special added tokens 4, pads unused ids, detects gpt-2", async () => {
    const tj = await write("t1.json", gpt2Style);
    const tc = await write("c1.json", { eos_token: { content: "<|endoftext|>" }, add_bos_token: false });
    const m = await buildTokenizerMetadata({ tokenizerJsonPath: tj, tokenizerConfigPath: tc, vocabSize: 8 });
    assert.deepEqual(kv(m.kvs, "tokenizer.ggml.merges"), ["a b", "Ġ a"]);
    assert.deepEqual(kv(m.kvs, "tokenizer.ggml.tokens"), [
      "a",
      "b",
      "ab",
      "Ġa",
      "<|endoftext|>",
      "<extra>",
      "[PAD6]",
      "[PAD7]",
    ]);
    assert.deepEqual(
      Array.from(kv(m.kvs, "tokenizer.ggml.token_type") as Int32Array),
      [1, 1, 1, 1, 3, 4, 5, 5],
    );
    assert.equal(m.pre, "gpt-2");
    assert.equal(kv(m.kvs, "tokenizer.ggml.eos_token_id"), 4);
    assert.equal(kv(m.kvs, "tokenizer.ggml.bos_token_id"), undefined);
    assert.equal(kv(m.kvs, "tokenizer.ggml.add_bos_token"), false);
  });

  it("falls back to the 'default' pre-tokenizer for other splits", async () => {
    const tj = await write("t2.json", {
      ...gpt2Style,
      pre_tokenizer: { type: "Sequence", pretokenizers: [{ type: "Digits" }, { type: "ByteLevel" }] },
    });
    assert.equal((await buildTokenizerMetadata({ tokenizerJsonPath: tj, vocabSize: 6 })).pre, "default");
  });

  it("refuses a vocab_size smaller than the tokenizer's ids, naming the file", async () => {
    const tj = await write("t3.json", gpt2Style);
    await assert.rejects(
      buildTokenizerMetadata({ tokenizerJsonPath: tj, vocabSize: 5 }),
      (e: unknown) =>
        e instanceof ConfigError && e.message.includes("t3.json") && /vocab_size 5/.test(e.message),
    );
  });

  it("refuses non byte-level tokenizers and bad JSON with typed errors", async () => {
    const uni = await write("t4.json", { model: { type: "Unigram", vocab: [] } });
    await assert.rejects(buildTokenizerMetadata({ tokenizerJsonPath: uni, vocabSize: 4 }), UnsupportedError);
    const bad = await write("t5.json", "{not json");
    await assert.rejects(
      buildTokenizerMetadata({ tokenizerJsonPath: bad, vocabSize: 4 }),
      (e: unknown) => e instanceof ConfigError && e.message.startsWith(bad),
    );
  });

  it("refuses a bos_token that is not in the vocabulary", async () => {
    const tj = await write("t6.json", gpt2Style);
    const tc = await write("c6.json", { bos_token: "<s>" });
    await assert.rejects(
      buildTokenizerMetadata({ tokenizerJsonPath: tj, tokenizerConfigPath: tc, vocabSize: 6 }),
      (e: unknown) =>
        e instanceof ConfigError && e.message.includes("c6.json") && e.message.includes("bos_token"),
    );
  });
});
