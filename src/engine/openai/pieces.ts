/**
 * Long output text → pieces of at most PIECE_CHARS for the tokenizer (client-count.ts), cut where the tokenizer
 * splits anyway, so the pieces' counts add up to the whole text's count:
 *
 * 1. at a space that follows a non-space. Byte-level BPE tokenizers (Llama 3, GPT-2, Qwen, ...) pre-tokenize so
 *    that a space always starts a new pre-token: the piece after the cut starts with the space ("keep"). Tokenizers
 *    that prepend a word marker to their input (SentencePiece's "▁", Llama 2, Mistral) count "a b" as "a" plus "b":
 *    the space itself is dropped at the cut ("drop", and only at a single space). Which of the two holds is checked
 *    once per tokenizer on sample sentences (cutStyleOf); when neither does, "keep" is used and counts are close.
 * 2. else (PIECE_CHARS without a usable space: CJK text, a URL, a hostile one-word output) before a punctuation
 *    character that follows a letter or digit, where regex pre-tokenizers split too;
 * 3. else at PIECE_CHARS (never inside a surrogate pair). Only a "word" of PIECE_CHARS letters gets here: no
 *    tokenizer has such a token, and its count may differ by about a token per cut.
 */
import type { Tokenizer } from "../../model/tokenizer.ts";

/** Longest text handed to the tokenizer at once: ~70 ms for a pathological one-word piece (docs/performance.md). */
export const PIECE_CHARS = 4096;

export type CutStyle = "keep" | "drop";

const SAMPLES = [
  "Hello world, this is a test.",
  "The quick brown fox jumps over the lazy dog",
  "x = f(1) + g(22); return [a, b];",
  "naïve café, déjà vu: 3.14 and 1,000 items",
];

function isSpaceLike(c: number): boolean {
  // NaN (past either end) counts as whitespace: no cut next to the text's ends.
  return !(c > 32) || c === 0x85 || c === 0xa0 || (c >= 0x2000 && c <= 0x200a) || c === 0x3000;
}

const STYLES = new WeakMap<Tokenizer, CutStyle>();

/** The cut at single spaces under which this tokenizer's counts add up exactly on sample text. */
export function cutStyleOf(tokenizer: Tokenizer): CutStyle {
  let style = STYLES.get(tokenizer);
  if (style === undefined) {
    const count = (s: string) => tokenizer.encode(s, { addSpecialTokens: false }).length;
    const exact = (st: CutStyle) =>
      SAMPLES.every((s) => {
        const whole = count(s);
        for (let k = 1; k < s.length - 1; k++) {
          if (s.charCodeAt(k) !== 32 || isSpaceLike(s.charCodeAt(k - 1)) || isSpaceLike(s.charCodeAt(k + 1)))
            continue;
          if (count(s.slice(0, k)) + count(s.slice(st === "keep" ? k : k + 1)) !== whole) return false;
        }
        return true;
      });
    style = exact("keep") || !exact("drop") ? "keep" : "drop";
    STYLES.set(tokenizer, style);
  }
  return style;
}

const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;
const PUNCTUATION = /[^\s\p{L}\p{N}\p{M}]/u;

/** The pieces of `text`, each at most `max` characters (see the module comment for where they are cut). */
export function* textPieces(text: string, style: CutStyle, max = PIECE_CHARS): Generator<string> {
  let pos = 0;
  const n = text.length;
  while (n - pos > max) {
    const limit = pos + max;
    let cut = -1;
    let next = -1;
    // 1. A space after a non-space (and, dropping it, before one): the last one within reach.
    for (let k = limit; k > pos; k--) {
      if (text.charCodeAt(k) !== 32 || isSpaceLike(text.charCodeAt(k - 1))) continue;
      if (style === "keep") {
        cut = k;
        next = k;
        break;
      }
      if (!isSpaceLike(text.charCodeAt(k + 1))) {
        cut = k;
        next = k + 1;
        break;
      }
    }
    // 2. Punctuation after a letter or digit.
    if (cut < 0) {
      for (let k = limit; k > pos; k--) {
        if (PUNCTUATION.test(text[k]!) && LETTER_OR_DIGIT.test(text[k - 1]!)) {
          cut = k;
          next = k;
          break;
        }
      }
    }
    // 3. Anywhere but inside a surrogate pair.
    if (cut < 0) {
      const c = text.charCodeAt(limit - 1);
      cut = c >= 0xd800 && c <= 0xdbff ? limit - 1 : limit;
      next = cut;
    }
    yield text.slice(pos, cut);
    pos = next;
  }
  if (pos < n) yield text.slice(pos);
}
