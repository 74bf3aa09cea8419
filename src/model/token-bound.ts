/**
 * How much text one token can stand for, read from a tokenizer.json: the basis of the server's length check
 * by characters before tokenizing (docs/serve.md, "Long prompts").
 *
 * The rule: if every step of the tokenizer's pipeline keeps all of its input text and never makes it shorter,
 * and every output token stands for a piece of at most L UTF-16 code units of that text, then a prompt of n
 * code units encodes to at least ceil(n / L) tokens. A token being at least one character gives the opposite
 * bound (an upper one) and proves nothing here: what must be bounded is the longest piece one token can cover.
 *
 * The walk below follows what `@huggingface/tokenizers` does (src/core/Tokenizer.ts `encode_text`): split
 * out added tokens, normalize, split out normalized added tokens, pre-tokenize, run the model per word,
 * post-process. Each component is accepted only where that library's code keeps and does not shorten the
 * text; anything else (a normalizer that may shorten, NFC or accent stripping; a pre-tokenizer that drops
 * whitespace; WordPiece, which turns a long word into one [UNK]; fused unknown tokens; added tokens that
 * strip their neighbours' whitespace) gives no bound, and the server then tokenizes before checking.
 */

export type CharsPerToken = { bound: number } | { none: string };

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** GPT-2's bytes_to_unicode: the 256 characters a ByteLevel pre-tokenizer writes bytes as. */
function byteLevelAlphabet(): string[] {
  const chars: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars.push(String.fromCharCode(printable ? b : 256 + extra++));
  }
  return chars;
}

/** A Replace normalizer or pre-tokenizer of a literal string never shortens text if its content is no shorter. */
function replaceKeepsLength(step: Json): boolean {
  const pattern = step["pattern"];
  const content = step["content"] ?? "";
  return (
    isObj(pattern) &&
    typeof pattern["String"] === "string" &&
    pattern["String"] !== "" &&
    typeof content === "string" &&
    content.length >= pattern["String"].length
  );
}

interface Normalizer {
  apply(text: string): string;
}

/** The normalizer as a function, or why it may shorten text. Only Prepend and literal Replace qualify. */
function normalizerOf(spec: unknown): Normalizer | string {
  if (spec === null || spec === undefined) return { apply: (t) => t };
  if (!isObj(spec)) return "normalizer: not an object";
  switch (spec["type"]) {
    case "Prepend": {
      const prepend = spec["prepend"];
      if (typeof prepend !== "string") return "normalizer Prepend: no prepend string";
      return { apply: (t) => prepend + t };
    }
    case "Replace": {
      if (!replaceKeepsLength(spec)) return "normalizer Replace: may shorten text";
      const from = (spec["pattern"] as Json)["String"] as string;
      const to = (spec["content"] ?? "") as string;
      return { apply: (t) => t.replaceAll(from, to) };
    }
    case "Sequence": {
      const list = spec["normalizers"];
      if (!Array.isArray(list)) return "normalizer Sequence: no list";
      const steps: Normalizer[] = [];
      for (const s of list) {
        const n = normalizerOf(s);
        if (typeof n === "string") return n;
        steps.push(n);
      }
      return { apply: (t) => steps.reduce((acc, s) => s.apply(acc), t) };
    }
    default:
      return `normalizer ${String(spec["type"])}: may shorten text`;
  }
}

/**
 * Checks that the pre-tokenizer keeps every character (splitting is fine). Returns whether its output is
 * made of ByteLevel characters only (a ByteLevel step with only splitters after it), or why it drops text.
 */
function preTokenizerCheck(spec: unknown): { byteLevel: boolean } | string {
  if (spec === null || spec === undefined) return { byteLevel: false };
  if (!isObj(spec)) return "pre_tokenizer: not an object";
  const type = spec["type"];
  switch (type) {
    case "ByteLevel":
      return { byteLevel: true };
    case "Split":
      // The library keeps only the matches when `invert` is set, and drops them with behavior "Removed".
      if (spec["invert"] === true) return "pre_tokenizer Split: invert drops text";
      if (String(spec["behavior"]).toLowerCase() === "removed") return "pre_tokenizer Split: drops matches";
      // Without a pattern it knows, the library's Split returns nothing at all.
      if (
        !isObj(spec["pattern"]) ||
        (spec["pattern"]["Regex"] === undefined && spec["pattern"]["String"] === undefined)
      ) {
        return "pre_tokenizer Split: unknown pattern";
      }
      return { byteLevel: false };
    case "Metaspace": {
      const rep = spec["str_rep"] || (spec["replacement"] ?? "\u2581");
      return typeof rep === "string" && rep.length >= 1
        ? { byteLevel: false }
        : "pre_tokenizer Metaspace: empty replacement";
    }
    case "Digits":
    case "Punctuation":
    case "FixedLength":
      return { byteLevel: false };
    case "Replace":
      return replaceKeepsLength(spec) ? { byteLevel: false } : "pre_tokenizer Replace: may shorten text";
    case "Sequence": {
      const list = spec["pretokenizers"];
      if (!Array.isArray(list)) return "pre_tokenizer Sequence: no list";
      let byteLevel = false;
      for (const s of list) {
        const r = preTokenizerCheck(s);
        if (typeof r === "string") return r;
        // Splitters keep ByteLevel's alphabet; Metaspace or Replace after it may bring other characters.
        const t = isObj(s) ? s["type"] : undefined;
        if (r.byteLevel) byteLevel = true;
        else if (t === "Metaspace" || t === "Replace" || t === "Sequence") byteLevel = false;
      }
      return { byteLevel };
    }
    default:
      return `pre_tokenizer ${String(type)}: may drop text`;
  }
}

