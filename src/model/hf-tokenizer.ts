/**
 * The `Tokenizer` interface on top of `@huggingface/tokenizers` (pure JS, offline), loaded from a
 * `tokenizer.json` and an optional `tokenizer_config.json`.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { ConfigError } from "../errors.ts";
import { log } from "../util/log.ts";
import { charsPerToken } from "./token-bound.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** Overrides for tokenizers whose shipped config does not match the model (e.g. a base model's EOS). */
export interface TokenizerLoadOptions {
  /** Shown in logs and errors instead of the file's directory. */
  source?: string;
  /** Token string to use as EOS instead of tokenizer_config.json's `eos_token`. */
  eosToken?: string;
}

interface LoadedFiles {
  hf: HfTokenizer;
  vocabSize: number;
  totalVocabSize: number;
  specialIds: ReadonlySet<number>;
  config: Record<string, unknown>;
  maxCharsPerToken: number | undefined;
}

/** Loading the 9 MB Llama-3 file costs about a second, so each file pair is parsed once per process. */
const cache = new Map<string, Promise<LoadedFiles>>();

/** Forget cached tokenizers (tests). */
export function clearTokenizerCache(): void {
  cache.clear();
}

export async function loadTokenizerFromFiles(
  tokenizerJsonPath: string,
  tokenizerConfigPath?: string,
  options: TokenizerLoadOptions = {},
): Promise<Tokenizer> {
  const jsonPath = resolve(tokenizerJsonPath);
  const configPath = tokenizerConfigPath === undefined ? undefined : resolve(tokenizerConfigPath);
  const key = `${jsonPath}\0${configPath ?? ""}`;
  let pending = cache.get(key);
  if (!pending) {
    pending = loadFiles(jsonPath, configPath);
    cache.set(key, pending);
    // A failed load must not poison the cache: the user may fix the file and retry in-process.
    pending.catch(() => cache.delete(key));
  }
  const loaded = await pending;
  return new HfBackedTokenizer(loaded, options.source ?? jsonPath, jsonPath, configPath, options.eosToken);
}

async function readJsonObject(path: string, what: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read ${what}: ${(err as Error).message}`, path, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`invalid JSON: ${(err as Error).message}`, path, { cause: err });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`${what} must be a JSON object`, path);
  }
  return parsed as Record<string, unknown>;
}

/** HF `vocab_size` is the model's own vocabulary: an object (BPE/WordPiece/WordLevel) or an array (Unigram). */
function baseVocab(json: Record<string, unknown>, file: string): { size: number; ids: Iterable<number> } {
  const model = json.model as Record<string, unknown> | undefined;
  const vocab = model?.vocab;
  if (Array.isArray(vocab)) return { size: vocab.length, ids: vocab.keys() };
  if (typeof vocab === "object" && vocab !== null) {
    const ids = Object.values(vocab as Record<string, unknown>).filter(
      (v): v is number => typeof v === "number",
    );
    return { size: ids.length, ids };
  }
  throw new ConfigError("field model.vocab: missing or not an object/array", file);
}

async function loadFiles(jsonPath: string, configPath: string | undefined): Promise<LoadedFiles> {
  const started = performance.now();
  const [json, config] = await Promise.all([
    readJsonObject(jsonPath, "tokenizer.json"),
    configPath === undefined ? Promise.resolve({}) : readJsonObject(configPath, "tokenizer_config.json"),
  ]);
  const addedRaw = json.added_tokens;
  if (addedRaw !== undefined && !Array.isArray(addedRaw)) {
    throw new ConfigError("field added_tokens: must be an array", jsonPath);
  }
  const added = (addedRaw ?? []) as { id?: unknown; special?: unknown }[];
  const base = baseVocab(json, jsonPath);
  const allIds = new Set<number>(base.ids);
  const specialIds = new Set<number>();
  for (const [i, t] of added.entries()) {
    if (typeof t?.id !== "number" || !Number.isInteger(t.id)) {
      throw new ConfigError(`field added_tokens[${i}].id: must be an integer`, jsonPath);
    }
    allIds.add(t.id);
    if (t.special === true) specialIds.add(t.id);
  }
  let hf: HfTokenizer;
  try {
    // The library reads `added_tokens` but tolerates its absence only partially; give it an array.
    hf = new HfTokenizer({ ...json, added_tokens: added }, config);
  } catch (err) {
    throw new ConfigError(`unsupported tokenizer: ${(err as Error).message}`, jsonPath, { cause: err });
  }
  const perToken = charsPerToken(json, config);
  log.debug(
    `Loaded tokenizer ${jsonPath} in ${(performance.now() - started).toFixed(0)} ms; ` +
      ("bound" in perToken
        ? `one token covers at most ${perToken.bound} characters`
        : `no bound on characters per token (${perToken.none})`),
  );
  return {
    hf,
    vocabSize: base.size,
    totalVocabSize: allIds.size,
    specialIds,
    config,
    maxCharsPerToken: "bound" in perToken ? perToken.bound : undefined,
  };
}

/** tokenizer_config.json stores special tokens as plain strings or as `{content: ...}` objects. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null) {
    const content = (value as { content?: unknown }).content;
    if (typeof content === "string") return content;
  }
  return undefined;
}

class HfBackedTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly totalVocabSize: number;
  readonly bosTokenId: number | undefined;
  readonly eosTokenId: number | undefined;
  readonly specialIds: ReadonlySet<number>;
  readonly maxCharsPerToken: number | undefined;
  readonly files: { tokenizerJson: string; tokenizerConfig: string | undefined };
  private readonly hf: HfTokenizer;

  constructor(
    loaded: LoadedFiles,
    readonly source: string,
    jsonPath: string,
    configPath: string | undefined,
    eosOverride: string | undefined,
  ) {
    this.hf = loaded.hf;
    this.vocabSize = loaded.vocabSize;
    this.totalVocabSize = loaded.totalVocabSize;
    this.specialIds = loaded.specialIds;
    this.maxCharsPerToken = loaded.maxCharsPerToken;
    this.files = { tokenizerJson: jsonPath, tokenizerConfig: configPath };
    this.bosTokenId = this.idOf(tokenContent(loaded.config.bos_token));
    this.eosTokenId = this.idOf(eosOverride ?? tokenContent(loaded.config.eos_token));
  }

  private idOf(token: string | undefined): number | undefined {
    return token === undefined ? undefined : this.hf.token_to_id(token);
  }

  encode(text: string, options?: { addSpecialTokens?: boolean }): number[] {
    return this.hf.encode(text, { add_special_tokens: options?.addSpecialTokens ?? true }).ids;
  }

  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string {
    // Filter by id here: the library's own skip compares token strings against a list for every token.
    const kept = options?.skipSpecialTokens ? ids.filter((id) => !this.specialIds.has(id)) : ids.slice();
    // The library throws on an empty array; an empty sequence decodes to nothing.
    if (kept.length === 0) return "";
    return this.hf.decode(kept, { clean_up_tokenization_spaces: false });
  }

  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }
}
