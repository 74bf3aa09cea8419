/**
 * Prompt-lookup drafting: the sequence's last n tokens are looked up earlier in prompt + output, and the tokens
 * that followed the most recent earlier occurrence are proposed as drafts. n runs from `maxNgram` down to 1, so
 * longer (more specific) matches win. Drafts are written in place right after the known tokens: the continuation
 * is copied token by token, so a match close to the end keeps copying into the drafts just written, which
 * extends a repeating pattern over the whole draft length (an overlapping copy, as in LZ77).
 */

/**
 * Writes up to `maxDraft` drafts into `tokens[len, len + k)` and returns k (0 when no n-gram matches).
 * `tokens` must have room for them; only `tokens[0, len)` is read as history.
 */
export function proposeNgram(tokens: Uint32Array, len: number, maxNgram: number, maxDraft: number): number {
  if (maxDraft <= 0 || len < 2) return 0;
  const room = Math.min(maxDraft, tokens.length - len);
  for (let n = Math.min(maxNgram, len - 1); n >= 1; n--) {
    const tail = len - n;
    // Most recent occurrence first: start positions p < tail (the suffix itself is not a match).
    for (let p = tail - 1; p >= 0; p--) {
      let j = 0;
      while (j < n && tokens[p + j] === tokens[tail + j]) j++;
      if (j < n) continue;
      const from = p + n;
      for (let i = 0; i < room; i++) tokens[len + i] = tokens[from + i]!;
      return room;
    }
  }
  return 0;
}
