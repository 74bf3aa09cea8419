import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { loadTokenizerFromFiles } from "./hf-tokenizer.ts";
import { bundledTokenizerFor, packageRoot } from "./known-models.ts";
import { charsPerToken, minTokensFor } from "./token-bound.ts";
import type { Tokenizer } from "./tokenizer.ts";

type Json = Record<string, unknown>;

/** Deterministic random texts over an alphabet meant to stress the bound (long runs, multi-unit characters). */
function texts(alphabet: readonly string[], count: number, seed = 7): string[] {
  let x = seed;
  const next = () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x;
  };
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let s = "";
    const pieces = 1 + (next() % 400);
    for (let j = 0; j < pieces; j++) {
      const piece = alphabet[next() % alphabet.length]!;
      s += piece.repeat(1 + (next() % 40));
    }
    out.push(s);
  }
  return out;
}

describe("charsPerToken: the bundled Llama-3 tokenizer", { timeout: 60_000 }, () => {
  let tok: Tokenizer;
  before(async () => {
    const b = bundledTokenizerFor("llm-bench/tiny-llama")!;
    tok = await loadTokenizerFromFiles(b.tokenizerJson, b.tokenizerConfig);
  });

  it("one token covers at most 128 characters (its run of 128 spaces), and that bound is reached", () => {
    assert.equal(tok.maxCharsPerToken, 128);
    assert.equal(tok.encode(" ".repeat(1280), { addSpecialTokens: false }).length, 10);
  });

  it("no text encodes to fewer tokens than its length allows", () => {
    const alphabet = [
      " ",
      "a",
      "-",
      "=",
      "/",
      "\n",
      "é",
      "😀",
      "中",
      "1",
      "<|begin_of_text|>",
      "\uD800",
      "'s",
    ];
    for (const text of texts(alphabet, 25)) {
      const n = tok.encode(text, { addSpecialTokens: false }).length;
      assert.ok(n >= minTokensFor(text.length, 128), `${n} tokens for ${text.length} characters`);
    }
  });
});

/** A Llama-2-shaped tokenizer: Prepend + Replace normalizer, no pre-tokenizer, BPE with byte fallback. */
function llama2Like(): Json {
  const vocab: Record<string, number> = { "<unk>": 0, "<s>": 1, "</s>": 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`] = 3 + b;
  let id = 259;
  for (const t of ["▁", "a", "b", "▁a", "aa", "aaaa", "aaaaaaaa", "▁▁", "▁▁▁▁"]) vocab[t] = id++;
  return {
    version: "1.0",
    added_tokens: [
      { id: 0, content: "<unk>", special: true, normalized: false, lstrip: false, rstrip: false },
      { id: 1, content: "<s>", special: true, normalized: false, lstrip: false, rstrip: false },
      { id: 2, content: "</s>", special: true, normalized: false, lstrip: false, rstrip: false },
    ],
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Prepend", prepend: "▁" },
        { type: "Replace", pattern: { String: " " }, content: "▁" },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [],
      special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } },
    },
    decoder: null,
    model: {
      type: "BPE",
      unk_token: "<unk>",
      byte_fallback: true,
      fuse_unk: true,
      vocab,
      merges: ["▁ a", "a a", "aa aa", "aaaa aaaa", "▁ ▁", "▁▁ ▁▁"],
    },
  };
}

describe("charsPerToken: what the analysis accepts holds for the library", { timeout: 30_000 }, () => {
  it("a Llama-2-shaped tokenizer: bounded by its longest piece, and no text beats the bound", () => {
    const json = llama2Like();
    const r = charsPerToken(json, {});
    assert.deepEqual(r, { bound: 8 });
    const hf = new HfTokenizer(json, {});
    const alphabet = ["a", " ", "b", "é", "😀", "<s>", "\uDFFF", "z"];
    for (const text of texts(alphabet, 80)) {
      const n = hf.encode(text, { add_special_tokens: false }).ids.length;
      assert.ok(n >= minTokensFor(text.length, 8), `${n} tokens for ${text.length} characters`);
    }
  });

  it("normalized added tokens count at their normalized length", () => {
    const json = llama2Like();
    (json["added_tokens"] as Json[]).push({ id: 300, content: "<long-added-token>", normalized: true });
    // "▁" is prepended by the normalizer: 18 + 1.
    assert.deepEqual(charsPerToken(json, {}), { bound: 19 });
  });
});

describe("charsPerToken: pipelines that may drop or shorten text give no bound", () => {
  const variants: Array<[string, (j: Json) => void, RegExp]> = [
    ["an NFC normalizer", (j) => (j["normalizer"] = { type: "NFC" }), /normalizer NFC/],
    [
      "a Replace that shortens",
      (j) => (j["normalizer"] = { type: "Replace", pattern: { String: "  " }, content: " " }),
      /may shorten/,
    ],
    ["a Whitespace pre-tokenizer", (j) => (j["pre_tokenizer"] = { type: "Whitespace" }), /Whitespace/],
    [
      "a Split that keeps only its matches",
      (j) => (j["pre_tokenizer"] = { type: "Split", pattern: { Regex: "\\w+" }, invert: true }),
      /invert/,
    ],
    [
      "a Split that removes its matches",
      (j) => (j["pre_tokenizer"] = { type: "Split", pattern: { String: " " }, behavior: "Removed" }),
      /drops/,
    ],
    [
      "an added token that strips whitespace",
      (j) => (j["added_tokens"] as Json[]).push({ id: 301, content: "<mask>", lstrip: true }),
      /strips whitespace/,
    ],
    [
      "fused unknown pieces without byte fallback",
      (j) => ((j["model"] as Json)["byte_fallback"] = false),
      /fuse_unk/,
    ],
    [
      "unknown pieces with nothing to fall back on",
      (j) => {
        const m = j["model"] as Json;
        m["byte_fallback"] = false;
        m["unk_token"] = null;
      },
      /dropped/,
    ],
    [
      "a template without the text",
      (j) => ((j["post_processor"] as Json)["single"] = [{ SpecialToken: { id: "<s>", type_id: 0 } }]),
      /drops the text/,
    ],
    ["a Unigram model", (j) => ((j["model"] as Json)["type"] = "Unigram"), /only BPE/],
  ];
  for (const [name, change, reason] of variants) {
    it(name, () => {
      const json = llama2Like();
      change(json);
      const r = charsPerToken(json, {});
      assert.ok("none" in r, JSON.stringify(r));
      assert.match(r.none, reason);
    });
  }

  it("tokenizer_config's remove_space, and a WordPiece tokenizer (a long word is one [UNK])", async () => {
    assert.ok("none" in charsPerToken(llama2Like(), { remove_space: true }));
    const dir = join(await packageRoot(), "test", "fixtures", "hf", "tiny-wordpiece");
    const json = JSON.parse(await readFile(join(dir, "tokenizer.json"), "utf8")) as Json;
    assert.ok("none" in charsPerToken(json, {}));
    const tok = await loadTokenizerFromFiles(join(dir, "tokenizer.json"));
    assert.equal(tok.maxCharsPerToken, undefined);
  });
});
