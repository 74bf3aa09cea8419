/**
 * `tokenizer.ggml.*` keys from a HF "fast" tokenizer (tokenizer.json + tokenizer_config.json).
 * Byte-level BPE tokenizers (GPT-2, Llama 3, Falcon, ...) map to llama.cpp's "gpt2" model.
 */
import { readFile } from "node:fs/promises";
import { ConfigError, UnsupportedError } from "../../../errors.ts";
import { TOKEN_TYPE } from "./constants.ts";
import type { GgufKv } from "./writer.ts";

/** The split regex of the Llama-3 tokenizer; llama.cpp calls that pre-tokenizer "llama-bpe". */
export const LLAMA3_SPLIT_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

type Json = Record<string, unknown>;

export interface TokenizerMetadata {
  kvs: GgufKv[];
  /** Entries in tokenizer.ggml.tokens (= the model's vocab size). */
  tokenCount: number;
  pre: string;
  bosId: number | undefined;
  eosId: number | undefined;
}

async function readJson(path: string): Promise<Json> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read tokenizer file: ${(err as Error).message}`, path, { cause: err });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`invalid JSON: ${(err as Error).message}`, path, { cause: err });
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new ConfigError("expected a JSON object", path);
  return v as Json;
}

function asObject(v: unknown): Json | undefined {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Json) : undefined;
}

/** The pre-tokenizer list, flattening a `Sequence`. */
function preTokenizers(tj: Json): Json[] {
  const p = asObject(tj["pre_tokenizer"]);
  if (!p) return [];
  if (p["type"] === "Sequence" && Array.isArray(p["pretokenizers"])) {
    return (p["pretokenizers"] as unknown[]).map(asObject).filter((x): x is Json => x !== undefined);
  }
  return [p];
}

function isByteLevel(tj: Json): boolean {
  return (
    preTokenizers(tj).some((p) => p["type"] === "ByteLevel") ||
    asObject(tj["decoder"])?.["type"] === "ByteLevel"
  );
}

/** llama.cpp pre-tokenizer name: "llama-bpe" for the Llama-3 split, "gpt-2" for plain GPT-2 byte-level. */
export function detectPre(tj: Json): string {
  const pts = preTokenizers(tj);
  const regexes = pts
    .filter((p) => p["type"] === "Split")
    .map((p) => asObject(p["pattern"])?.["Regex"])
    .filter((r): r is string => typeof r === "string");
  if (regexes.length === 1 && regexes[0] === LLAMA3_SPLIT_REGEX) return "llama-bpe";
  if (pts.length === 1 && pts[0]!["type"] === "ByteLevel" && pts[0]!["use_regex"] !== false) return "gpt-2";
  return "default";
}

/** `bos_token` etc. in tokenizer_config.json is either a string or an AddedToken object. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  const o = asObject(v);
  return typeof o?.["content"] === "string" ? o["content"] : undefined;
}

function chatTemplate(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (Array.isArray(v)) {
    const named = v.map(asObject).filter((x): x is Json => x !== undefined);
    const def = named.find((t) => t["name"] === "default") ?? named[0];
    return typeof def?.["template"] === "string" ? def["template"] : undefined;
  }
  return undefined;
}

/** Whether the post-processor's single-sequence template starts with the given special token. */
function templateStartsWith(tj: Json, token: string): boolean | undefined {
  const pp = asObject(tj["post_processor"]);
  if (!pp) return undefined;
  const procs =
    pp["type"] === "Sequence" && Array.isArray(pp["processors"]) ? (pp["processors"] as unknown[]) : [pp];
  for (const p of procs.map(asObject)) {
    if (p?.["type"] !== "TemplateProcessing" || !Array.isArray(p["single"])) continue;
    const first = asObject(asObject(p["single"][0])?.["SpecialToken"]);
    return first?.["id"] === token;
  }
  return undefined;
}

export interface TokenizerMetadataOptions {
  tokenizerJsonPath: string;
  tokenizerConfigPath?: string | undefined;
  /** The model's vocab size: ids the tokenizer does not use become `[PADn]` (unused) entries. */
  vocabSize: number;
}

export async function buildTokenizerMetadata(opts: TokenizerMetadataOptions): Promise<TokenizerMetadata> {
  const file = opts.tokenizerJsonPath;
  const [tj, tc] = await Promise.all([
    readJson(file),
    opts.tokenizerConfigPath ? readJson(opts.tokenizerConfigPath) : Promise.resolve<Json>({}),
  ]);
  const model = asObject(tj["model"]);
  if (!model) throw new ConfigError("missing field `model`", file);
  if (model["type"] !== "BPE" || !isByteLevel(tj)) {
    throw new UnsupportedError(
      `${file}: only byte-level BPE tokenizers can be written to GGUF (model.type is ${String(model["type"])}${model["type"] === "BPE" ? ", not byte-level" : ""})`,
    );
  }
  const vocab = asObject(model["vocab"]);
  if (!vocab) throw new ConfigError("missing field `model.vocab`", file);
  const rawMerges = model["merges"];
  if (!Array.isArray(rawMerges)) throw new ConfigError("missing field `model.merges`", file);

  const n = opts.vocabSize;
  const tokens: (string | undefined)[] = new Array(n);
  const types = new Int32Array(n).fill(TOKEN_TYPE.NORMAL);
  const put = (text: string, id: unknown, field: string) => {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
      throw new ConfigError(`${field}: token ${JSON.stringify(text)} has invalid id ${String(id)}`, file);
    }
    if (id >= n) {
      throw new ConfigError(`${field}: token id ${id} does not fit the model's vocab_size ${n}`, file);
    }
    tokens[id] = text;
  };
  for (const [text, id] of Object.entries(vocab)) put(text, id, "model.vocab");
  const added = Array.isArray(tj["added_tokens"]) ? (tj["added_tokens"] as unknown[]) : [];
  for (const a of added.map(asObject)) {
    if (!a || typeof a["content"] !== "string") continue;
    put(a["content"], a["id"], "added_tokens");
    types[a["id"] as number] = a["special"] === true ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED;
  }
  const ids = new Map<string, number>();
  const list: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const t = tokens[i];
    if (t === undefined) {
      list[i] = `[PAD${i}]`;
      types[i] = TOKEN_TYPE.UNUSED;
    } else {
      list[i] = t;
      ids.set(t, i);
    }
  }

  const merges: string[] = new Array(rawMerges.length);
  for (let i = 0; i < rawMerges.length; i++) {
    const m = rawMerges[i];
    if (typeof m === "string") merges[i] = m;
    else if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") {
      merges[i] = `${m[0]} ${m[1]}`;
    } else throw new ConfigError(`model.merges[${i}]: expected "a b" or ["a", "b"]`, file);
  }

  const pre = detectPre(tj);
  const kvs: GgufKv[] = [
    { key: "tokenizer.ggml.model", type: "str", value: "gpt2" },
    { key: "tokenizer.ggml.pre", type: "str", value: pre },
    { key: "tokenizer.ggml.tokens", type: "str[]", value: list },
    { key: "tokenizer.ggml.token_type", type: "i32[]", value: types },
    { key: "tokenizer.ggml.merges", type: "str[]", value: merges },
  ];
  const cfgFile = opts.tokenizerConfigPath ?? file;
  const special = (field: string): number | undefined => {
    const text = tokenText(tc[field]);
    if (text === undefined) return undefined;
    const id = ids.get(text);
    if (id === undefined)
      throw new ConfigError(`${field} ${JSON.stringify(text)} is not in the vocabulary`, cfgFile);
    return id;
  };
  const bosId = special("bos_token");
  const eosId = special("eos_token");
  const padId = special("pad_token");
  const unkId = special("unk_token");
  if (bosId !== undefined) kvs.push({ key: "tokenizer.ggml.bos_token_id", type: "u32", value: bosId });
  if (eosId !== undefined) kvs.push({ key: "tokenizer.ggml.eos_token_id", type: "u32", value: eosId });
  if (padId !== undefined) kvs.push({ key: "tokenizer.ggml.padding_token_id", type: "u32", value: padId });
  if (unkId !== undefined) kvs.push({ key: "tokenizer.ggml.unknown_token_id", type: "u32", value: unkId });
  const bosText = tokenText(tc["bos_token"]);
  const addBos =
    typeof tc["add_bos_token"] === "boolean"
      ? tc["add_bos_token"]
      : bosText !== undefined
        ? templateStartsWith(tj, bosText)
        : undefined;
  if (addBos !== undefined) kvs.push({ key: "tokenizer.ggml.add_bos_token", type: "bool", value: addBos });
  if (typeof tc["add_eos_token"] === "boolean") {
    kvs.push({ key: "tokenizer.ggml.add_eos_token", type: "bool", value: tc["add_eos_token"] });
  }
  const template = chatTemplate(tc["chat_template"]);
  if (template !== undefined) kvs.push({ key: "tokenizer.chat_template", type: "str", value: template });
  return { kvs, tokenCount: n, pre, bosId, eosId };
}
