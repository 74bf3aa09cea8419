/**
 * Finds the tokenizer for a run: an explicit tokenizer, `--model_path`, the npm-bundled Llama-3 tokenizer,
 * the local Hugging Face cache, and only then a Hub download.
 */
import { stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { ConfigError } from "../errors.ts";
import { log } from "../util/log.ts";
import { cachedOrDownloaded, type HubFile, snapshotDir } from "./hf-hub.ts";
import { loadTokenizerFromFiles } from "./hf-tokenizer.ts";
import { bundledTokenizerFor } from "./known-models.ts";
import type { Tokenizer } from "./tokenizer.ts";

export interface ResolveTokenizerOptions {
  model: string;
  modelPath?: string | undefined;
  /** A tokenizer directory, a tokenizer.json file, or a model name to take the tokenizer from. */
  tokenizer?: string | undefined;
  revision?: string | undefined;
}

const TOKENIZER_FILES: readonly HubFile[] = [
  { name: "tokenizer.json" },
  { name: "tokenizer_config.json", optional: true },
];

async function kind(path: string): Promise<"file" | "dir" | undefined> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? "dir" : s.isFile() ? "file" : undefined;
  } catch {
    return undefined;
  }
}

/** tokenizer.json in `dir` plus tokenizer_config.json when present. */
async function loadFromDir(dir: string, source?: string): Promise<Tokenizer | undefined> {
  const json = join(dir, "tokenizer.json");
  if ((await kind(json)) !== "file") return undefined;
  const config = join(dir, "tokenizer_config.json");
  const hasConfig = (await kind(config)) === "file";
  if (!hasConfig) log.warn(`${dir} has no tokenizer_config.json: BOS/EOS ids are unknown`);
  return loadTokenizerFromFiles(json, hasConfig ? config : undefined, source === undefined ? {} : { source });
}

/** A local path: a tokenizer directory, a tokenizer.json file, or a `models--org--name` cache folder. */
async function loadFromPath(path: string, revision: string | undefined): Promise<Tokenizer | undefined> {
  const k = await kind(path);
  if (k === "file") {
    if (!path.endsWith(".json")) return undefined;
    const config = join(dirname(path), "tokenizer_config.json");
    return loadTokenizerFromFiles(path, (await kind(config)) === "file" ? config : undefined);
  }
  if (k !== "dir") return undefined;
  const direct = await loadFromDir(path);
  if (direct) return direct;
  if (basename(path).startsWith("models--")) {
    const snap = await snapshotDir(path, revision ?? "main");
    if (snap) return loadFromDir(snap);
  }
  return undefined;
}

/** Bundled package, then the HF cache, then the Hub. */
async function loadByName(name: string, revision: string | undefined): Promise<Tokenizer> {
  const bundled = bundledTokenizerFor(name);
  if (bundled) {
    log.verbose(`Using the bundled Llama-3 tokenizer (${bundled.source}) for ${name}`);
    return loadTokenizerFromFiles(bundled.tokenizerJson, bundled.tokenizerConfig, {
      source: bundled.source,
      ...(bundled.eosToken === undefined ? {} : { eosToken: bundled.eosToken }),
    });
  }
  const dir = await cachedOrDownloaded(name, revision, TOKENIZER_FILES, "tokenizer");
  const tok = await loadFromDir(dir);
  if (!tok) throw new ConfigError("tokenizer.json is missing from the snapshot", dir);
  return tok;
}

export async function resolveTokenizer(opts: ResolveTokenizerOptions): Promise<Tokenizer> {
  if (opts.tokenizer !== undefined) {
    const local = await loadFromPath(resolve(opts.tokenizer), opts.revision);
    if (local) return local;
    if ((await kind(resolve(opts.tokenizer))) !== undefined) {
      throw new ConfigError(
        "no tokenizer.json here (a tokenizer directory needs tokenizer.json)",
        opts.tokenizer,
      );
    }
    return loadByName(opts.tokenizer, opts.revision);
  }
  if (opts.modelPath !== undefined) {
    const path = resolve(opts.modelPath);
    if ((await kind(path)) === undefined)
      throw new ConfigError("--model_path does not exist", opts.modelPath);
    const local = await loadFromPath(path, opts.revision);
    if (local) return local;
    // A GGUF file or a weights-only folder: the tokenizer still comes from the model name.
    log.verbose(`No tokenizer.json under ${opts.modelPath}; looking up ${opts.model}'s tokenizer instead`);
  }
  return loadByName(opts.model, opts.revision);
}
