/**
 * trtllm-bench's synthetic workloads (`token-norm-dist`, `token-unif-dist`), draw for draw:
 * lengths from numpy (re-seeded for ISL and again for OSL, so both come from the same stream), token ids from
 * CPython's `random` seeded once, LoRA task ids from that same `random` stream after all tokens (brief §2.4–2.5).
 */
import { UsageError } from "../errors.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import { log } from "../util/log.ts";
import { loraRequestFor } from "./jsonl-writer.ts";
import type { GenerateContext, GenerateResult, PromptMode, TaskIdOptions } from "./prepare.ts";
import { NumpyRandomState } from "./rng/numpy-legacy.ts";
import { NumpyGenerator } from "./rng/numpy-pcg64.ts";
import { PythonRandom } from "./rng/python-random.ts";
import { TextPromptBuilder } from "./text-prompts.ts";
import type { LoraRequest } from "./types.ts";

/**
 * llm-bench's limits on generated datasets. trtllm-bench has none: past them it runs out of memory or writes
 * lines no reader can hold (V8 strings end near 512 MiB; a prompt of 2^24 ids is a ~120 MB line). Anything
 * beyond them is refused with a usage error that names the limit.
 */
export const MAX_REQUESTS = 2 ** 24;
export const MAX_INPUT_TOKENS = 2 ** 24;
/** Output lengths are int32 everywhere downstream (engines' max_tokens, the OpenAI API). */
export const MAX_OUTPUT_TOKENS = 2 ** 31 - 1;

/** `--random-seed`: Python takes any integer; each generator's RNG has its own range (`legacySeed`, `pcgSeed`). */
export type Seed = number | bigint;

/** What a sampled length is, for the usage error when it passes its limit. */
export interface LengthBound {
  max: number;
  /** e.g. "input tokens", "output tokens". */
  what: string;
  /** The options that drew it, e.g. "--input-mean/--input-stdev". */
  options: string;
}

const ANY_LENGTH: LengthBound = { max: MAX_OUTPUT_TOKENS, what: "tokens", options: "the length options" };

/** numpy's `np.random.seed(seed)` (the normal-length draws) takes 0 ≤ seed ≤ 2**32 − 1, as a usage error. */
export function legacySeed(seed: Seed, generator: string): number {
  if (typeof seed === "number" && Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff) return seed;
  throw new UsageError(
    `--random-seed ${seed}: ${generator} seeds numpy's np.random.seed, which takes 0 ≤ seed ≤ 4294967295 (2**32 - 1)`,
  );
}

/** numpy's `default_rng(seed)` (the uniform-length draws) takes any integer ≥ 0. */
export function pcgSeed(seed: Seed, generator: string): Seed {
  if (seed >= 0) return seed;
  throw new UsageError(
    `--random-seed ${seed}: ${generator} seeds numpy's default_rng, which takes integers ≥ 0`,
  );
}

function tooLong(i: number, v: number, bound: LengthBound): UsageError {
  return new UsageError(
    `request ${i} draws ${v} ${bound.what} from ${bound.options}; llm-bench generates at most ${bound.max} ${bound.what} per request`,
  );
}

/** `get_norm_dist_lengths`: `np.random.seed(seed); normal(mean, stdev, n)`, each `max(1, ceil(x))`. */
export function normDistLengths(
  mean: number,
  stdev: number,
  n: number,
  seed: number,
  bound: LengthBound = ANY_LENGTH,
): Int32Array {
  if (!(stdev >= 0)) throw new UsageError(`${bound.options}: the standard deviation must be ≥ 0`);
  const rng = new NumpyRandomState(seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = Math.max(1, Math.ceil(mean + stdev * rng.gauss()));
    if (v > bound.max) throw tooLong(i, v, bound);
    out[i] = v;
  }
  return out;
}

/** `get_unif_dist_lengths`: `default_rng(seed).integers(min, max + 1, n)`, both bounds inclusive. */
export function unifDistLengths(
  min: number,
  max: number,
  n: number,
  seed: Seed,
  bound: LengthBound = ANY_LENGTH,
): Int32Array {
  if (max > bound.max) {
    throw new UsageError(
      `${bound.options}: a maximum of ${max} ${bound.what} exceeds llm-bench's limit of ${bound.max} per request`,
    );
  }
  return Int32Array.from(NumpyGenerator.defaultRng(seed).integers(min, max + 1, n));
}

