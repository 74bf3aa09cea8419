import type { Tokenizer } from "../model/tokenizer.ts";

/**
 * Turns a growing list of token ids into text deltas. Byte-level BPE pieces may end inside a UTF-8 character,
 * and some tokenizers change a piece's text by its neighbours, so each step decodes a short window twice —
 * the already-emitted tail and the tail plus the new ids — and emits the difference, holding it back while it
 * ends in an incomplete character (U+FFFD). Cost per token is bounded by the window, not the whole output.
 */
export class IncrementalDetokenizer {
  readonly ids: number[] = [];
  /** Start of the window whose text has already been emitted up to `readOffset`. */
  private prefixOffset = 0;
  private readOffset = 0;

  constructor(private readonly tokenizer: Tokenizer) {}

  private decode(from: number, to: number): string {
    return this.tokenizer.decode(this.ids.slice(from, to), { skipSpecialTokens: true });
  }

  /** Adds ids and returns the text they complete (possibly ""). */
  push(ids: readonly number[]): string {
    for (const id of ids) this.ids.push(id);
    const prefix = this.decode(this.prefixOffset, this.readOffset);
    const full = this.decode(this.prefixOffset, this.ids.length);
    if (full.length > prefix.length && !full.endsWith("\uFFFD")) {
      this.prefixOffset = this.readOffset;
      this.readOffset = this.ids.length;
      return full.slice(prefix.length);
    }
    return "";
  }

  /** Whatever is held back, at the end of the output (an incomplete character stays U+FFFD). */
  flush(): string {
    if (this.readOffset >= this.ids.length) return "";
    const prefix = this.decode(this.prefixOffset, this.readOffset);
    const full = this.decode(this.prefixOffset, this.ids.length);
    this.prefixOffset = this.readOffset = this.ids.length;
    return full.slice(prefix.length);
  }
}
