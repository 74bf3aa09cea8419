/**
 * Text prompts of exactly N tokens for endpoints that only take text. Random ids do not survive
 * decode→encode (merges across ids, partial UTF-8 bytes), so each prompt is re-encoded and repaired: keep the
 * re-encoded ids, truncate to N or top up with fresh random ids, decode again, until the count is exact
 * (ecosystem.md §1, strategy B). A prompt that still misses after the pass limit is rebuilt from "safe words"
 * (ids that decode to a space plus letters and re-encode to themselves). Every returned prompt has been
 * verified by re-encoding. N excludes special tokens (BOS), which the server adds on its own.
 */
import { BenchError } from "../errors.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import { PythonRandom } from "./rng/python-random.ts";

export interface TextPromptStats {
  /** Prompts built. */
  prompts: number;
  /** Prompts whose first decode did not re-encode to exactly N tokens and needed repair passes. */
  repaired: number;
  /** Prompts that needed the safe-word fallback. */
  fallback: number;
}

/** An already-built text that every prompt must start with, and its tokens (prefix-shared workloads). */
export interface TextPrefix {
  text: string;
  ids: readonly number[];
}

const MAX_PASSES = 10;
const SAFE_WORD = /^ [A-Za-z]{2,}$/;

function startsWith(a: readonly number[], prefix: readonly number[]): boolean {
  if (a.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (a[i] !== prefix[i]) return false;
  return true;
}

export class TextPromptBuilder {
  private readonly topUp: PythonRandom;
  private readonly vocab: number;
  private readonly eos: ReadonlySet<number>;
  private safeWords: Int32Array | undefined;
  private readonly counts: TextPromptStats = { prompts: 0, repaired: 0, fallback: 0 };

  constructor(
    private readonly tokenizer: Tokenizer,
    opts: { seed: number | bigint; eosIds: readonly number[] },
  ) {
    this.vocab = tokenizer.vocabSize;
    this.eos = new Set(opts.eosIds);
    // A separate stream for top-up ids, so the main id stream stays identical to the ids-mode dataset.
    this.topUp = new PythonRandom(BigInt(opts.seed) + (0x7465787en << 32n));
  }

  stats(): TextPromptStats {
    return { ...this.counts };
  }

  private count(text: string): number[] {
    return this.tokenizer.encode(text, { addSpecialTokens: false });
  }

  private randomId(): number {
    for (;;) {
      const id = this.topUp.randbelow(this.vocab);
      if (!this.eos.has(id)) return id;
    }
  }

  /** Swaps special or added tokens in `ids` for random ids; returns whether there was one. */
  private dropSpecial(ids: number[]): boolean {
    let found = false;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id >= this.vocab || this.tokenizer.specialIds.has(id)) {
        ids[i] = this.randomId();
        found = true;
      }
    }
    return found;
  }

  /** Tokens the prompt adds after the prefix, or undefined when the prefix's own tokens changed at the seam. */
  private tail(text: string, prefix: TextPrefix | undefined): number[] | undefined {
    if (!prefix) return this.count(text);
    const all = this.count(prefix.text + text);
    return startsWith(all, prefix.ids) ? all.slice(prefix.ids.length) : undefined;
  }

  /** A text (after `prefix`, when given) that re-encodes to exactly `n` tokens, seeded from `ids`. */
  build(ids: ArrayLike<number>, n: number, prefix?: TextPrefix): string {
    this.counts.prompts++;
    let cur = Array.from(ids).slice(0, n);
    while (cur.length < n) cur.push(this.randomId());
    for (let pass = 0; pass < MAX_PASSES; pass++) {
      const text = this.tokenizer.decode(cur);
      const tail = this.tail(text, prefix);
      if (tail === undefined) {
        // The first id merged with the prefix's last token: try another one.
        cur[0] = this.randomId();
        continue;
      }
      // A special token's text can appear across ids; the server would read it as a control token.
      const hadSpecial = this.dropSpecial(tail);
      if (!hadSpecial && tail.length === n) {
        if (pass > 0) this.counts.repaired++;
        return text;
      }
      cur = tail.length > n ? tail.slice(0, n) : tail;
      while (cur.length < n) cur.push(this.randomId());
    }
    this.counts.repaired++;
    this.counts.fallback++;
    return this.fromSafeWords(n, prefix);
  }

  /** Ids whose text is a space plus ASCII letters and that re-encode to themselves alone (built on first need). */
  private safePool(): Int32Array {
    if (this.safeWords) return this.safeWords;
    const pool: number[] = [];
    for (let id = 0; id < this.vocab; id++) {
      if (this.eos.has(id)) continue;
      const s = this.tokenizer.decode([id]);
      if (!SAFE_WORD.test(s)) continue;
      const back = this.count(s);
      if (back.length === 1 && back[0] === id) pool.push(id);
    }
    this.safeWords = Int32Array.from(pool);
    return this.safeWords;
  }

  private fromSafeWords(n: number, prefix: TextPrefix | undefined): string {
    const pool = this.safePool();
    if (pool.length > 0) {
      for (let attempt = 0; attempt < 3; attempt++) {
        const ids: number[] = [];
        for (let i = 0; i < n; i++) ids.push(pool[this.topUp.randbelow(pool.length)]!);
        const text = this.tokenizer.decode(ids);
        if (this.tail(text, prefix)?.length === n) return text;
      }
    }
    throw new BenchError(
      `cannot build a text prompt of exactly ${n} tokens with tokenizer ${this.tokenizer.source}; use --prompt-mode ids`,
    );
  }
}
