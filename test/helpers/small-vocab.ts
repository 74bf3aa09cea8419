/**
 * A Llama-3-style tokenizer cut down to its first ids (plus the special tokens the GGUF writer needs), for tests
 * that load models many times: llama.cpp and node-llama-cpp spend seconds per load on the full 128k-token
 * vocabulary and its 280k merges, and a few milliseconds on this one. Same pre-tokenizer, byte-level BPE.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { writeGguf } from "../../src/engine/embedded/gguf/index.ts";
import {
  LLAMA3_TOKENIZER_CONFIG,
  LLAMA3_TOKENIZER_JSON,
  tinyConfig,
} from "../../src/engine/embedded/gguf/test-support.ts";

type Json = Record<string, unknown>;

/** Writes tokenizer.json and tokenizer_config.json into `dir`; returns their paths and the vocab size. */
export async function writeSmallVocabTokenizer(
  dir: string,
  keep = 1000,
): Promise<{ tokenizerJson: string; tokenizerConfig: string; vocabSize: number }> {
  const tj = JSON.parse(await readFile(LLAMA3_TOKENIZER_JSON, "utf8")) as Json;
  const model = tj["model"] as { vocab: Record<string, number>; merges: unknown[] };
  const vocab: Record<string, number> = {};
  for (const [text, id] of Object.entries(model.vocab)) if (id < keep) vocab[text] = id;
  // A merge stays only when both parts and the merged token are kept.
  model.merges = model.merges.filter((m) => {
    const [a, b] = typeof m === "string" ? (m.split(" ") as [string, string]) : (m as [string, string]);
    return a in vocab && b in vocab && `${a}${b}` in vocab;
  });
  model.vocab = vocab;
  const specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"];
  tj["added_tokens"] = specials.map((content, i) => ({
    id: keep + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const tokenizerJson = join(dir, "tokenizer.json");
  const tokenizerConfig = join(dir, "tokenizer_config.json");
  await writeFile(tokenizerJson, JSON.stringify(tj));
  const tc = JSON.parse(await readFile(LLAMA3_TOKENIZER_CONFIG, "utf8")) as Json;
  delete tc["added_tokens_decoder"];
  delete tc["chat_template"];
  await writeFile(tokenizerConfig, JSON.stringify(tc));
  return { tokenizerJson, tokenizerConfig, vocabSize: keep + specials.length };
}

/**
 * A tiny dummy-weight F32 Llama GGUF on this small vocabulary (`tinyConfig`, whose embeddings are tied unless
 * said otherwise), written into `dir` as `name`; returns its path. Same seed, same weights.
 */
export async function writeTinyGguf(
  dir: string,
  name: string,
  opts: { seed?: number; contextLength: number; tieWordEmbeddings?: boolean },
): Promise<string> {
  const tok = await writeSmallVocabTokenizer(dir);
  const written = await writeGguf({
    config: tinyConfig({
      vocabSize: tok.vocabSize,
      ...(opts.tieWordEmbeddings !== undefined ? { tieWordEmbeddings: opts.tieWordEmbeddings } : {}),
    }),
    tokenizerJsonPath: tok.tokenizerJson,
    tokenizerConfigPath: tok.tokenizerConfig,
    weightType: "F32",
    source: { kind: "dummy", seed: opts.seed ?? 1 },
    contextLength: opts.contextLength,
    outPath: join(dir, name),
  });
  return written.path;
}