function postProcessorCheck(spec: unknown): string | undefined {
  if (spec === null || spec === undefined) return undefined;
  if (!isObj(spec)) return "post_processor: not an object";
  switch (spec["type"]) {
    case "ByteLevel":
    case "BertProcessing":
    case "RobertaProcessing":
      return undefined;
    case "TemplateProcessing": {
      const single = spec["single"];
      const keepsA =
        Array.isArray(single) &&
        single.some((item) => isObj(item) && isObj(item["Sequence"]) && item["Sequence"]["id"] === "A");
      return keepsA ? undefined : "post_processor TemplateProcessing: the template drops the text";
    }
    case "Sequence": {
      const list = spec["processors"];
      if (!Array.isArray(list)) return "post_processor Sequence: no list";
      for (const s of list) {
        const r = postProcessorCheck(s);
        if (r !== undefined) return r;
      }
      return undefined;
    }
    default:
      return `post_processor ${String(spec["type"])}: unknown`;
  }
}

/**
 * The longest piece of (normalized, pre-tokenized) text one token of this tokenizer covers, in UTF-16 code
 * units, or why no such bound holds. `config` is tokenizer_config.json.
 */
export function charsPerToken(json: Json, config: Json): CharsPerToken {
  if (config["remove_space"] === true) return { none: "tokenizer_config remove_space drops whitespace" };
  if (config["do_lowercase_and_remove_accent"] === true) {
    return { none: "tokenizer_config do_lowercase_and_remove_accent may shorten text" };
  }
  const normalizer = normalizerOf(json["normalizer"]);
  if (typeof normalizer === "string") return { none: normalizer };
  const pre = preTokenizerCheck(json["pre_tokenizer"]);
  if (typeof pre === "string") return { none: pre };
  const post = postProcessorCheck(json["post_processor"]);
  if (post !== undefined) return { none: post };

  const model = json["model"];
  if (!isObj(model) || model["type"] !== "BPE") {
    return { none: `model ${isObj(model) ? String(model["type"]) : "?"}: only BPE is analysed` };
  }
  const vocab = model["vocab"];
  const merges = model["merges"];
  if (!isObj(vocab) || !Array.isArray(merges)) return { none: "model: vocab or merges missing" };

  let longest = 2; // one character outside the BMP is two code units
  for (const token of Object.keys(vocab)) if (token.length > longest) longest = token.length;
  // A piece is one character or the result of a merge; a merge result outside the vocabulary still
  // becomes one unknown token (or its bytes), so it counts too.
  let mergesInVocab = true;
  for (const m of merges) {
    const pair = Array.isArray(m) ? m : typeof m === "string" ? m.split(" ", 2) : [];
    const [a, b] = pair as unknown[];
    if (typeof a !== "string" || typeof b !== "string") return { none: "model: malformed merges" };
    if (a.length + b.length > longest) longest = a.length + b.length;
    if (mergesInVocab && !Object.hasOwn(vocab, a + b)) mergesInVocab = false;
  }

  // A piece the model cannot name must still give at least one token, else text vanishes from the count.
  const unk = model["unk_token"];
  const byteTokens = Array.from(
    { length: 256 },
    (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`,
  );
  const byteFallback = model["byte_fallback"] === true && byteTokens.every((t) => Object.hasOwn(vocab, t));
  const byteLevelClosed =
    pre.byteLevel && mergesInVocab && byteLevelAlphabet().every((c) => Object.hasOwn(vocab, c));
  if (!byteFallback && !byteLevelClosed) {
    if (typeof unk !== "string") return { none: "model: unknown pieces may be dropped (no unk_token)" };
    // Fused unknown pieces are one token for a run of any length.
    if (model["fuse_unk"] === true) return { none: "model: fuse_unk joins unknown pieces" };
  }

  const added = json["added_tokens"];
  if (added !== undefined && !Array.isArray(added)) return { none: "added_tokens: not an array" };
  for (const t of (added ?? []) as unknown[]) {
    if (!isObj(t) || typeof t["content"] !== "string") return { none: "added_tokens: malformed entry" };
    // lstrip/rstrip make the added token swallow any amount of whitespace next to it.
    if (t["lstrip"] === true || t["rstrip"] === true) {
      return { none: `added token ${JSON.stringify(t["content"])} strips whitespace` };
    }
    const content = t["content"];
    if (content.length > longest) longest = content.length;
    const normalized = (t["normalized"] ?? t["special"] !== true) === true;
    if (normalized) longest = Math.max(longest, normalizer.apply(content).length);
  }
  return { bound: longest };
}

/** The fewest tokens a text of `length` code units can encode to, given `charsPerToken`'s bound. */
export function minTokensFor(length: number, bound: number): number {
  return Math.ceil(length / bound);
}
