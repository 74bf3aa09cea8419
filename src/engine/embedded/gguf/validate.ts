/**
 * Checks a GGUF's hyper-parameters before llama.cpp sees them. llama.cpp validates many of them with
 * GGML_ASSERT, which aborts the whole process (exit 134, no message a user can act on): a zero head count or
 * feed-forward length (a tensor dimension of 0), a layer count outside 1..512, inconsistent expert counts. Each
 * check here names the file and the key. Only invariants llama.cpp itself requires are checked, so any GGUF it
 * can load passes; state-space and RWKV architectures, which have no attention heads, skip the head checks.
 */
import { EngineError } from "../../../errors.ts";

/** llama.cpp's LLAMA_MAX_LAYERS (asserted: n_layer_all > 0 && n_layer_all <= LLAMA_MAX_LAYERS). */
export const LLAMA_MAX_LAYERS = 512;
/** llama.cpp's LLAMA_MAX_EXPERTS (asserted: n_expert <= LLAMA_MAX_EXPERTS). */
export const LLAMA_MAX_EXPERTS = 512;

/** Architectures without attention heads in every layer (their head counts may be 0). */
const RECURRENT = /^(mamba|rwkv|arwkv)/;
/** Architectures whose graph asserts head size == rope dimensions and key size == value size. */
const FULL_ROPE = new Set(["llama", "falcon", "deci"]);
/** Architectures llm-bench writes: their feed-forward length is a tensor dimension, so it must be there. */
const FFN_REQUIRED = new Set(["llama", "falcon", "gptj"]);

export interface GgufFacts {
  /** Nested metadata as node-llama-cpp's readGgufFileInfo returns it (`{ llama: { block_count } }`). */
  metadata: unknown;
  /** Tensor names and dimensions, when read. */
  tensors?: ReadonlyArray<{ name: string; dimensions: readonly (number | bigint)[] }> | undefined;
}

export interface GgufProblem {
  key: string;
  message: string;
}

