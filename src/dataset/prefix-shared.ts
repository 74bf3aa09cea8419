/**
 * A prefix-caching workload: `numGroups` random prefixes of `prefixLen` tokens, each shared by
 * `promptsPerGroup` prompts that add a unique random suffix. Token ids follow trtllm-bench's rules
 * (sampled without repeats from the base vocabulary, EOS scrubbed); suffix and output lengths follow
 * `token-norm-dist`'s rules. The order of the lines decides how soon a prefix is reused under concurrency.
 */
import { UsageError } from "../errors.ts";
import { log } from "../util/log.ts";
import type { GenerateContext, GenerateResult, PromptMode } from "./prepare.ts";
import { PythonRandom } from "./rng/python-random.ts";
import {
  checkCount,
  eosIdsOf,
  legacySeed,
  MAX_INPUT_TOKENS,
  MAX_OUTPUT_TOKENS,
  normDistLengths,
  sampleTokenIds,
  scrubEos,
} from "./synthetic.ts";
import { type TextPrefix, TextPromptBuilder } from "./text-prompts.ts";

/** Prefix tokens held at once (4 bytes each). */
export const MAX_PREFIX_TOKENS = 2 ** 26;

export const PREFIX_ORDERS = ["grouped", "interleaved", "random"] as const;
export type PrefixOrder = (typeof PREFIX_ORDERS)[number];

export interface PrefixSharedSpec {
  kind: "prefix-shared";
  numGroups: number;
  promptsPerGroup: number;
  prefixLen: number;
  suffixMean: number;
  suffixStdev: number;
  outputMean: number;
  outputStdev: number;
  /** grouped: a group's prompts back to back; interleaved: round-robin over groups; random: seeded shuffle. */
  order: PrefixOrder;
  promptMode?: PromptMode;
}

/** Group index of every line, in output order. */
export function groupOrder(
  numGroups: number,
  perGroup: number,
  order: PrefixOrder,
  seed: number | bigint,
): Int32Array {
  const n = numGroups * perGroup;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = order === "interleaved" ? i % numGroups : Math.floor(i / perGroup);
  if (order === "random") {
    // CPython's `random.shuffle` on its own stream, so the token stream does not depend on the order.
    const rng = new PythonRandom(BigInt(seed) + (0x6f72646572n << 32n));
    for (let i = n - 1; i > 0; i--) {
      const j = rng.randbelow(i + 1);
      const t = out[i]!;
      out[i] = out[j]!;
      out[j] = t;
    }
  }
  return out;
}

function positive(name: string, v: number, min = 1): void {
  if (!Number.isInteger(v) || v < min) throw new UsageError(`${name} must be an integer ≥ ${min} (got ${v})`);
}

export async function generatePrefixShared(
  spec: PrefixSharedSpec,
  ctx: GenerateContext,
): Promise<GenerateResult> {
  positive("--num-groups", spec.numGroups);
  positive("--prompts-per-group", spec.promptsPerGroup);
  positive("--prefix-len", spec.prefixLen);
  if (spec.suffixStdev < 0 || spec.outputStdev < 0)
    throw new UsageError("--suffix-stdev/--output-stdev must be ≥ 0");
  const n = spec.numGroups * spec.promptsPerGroup;
  checkCount(n, "--num-groups × --prompts-per-group");
  if (spec.prefixLen >= MAX_INPUT_TOKENS) {
    throw new UsageError(
      `--prefix-len ${spec.prefixLen}: prompts are at most ${MAX_INPUT_TOKENS} tokens, suffix included`,
    );
  }
  // Every prefix is held while the prompts are written.
  if (spec.numGroups * spec.prefixLen > MAX_PREFIX_TOKENS) {
    throw new UsageError(
      `--num-groups × --prefix-len = ${spec.numGroups * spec.prefixLen} tokens; llm-bench holds at most ${MAX_PREFIX_TOKENS} prefix tokens`,
    );
  }
  const { tokenizer, writer } = ctx;
  const seed = legacySeed(ctx.seed, "prefix-shared");
  const vocab = tokenizer.vocabSize;
  const eos = eosIdsOf(tokenizer);
  const suffixLens = normDistLengths(spec.suffixMean, spec.suffixStdev, n, seed, {
    max: MAX_INPUT_TOKENS - spec.prefixLen,
    what: "suffix tokens",
    options: "--suffix-mean/--suffix-stdev",
  });
  const osl = normDistLengths(spec.outputMean, spec.outputStdev, n, seed, {
    max: MAX_OUTPUT_TOKENS,
    what: "output tokens",
    options: "--output-mean/--output-stdev",
  });
  const groups = groupOrder(spec.numGroups, spec.promptsPerGroup, spec.order, seed);

  const rng = new PythonRandom(seed);
  const P = spec.prefixLen;
  const prefixes: Int32Array[] = [];
  for (let g = 0; g < spec.numGroups; g++) {
    const p = new Int32Array(P);
    sampleTokenIds(rng, P, vocab, p);
    scrubEos(p, P, eos, vocab);
    prefixes.push(p);
  }

  const text =
    spec.promptMode === "text" ? new TextPromptBuilder(tokenizer, { seed, eosIds: eos }) : undefined;
  const textPrefixes: TextPrefix[] = [];
  if (text) {
    for (const p of prefixes) {
      const t = text.build(p, P);
      textPrefixes.push({ text: t, ids: tokenizer.encode(t, { addSpecialTokens: false }) });
    }
  }

  // Task ids come from their own stream: this workload has no trtllm-bench counterpart to match.
  const taskRng = new PythonRandom(BigInt(seed) + (0x6c6f7261n << 32n));
  const plan = ctx.lora;
  const maxSuffix = suffixLens.reduce((a, b) => Math.max(a, b), 1);
  const ids = new Int32Array(P + maxSuffix);
  const isl = suffixLens.map((s) => P + s);
  await writer.begin({ isl, osl });
  for (let i = 0; i < n; i++) {
    const g = groups[i]!;
    const s = suffixLens[i]!;
    const suffix = ids.subarray(P, P + s);
    sampleTokenIds(rng, s, vocab, suffix);
    scrubEos(suffix, s, eos, vocab);
    const taskId = plan.drawTaskId(taskRng);
    const lora = plan.loraFor(taskId);
    if (text) {
      const prefix = textPrefixes[g]!;
      await writer.writePrompt(i, prefix.text + text.build(suffix, s, prefix), osl[i]!, lora, taskId);
      if ((i & 63) === 63) await ctx.yieldNow();
    } else {
      ids.set(prefixes[g]!, 0);
      await writer.writeIds(i, ids, P + s, osl[i]!, lora, taskId);
    }
  }
  log.info(
    `Prefix-shared workload: ${spec.numGroups} groups × ${spec.promptsPerGroup} prompts, ` +
      `shared prefix ${P} tokens, order ${spec.order}`,
  );
  return { isl, osl, textStats: text?.stats() };
}