/** trtllm-bench's `eos_id`: the EOS token encoded alone without special tokens, i.e. its id. */
export function eosIdsOf(tokenizer: Tokenizer): number[] {
  return tokenizer.eosTokenId === undefined ? [] : [tokenizer.eosTokenId];
}

/**
 * The EOS scrub: while every EOS id occurs in the prompt, replace each occurrence of the first one with
 * `(eos + 1) % vocabSize`. Returns whether anything changed. An EOS id outside [0, vocabSize) can never be
 * sampled, so the common case (EOS is an added token) costs nothing.
 */
export function scrubEos(
  ids: Int32Array,
  len: number,
  eosIds: readonly number[],
  vocabSize: number,
): boolean {
  const first = eosIds[0];
  if (first === undefined || eosIds.some((e) => e < 0 || e >= vocabSize)) return false;
  let changed = false;
  for (;;) {
    for (const e of eosIds) {
      let found = false;
      for (let i = 0; i < len; i++) {
        if (ids[i] === e) {
          found = true;
          break;
        }
      }
      if (!found) return changed;
    }
    const repl = (first + 1) % vocabSize;
    for (let i = 0; i < len; i++) if (ids[i] === first) ids[i] = repl;
    changed = true;
  }
}

/** One prompt of `gen_random_tokens`: `sample` without repeats when len < vocab, else `choices`. */
export function sampleTokenIds(rng: PythonRandom, len: number, vocabSize: number, out: Int32Array): void {
  if (len < vocabSize) rng.sampleRange(vocabSize, len, out);
  else rng.choicesRange(vocabSize, len, out);
}

/** Task ids and the LoRA fields (brief §2.3): a warning when task ids are set without `--lora-dir`. */
export class LoraPlan {
  readonly useTaskIds: boolean;
  readonly useLora: boolean;
  constructor(readonly opts: TaskIdOptions) {
    this.useTaskIds = opts.taskId !== -1 || opts.randTaskId !== undefined;
    this.useLora = this.useTaskIds && opts.loraDir !== undefined;
    if (opts.randTaskId && opts.randTaskId[0] > opts.randTaskId[1]) {
      throw new UsageError(
        `--rand-task-id: MIN (${opts.randTaskId[0]}) is larger than MAX (${opts.randTaskId[1]})`,
      );
    }
    if (this.useTaskIds && !this.useLora && !opts.recordTaskIds) {
      log.warn("Task IDs require LoRA directory. Use --lora-dir or omit task IDs.");
    }
  }
  /** Random task ids only matter when they are written. */
  get needsRandomIds(): boolean {
    return (this.useLora || this.opts.recordTaskIds === true) && this.opts.randTaskId !== undefined;
  }
  drawTaskId(rng: PythonRandom): number {
    const r = this.opts.randTaskId;
    return r ? rng.randint(r[0], r[1]) : this.opts.taskId;
  }
  loraFor(taskId: number): LoraRequest | undefined {
    if (!this.useLora || taskId === -1 || this.opts.loraDir === undefined) return undefined;
    return loraRequestFor(this.opts.loraDir, taskId);
  }
}

export interface NormDistSpec {
  kind: "token-norm-dist";
  numRequests: number;
  inputMean: number;
  inputStdev: number;
  outputMean: number;
  outputStdev: number;
  promptMode?: PromptMode;
}

export interface UnifDistSpec {
  kind: "token-unif-dist";
  numRequests: number;
  inputMin: number;
  inputMax: number;
  outputMin: number;
  outputMax: number;
  promptMode?: PromptMode;
}