function lookup(meta: unknown, key: string): unknown {
  let v: unknown = meta;
  for (const part of key.split(".")) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

function num(v: unknown): number | undefined {
  if (typeof v === "bigint") return Number(v);
  return typeof v === "number" ? v : undefined;
}

function show(v: unknown): string {
  if (Array.isArray(v)) return `[${v.slice(0, 8).map(show).join(", ")}${v.length > 8 ? ", …" : ""}]`;
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return String(v);
}

/** The first problem llama.cpp would abort (or fail) on, or undefined when the hyper-parameters are sound. */
export function findGgufProblem(facts: GgufFacts): GgufProblem | undefined {
  const meta = facts.metadata;
  const arch = lookup(meta, "general.architecture");
  const problem = (k: string, value: unknown, why: string): GgufProblem => ({
    key: k,
    message: `${k} = ${show(value)}: ${why}`,
  });
  if (typeof arch !== "string" || arch === "") {
    return problem("general.architecture", arch, "must name the architecture");
  }
  const key = (k: string) => `${arch}.${k}`;

  const layersRaw = lookup(meta, key("block_count"));
  const layers = num(layersRaw);
  if (layers === undefined || !Number.isInteger(layers) || layers < 1 || layers > LLAMA_MAX_LAYERS) {
    return problem(
      key("block_count"),
      layersRaw,
      `the layer count must be an integer in 1..${LLAMA_MAX_LAYERS}`,
    );
  }
  const embdRaw = lookup(meta, key("embedding_length"));
  const embd = num(embdRaw);
  if (embd === undefined || !Number.isInteger(embd) || embd < 1) {
    return problem(key("embedding_length"), embdRaw, "the hidden size must be a positive integer");
  }

  /** A scalar or one value per layer, as llama.cpp's get_key_or_arr reads it; a string reason when malformed. */
  const perLayer = (raw: unknown): number[] | string => {
    if (Array.isArray(raw)) {
      if (raw.length !== layers) return `has ${raw.length} entries for ${layers} layers`;
      const out = raw.map(num);
      if (out.some((x) => x === undefined || !Number.isInteger(x) || x < 0))
        return "must hold non-negative integers";
      return out as number[];
    }
    const v = num(raw);
    if (v === undefined || !Number.isInteger(v) || v < 0) return "must be a non-negative integer";
    return new Array<number>(layers).fill(v);
  };

  const expertsRaw = lookup(meta, key("expert_count"));
  const usedRaw = lookup(meta, key("expert_used_count"));
  const experts = num(expertsRaw) ?? 0;
  const used = num(usedRaw) ?? 0;
  if (!Number.isInteger(experts) || experts < 0 || experts > LLAMA_MAX_EXPERTS) {
    return problem(
      key("expert_count"),
      expertsRaw,
      `the expert count must be an integer in 0..${LLAMA_MAX_EXPERTS}`,
    );
  }
  if (experts > 0 && !(Number.isInteger(used) && used >= 1 && used <= experts)) {
    return problem(key("expert_used_count"), usedRaw, `must be between 1 and expert_count (${experts})`);
  }
  if (experts === 0 && used !== 0) {
    return problem(
      key("expert_used_count"),
      usedRaw,
      "must be 0 without experts (expert_count is 0 or absent)",
    );
  }

  const ffRaw = lookup(meta, key("feed_forward_length"));
  if (ffRaw === undefined) {
    if (FFN_REQUIRED.has(arch))
      return problem(key("feed_forward_length"), ffRaw, "required for this architecture");
  } else {
    const ff = perLayer(ffRaw);
    if (typeof ff === "string") return problem(key("feed_forward_length"), ffRaw, ff);
    // MoE models may give the dense size as 0 (their experts have their own length).
    if (experts === 0 && ff.some((x) => x < 1)) {
      return problem(
        key("feed_forward_length"),
        ffRaw,
        "the feed-forward size is a tensor dimension: it must be ≥ 1",
      );
    }
  }

  if (!RECURRENT.test(arch)) {
    const headsRaw = lookup(meta, key("attention.head_count"));
    if (headsRaw === undefined) return problem(key("attention.head_count"), headsRaw, "required");
    const heads = perLayer(headsRaw);
    if (typeof heads === "string") return problem(key("attention.head_count"), headsRaw, heads);
    // Per-layer arrays of hybrid models hold 0 for their recurrent layers; a scalar applies to every layer.
    if (heads.every((h) => h === 0)) {
      return problem(key("attention.head_count"), headsRaw, "an attention model needs at least one head");
    }
    const kvRaw = lookup(meta, key("attention.head_count_kv"));
    const kv = kvRaw === undefined ? heads : perLayer(kvRaw);
    if (typeof kv === "string") return problem(key("attention.head_count_kv"), kvRaw, kv);
    for (let i = 0; i < layers; i++) {
      if (heads[i]! === 0) continue;
      if (kv[i]! < 1 || heads[i]! % kv[i]! !== 0) {
        return problem(
          key("attention.head_count_kv"),
          kvRaw,
          `layer ${i}: ${heads[i]} query heads need a KV head count ≥ 1 that divides them`,
        );
      }
    }
    const h0 = heads[0]!;
    const kLenRaw = lookup(meta, key("attention.key_length"));
    const vLenRaw = lookup(meta, key("attention.value_length"));
    for (const [k, raw] of [
      ["attention.key_length", kLenRaw],
      ["attention.value_length", vLenRaw],
    ] as const) {
      const v = num(raw);
      if (raw !== undefined && (v === undefined || !Number.isInteger(v) || v < 1)) {
        return problem(key(k), raw, "the head size must be a positive integer");
      }
    }
    // llama.cpp derives the head size as embedding_length / head_count when key_length is absent.
    if (kLenRaw === undefined && h0 > 0 && embd % h0 !== 0) {
      return problem(
        key("attention.head_count"),
        headsRaw,
        `embedding_length ${embd} is not divisible by it (and no attention.key_length gives the head size)`,
      );
    }
    const headK = num(kLenRaw) ?? (h0 > 0 ? embd / h0 : undefined);
    const headV = num(vLenRaw) ?? (h0 > 0 ? embd / h0 : undefined);
    if (FULL_ROPE.has(arch) && headK !== headV) {
      return problem(
        key("attention.value_length"),
        vLenRaw,
        `must equal the key head size ${headK} for ${arch}`,
      );
    }
    const ropeRaw = lookup(meta, key("rope.dimension_count"));
    if (ropeRaw !== undefined && headK !== undefined) {
      const rope = num(ropeRaw);
      const ok = FULL_ROPE.has(arch)
        ? rope === headK
        : rope !== undefined && Number.isInteger(rope) && rope >= 1 && rope <= headK;
      if (!ok) {
        return problem(
          key("rope.dimension_count"),
          ropeRaw,
          FULL_ROPE.has(arch)
            ? `must equal the head size ${headK} for ${arch}`
            : `must be in 1..${headK} (the head size)`,
        );
      }
    }
  }

  const model = lookup(meta, "tokenizer.ggml.model");
  const tokens = lookup(meta, "tokenizer.ggml.tokens");
  if (model !== "none" && (!Array.isArray(tokens) || tokens.length === 0)) {
    return problem(
      "tokenizer.ggml.tokens",
      Array.isArray(tokens) ? "[]" : tokens,
      "the vocabulary must not be empty",
    );
  }
  const vocabRaw = lookup(meta, key("vocab_size"));
  const vocab = num(vocabRaw);
  if (vocabRaw !== undefined && (vocab === undefined || !Number.isInteger(vocab) || vocab < 1)) {
    return problem(key("vocab_size"), vocabRaw, "the vocabulary size must be a positive integer");
  }

  for (const t of facts.tensors ?? []) {
    const dims = t.dimensions.map((d) => Number(d));
    if (dims.length < 1 || dims.length > 4 || dims.some((d) => !Number.isInteger(d) || d < 1)) {
      return {
        key: t.name,
        message: `tensor ${t.name} has dimensions [${dims.join(", ")}]: each must be ≥ 1, at most 4 of them`,
      };
    }
  }
  return undefined;
}

/**
 * Reads the GGUF's header (metadata and tensor shapes, not the weights) and throws an EngineError naming the file
 * and key when llama.cpp could not load it safely.
 */
export async function validateGgufFile(file: string): Promise<void> {
  const { readGgufFileInfo } = await import("node-llama-cpp");
  let info: Awaited<ReturnType<typeof readGgufFileInfo>>;
  try {
    info = await readGgufFileInfo(file, {
      sourceType: "filesystem",
      logWarnings: false,
      // Large and unneeded here; tokenizer.ggml.tokens is read (its length is the vocabulary).
      ignoreKeys: ["tokenizer.ggml.merges", "tokenizer.ggml.token_type", "tokenizer.ggml.scores"],
    });
  } catch (err) {
    throw new EngineError(`${file}: not a readable GGUF file: ${(err as Error).message}`, { cause: err });
  }
  const p = findGgufProblem({ metadata: info.metadata, tensors: info.fullTensorInfo ?? info.tensorInfo });
  if (p) throw new EngineError(`${file}: ${p.message} (llama.cpp cannot load this model)`);
}
