import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { RequestRecord } from "../../metrics/record.ts";
import { loadTokenizerFromFiles } from "../../model/hf-tokenizer.ts";
import type { Tokenizer } from "../../model/tokenizer.ts";
import { resolveTokenizer } from "../../model/tokenizer-resolve.ts";
import { countClientTokens } from "./client-count.ts";
import { cutStyleOf, PIECE_CHARS, textPieces } from "./pieces.ts";

const WORDS = [
  "the",
  "model",
  "answered:",
  "naïve",
  "café,",
  "déjà",
  "(vu)",
  "x=1;",
  "42",
  "1,000",
  "it's",
  "—",
];

/** Ordinary text of about `n` characters: words, punctuation, single and double spaces, line breaks, CJK. */
function prose(n: number, seed = 1): string {
  let s = "";
  let x = seed;
  while (s.length < n) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const w = WORDS[x % WORDS.length]!;
    const sep = x % 17 === 0 ? "\n\n" : x % 13 === 0 ? "  " : x % 29 === 0 ? "。中文文本，" : " ";
    s += w + sep;
  }
  return s;
}

function record(text: string, extra: Partial<RequestRecord> = {}): RequestRecord {
  return {
    id: "r",
    numInputTokens: 1,
    numOutputTokens: 0,
    scheduledNs: 0,
    startNs: 0,
    firstTokenNs: 1,
    endNs: 2,
    decodeIterations: 1,
    requestedOutputTokens: 1,
    error: undefined,
    outputText: text,
    ...extra,
  } as RequestRecord;
}

/** The tokenizer, noting the longest text any one encode call was given. */
function watched(tok: Tokenizer): { tok: Tokenizer; longest: () => number } {
  let longest = 0;
  const proxy = Object.create(tok) as Tokenizer;
  proxy.encode = (text, o) => {
    longest = Math.max(longest, text.length);
    return tok.encode(text, o);
  };
  return { tok: proxy, longest: () => longest };
}

describe("textPieces", () => {
  test("pieces stay within the bound and rebuild the text; cuts at spaces, then punctuation, then anywhere", () => {
    const text = prose(50_000);
    for (const style of ["keep", "drop"] as const) {
      const pieces = [...textPieces(text, style, 1000)];
      assert.ok(pieces.every((p) => p.length <= 1000 && p.length > 0));
      assert.equal(pieces.join(style === "keep" ? "" : " "), text);
      assert.ok(pieces.slice(1).every((p) => (style === "keep" ? p.startsWith(" ") : !p.startsWith(" "))));
    }
    assert.deepEqual([...textPieces("abcdef,ghij", "keep", 8)], ["abcdef", ",ghij"]);
    assert.deepEqual([...textPieces("a".repeat(10), "keep", 4)], ["aaaa", "aaaa", "aa"]);
    // A surrogate pair is never split.
    const emoji = "😀".repeat(5);
    const cut = [...textPieces(emoji, "keep", 3)];
    assert.equal(cut.join(""), emoji);
    assert.ok(cut.every((p) => !/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/.test(p)));
    assert.deepEqual([...textPieces("short", "keep")], ["short"]);
  });
});

describe("countClientTokens", { timeout: 60_000 }, () => {
  test("byte-level BPE (Llama 3): long ordinary text counts exactly as it does whole", async () => {
    const tok = await resolveTokenizer({ model: "llm-bench/tiny-llama" });
    assert.equal(cutStyleOf(tok), "keep");
    const text = prose(40_000);
    const w = watched(tok);
    const r = record(text);
    await countClientTokens([r], w.tok, { keepOutputIds: true });
    const whole = tok.encode(text, { addSpecialTokens: false });
    assert.equal(r.clientOutputTokens, whole.length);
    assert.equal(r.numOutputTokens, whole.length);
    assert.deepEqual(r.outputIds, whole);
    assert.equal(r.outputText, undefined);
    assert.ok(w.longest() <= PIECE_CHARS);
  });

  test("a word-marker tokenizer (SentencePiece-style ▁): spaces are dropped at cuts, counts stay exact", async () => {
    const dir = await mkdtemp(join(tmpdir(), "llm-bench-count-"));
    try {
      const chars = [..."abcdefghijklmnopqrstuvwxyz.,"];
      const vocab: Record<string, number> = { "<unk>": 0, "▁": 1 };
      for (const c of chars) vocab[c] = Object.keys(vocab).length;
      const merges: string[] = [];
      for (const c of "abcdefghijklmnopqrstuvwxyz") {
        merges.push(`▁ ${c}`);
        vocab[`▁${c}`] = Object.keys(vocab).length;
      }
      merges.push("▁ ▁");
      vocab["▁▁"] = Object.keys(vocab).length;
      const json = {
        version: "1.0",
        added_tokens: [{ id: 0, content: "<unk>", special: true }],
        normalizer: {
          type: "Sequence",
          normalizers: [
            { type: "Prepend", prepend: "▁" },
            { type: "Replace", pattern: { String: " " }, content: "▁" },
          ],
        },
        pre_tokenizer: null,
        post_processor: null,
        model: { type: "BPE", vocab, merges, unk_token: "<unk>", fuse_unk: true, byte_fallback: false },
        decoder: { type: "Replace", pattern: { String: "▁" }, content: " " },
      };
      const path = join(dir, "tokenizer.json");
      await writeFile(path, JSON.stringify(json));
      const tok = await loadTokenizerFromFiles(path);
      assert.equal(cutStyleOf(tok), "drop");
      const words = ["ab", "cd", "efg", "hij.", "k,"];
      let text = "";
      for (let k = 0; text.length < 12_000; k++) text += `${words[k % words.length]} `;
      text = text.trimEnd();
      const r = record(text);
      await countClientTokens([r], tok, { keepOutputIds: false });
      assert.equal(r.clientOutputTokens, tok.encode(text, { addSpecialTokens: false }).length);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("a hostile one-word output reaches the tokenizer in bounded pieces; Ctrl-C stops the count", async () => {
    const tok = await resolveTokenizer({ model: "llm-bench/tiny-llama" });
    const w = watched(tok);
    // Without pieces and yields, this is one multi-second, ~200 MB tokenizer call that no signal interrupts.
    const records = Array.from({ length: 4 }, () => record("z".repeat(200_000)));
    records.push(record("the end", { serverOutputTokens: 2 }));
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 0);
    const out = await countClientTokens(records, w.tok, { keepOutputIds: false, signal: abort.signal });
    assert.equal(out.interrupted, true);
    assert.ok(w.longest() <= PIECE_CHARS);
    // Records not counted: those without a server count have no known length; text is released either way.
    assert.deepEqual(out.unknownLength, records.slice(0, 4));
    assert.ok(records.every((r) => r.outputText === undefined && r.clientOutputTokens === undefined));
  });
});