/** The number of requests a generator writes: at least 1, at most MAX_REQUESTS. */
export function checkCount(n: number, option = "--num-requests"): void {
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${option} must be a positive integer (got ${n})`);
  if (n > MAX_REQUESTS) {
    throw new UsageError(`${option} ${n}: llm-bench generates at most ${MAX_REQUESTS} requests per dataset`);
  }
}

export function syntheticLengths(
  spec: NormDistSpec | UnifDistSpec,
  seed: Seed,
): { isl: Int32Array; osl: Int32Array } {
  checkCount(spec.numRequests);
  if (spec.kind === "token-norm-dist") {
    if (spec.inputStdev < 0 || spec.outputStdev < 0)
      throw new UsageError("--input-stdev/--output-stdev must be ≥ 0");
    const s = legacySeed(seed, "token-norm-dist");
    return {
      isl: normDistLengths(spec.inputMean, spec.inputStdev, spec.numRequests, s, {
        max: MAX_INPUT_TOKENS,
        what: "input tokens",
        options: "--input-mean/--input-stdev",
      }),
      osl: normDistLengths(spec.outputMean, spec.outputStdev, spec.numRequests, s, {
        max: MAX_OUTPUT_TOKENS,
        what: "output tokens",
        options: "--output-mean/--output-stdev",
      }),
    };
  }
  if (spec.inputMin > spec.inputMax) throw new UsageError("--input-min must not exceed --input-max");
  if (spec.outputMin > spec.outputMax) throw new UsageError("--output-min must not exceed --output-max");
  if (spec.inputMin < 1 || spec.outputMin < 1) throw new UsageError("--input-min/--output-min must be ≥ 1");
  const s = pcgSeed(seed, "token-unif-dist");
  return {
    isl: unifDistLengths(spec.inputMin, spec.inputMax, spec.numRequests, s, {
      max: MAX_INPUT_TOKENS,
      what: "input tokens",
      options: "--input-max",
    }),
    osl: unifDistLengths(spec.outputMin, spec.outputMax, spec.numRequests, s, {
      max: MAX_OUTPUT_TOKENS,
      what: "output tokens",
      options: "--output-max",
    }),
  };
}

/** Writes the whole synthetic dataset; lines come out in request order and never accumulate in memory. */
export async function generateSynthetic(
  spec: NormDistSpec | UnifDistSpec,
  ctx: GenerateContext,
): Promise<GenerateResult> {
  const { tokenizer, writer, seed } = ctx;
  const vocab = tokenizer.vocabSize;
  if (!(vocab > 0)) throw new UsageError(`tokenizer ${tokenizer.source} reports an empty vocabulary`);
  const eos = eosIdsOf(tokenizer);
  if (eos.length === 0) log.warn(`Tokenizer ${tokenizer.source} has no EOS token; ids are not scrubbed`);
  const { isl, osl } = syntheticLengths(spec, seed);
  const n = isl.length;
  const buf = new Int32Array(isl.reduce((a, b) => Math.max(a, b), 1));
  const plan = ctx.lora;

  // trtllm-bench draws random task ids after every prompt's tokens, from the same stream: a dry run of the
  // token sampling finds that state without holding all prompts in memory.
  let taskIds: Int32Array | undefined;
  if (plan.needsRandomIds) {
    const dry = new PythonRandom(seed);
    for (let i = 0; i < n; i++) sampleTokenIds(dry, isl[i]!, vocab, buf);
    taskIds = new Int32Array(n);
    for (let i = 0; i < n; i++) taskIds[i] = plan.drawTaskId(dry);
  }

  const rng = new PythonRandom(seed);
  const text =
    spec.promptMode === "text" ? new TextPromptBuilder(tokenizer, { seed, eosIds: eos }) : undefined;
  await writer.begin({ isl, osl });
  for (let i = 0; i < n; i++) {
    const len = isl[i]!;
    sampleTokenIds(rng, len, vocab, buf);
    scrubEos(buf, len, eos, vocab);
    const taskId = taskIds ? taskIds[i]! : plan.opts.taskId;
    const lora = plan.loraFor(taskId);
    if (text) {
      await writer.writePrompt(i, text.build(buf.subarray(0, len), len), osl[i]!, lora, taskId);
      if ((i & 63) === 63) await ctx.yieldNow();
    } else {
      await writer.writeIds(i, buf, len, osl[i]!, lora, taskId);
    }
  }
  return { isl, osl, textStats: text?.stats() };
}
