/**
 * The strict one-pass reader behind event-layouts.ts: it walks an event's JSON once, validating everything as
 * JSON.parse would, and picks choices[0]'s text (or delta), finish_reason, token_ids, usage.completion_tokens and
 * usage.prompt_tokens out of it without building an object tree. It answers false on anything it does not read
 * with certainty: an `error` field, repeated keys it reads, unexpected types, nesting deeper than 64. While it
 * walks it can note where every value that may change lies (slots), which event-layouts.ts turns into a layout.
 */

/** What a slot holds. Plain numbers, not an enum: the sources run type-stripped too. */
export type Slot = number;
/** Any other number: counts such as total_tokens change from event to event. */
export const NUM = 0;
export const TEXT = 1;
export const CONTENT = 2;
export const REASONING_CONTENT = 3;
export const REASONING = 4;
export const FINISH = 5;
export const IDS = 6;
export const USAGE = 7;
/** Any other string value (ids, model names, timestamps as text): validated, not read, free to change. */
export const STR = 8;
/** usage.prompt_tokens: the input tokens as the server counted them. */
export const PROMPT_USAGE = 9;

export class ScannedEvent {
  /** Layouts this stream has learned: past MAX_LEARNS the stream's events change shape too often to pay off. */
  learns = 0;
  hasChoice = false;
  /** completions: choices[0].text; chat: delta content plus reasoning text. */
  text = "";
  content = "";
  reasoningContent: string | undefined;
  reasoning: string | undefined;
  finishReason: string | undefined;
  usage: number | undefined;
  /** usage.prompt_tokens, when the event has it. */
  promptUsage: number | undefined;
  hasIds = false;
  readonly ids: number[] = [];
}

const MAX_DEPTH = 64;
// Module state instead of a cursor object: the scanner never re-enters, and this keeps the hot loop monomorphic.
let s = "";
let i = 0;
/** While walking: where each slot value starts and ends, to build the template from. */
let learning = false;
let spans: number[] = [];
let kinds: Slot[] = [];

function ws(): void {
  let c = s.charCodeAt(i);
  while (c === 32 || c === 10 || c === 13 || c === 9) c = s.charCodeAt(++i);
}

/** A string at i (on its quote) → its content; undefined for invalid text. */
function str(): string | undefined {
  const start = ++i;
  for (;;) {
    const c = s.charCodeAt(i);
    if (c === 34) return s.slice(start, i++);
    // NaN (end of input) fails the first test; control characters are invalid in JSON strings.
    if (!(c >= 32)) return undefined;
    if (c === 92) return escaped(start);
    i++;
  }
}

/**
 * A string with escapes (newlines and quotes are common in generated text): its end is found here, its value
 * and validity are JSON.parse's, on the literal alone.
 */
function escaped(start: number): string | undefined {
  for (;;) {
    const c = s.charCodeAt(i);
    if (c === 34) break;
    if (!(c >= 32)) return undefined;
    i += c === 92 ? 2 : 1;
  }
  i++;
  try {
    return JSON.parse(s.slice(start - 1, i)) as string;
  } catch {
    return undefined;
  }
}

function lit(word: string): boolean {
  if (!s.startsWith(word, i)) return false;
  i += word.length;
  return true;
}

function digits(): number {
  const from = i;
  let c = s.charCodeAt(i);
  while (c >= 48 && c <= 57) c = s.charCodeAt(++i);
  return i - from;
}

/** A JSON number at i, by the JSON grammar (no leading zeros, no bare dot, no `+`). */
function num(): number | undefined {
  const start = i;
  let value = 0;
  let plain = true;
  if (s.charCodeAt(i) === 45) {
    i++;
    plain = false;
  }
  const first = s.charCodeAt(i);
  if (first === 48) i++;
  else if (first >= 49 && first <= 57) {
    let c = first;
    do {
      value = value * 10 + c - 48;
      c = s.charCodeAt(++i);
    } while (c >= 48 && c <= 57);
  } else return undefined;
  if (s.charCodeAt(i) === 46) {
    i++;
    plain = false;
    if (digits() === 0) return undefined;
  }
  const e = s.charCodeAt(i);
  if (e === 101 || e === 69) {
    i++;
    plain = false;
    const sign = s.charCodeAt(i);
    if (sign === 43 || sign === 45) i++;
    if (digits() === 0) return undefined;
  }
  // Counts and ids are small non-negative integers: summed exactly as read (below 2^53); the rest as JSON.parse would.
  return plain && i - start < 16 ? value : Number(s.slice(start, i));
}

/** After a member or element: true at the closing bracket (consumed), false after a comma, undefined if neither. */
function next(close: number): boolean | undefined {
  ws();
  const c = s.charCodeAt(i++);
  if (c === close) return true;
  return c === 44 ? false : undefined;
}

/** A key and its colon; the cursor ends on the value. */
function key(): string | undefined {
  ws();
  if (s.charCodeAt(i) !== 34) return undefined;
  const k = str();
  if (k === undefined) return undefined;
  ws();
  if (s.charCodeAt(i) !== 58) return undefined;
  i++;
  ws();
  return k;
}

/** Validates and passes over any value. */
function skip(depth: number): boolean {
  ws();
  const c = s.charCodeAt(i);
  if (c === 34) {
    const start = i;
    if (str() === undefined) return false;
    if (learning) {
      spans.push(start, i);
      kinds.push(STR);
    }
    return true;
  }
  if (c === 123 || c === 91) {
    if (depth >= MAX_DEPTH) return false;
    const close = c + 2;
    i++;
    ws();
    if (s.charCodeAt(i) === close) {
      i++;
      return true;
    }
    for (;;) {
      if (c === 123 && key() === undefined) return false;
      if (!skip(depth + 1)) return false;
      const end = next(close);
      if (end === undefined) return false;
      if (end) return true;
    }
  }
  if (c === 116) return lit("true");
  if (c === 102) return lit("false");
  if (c === 110) return lit("null");
  return slot(NUM, undefined as never);
}

/** A string, or null (undefined when it is null), at i. */
function textOrNull(): string | null | undefined {
  if (s.charCodeAt(i) === 34) return str();
  return lit("null") ? null : undefined;
}

/** One value that varies between events: read into `out`, and noted while learning the layout. */
function slot(kind: Slot, out: ScannedEvent): boolean {
  const start = i;
  let ok: boolean;
  switch (kind) {
    case NUM:
      ok = num() !== undefined;
      break;
    case USAGE:
    case PROMPT_USAGE: {
      let n: number | undefined;
      if (lit("null")) ok = true;
      else {
        n = num();
        ok = n !== undefined;
      }
      if (kind === USAGE) out.usage = n;
      else out.promptUsage = n;
      break;
    }
    case IDS:
      ok = ids(out);
      break;
    default: {
      const t = textOrNull();
      ok = t !== undefined;
      if (kind === TEXT) out.text = t ?? "";
      else if (kind === CONTENT) out.content = t ?? "";
      else if (kind === REASONING_CONTENT) out.reasoningContent = t ?? undefined;
      else if (kind === REASONING) out.reasoning = t ?? undefined;
      else out.finishReason = t ?? undefined;
    }
  }
  if (ok && learning) {
    spans.push(start, i);
    kinds.push(kind);
  }
  return ok;
}

function ids(out: ScannedEvent): boolean {
  out.hasIds = false;
  out.ids.length = 0;
  if (lit("null")) return true;
  if (s.charCodeAt(i) !== 91) return false;
  i++;
  out.hasIds = true;
  ws();
  if (s.charCodeAt(i) === 93) {
    i++;
    return true;
  }
  for (;;) {
    ws();
    const n = num();
    if (n === undefined) return false;
    out.ids.push(n);
    const end = next(93);
    if (end === undefined) return false;
    if (end) return true;
  }
}

function delta(out: ScannedEvent): boolean {
  let seen = 0;
  return members((k) => {
    const bit = k === "content" ? 1 : k === "reasoning_content" ? 2 : k === "reasoning" ? 4 : 0;
    if (bit === 0) return skip(3);
    if (seen & bit) return false;
    seen |= bit;
    return slot(bit === 1 ? CONTENT : bit === 2 ? REASONING_CONTENT : REASONING, out);
  });
}

function choice(chat: boolean, out: ScannedEvent): boolean {
  if (s.charCodeAt(i) !== 123) return false;
  out.hasChoice = true;
  let seen = 0;
  return members((k) => {
    const bit = k === "text" ? 1 : k === "delta" ? 2 : k === "finish_reason" ? 4 : k === "token_ids" ? 8 : 0;
    if (bit !== 0 && seen & bit) return false;
    seen |= bit;
    if (bit === 1 && !chat) return slot(TEXT, out);
    if (bit === 2 && chat) return delta(out);
    if (bit === 4) return slot(FINISH, out);
    if (bit === 8) return slot(IDS, out);
    return skip(2);
  });
}

function choices(chat: boolean, out: ScannedEvent): boolean {
  if (s.charCodeAt(i) !== 91) return false;
  i++;
  ws();
  if (s.charCodeAt(i) === 93) {
    i++;
    return true;
  }
  if (!choice(chat, out)) return false;
  for (;;) {
    const end = next(93);
    if (end === undefined) return false;
    if (end) return true;
    if (!skip(1)) return false;
  }
}

function usage(out: ScannedEvent): boolean {
  if (lit("null")) return true;
  let seen = 0;
  return members((k) => {
    const bit = k === "completion_tokens" ? 1 : k === "prompt_tokens" ? 2 : 0;
    if (bit === 0) return skip(2);
    if (seen & bit) return false;
    seen |= bit;
    return slot(bit === 1 ? USAGE : PROMPT_USAGE, out);
  });
}

function walk(chat: boolean, out: ScannedEvent): boolean {
  ws();
  let seen = 0;
  const ok = members((k) => {
    if (k === "choices") {
      if (seen & 1) return false;
      seen |= 1;
      return choices(chat, out);
    }
    if (k === "usage") {
      if (seen & 2) return false;
      seen |= 2;
      return usage(out);
    }
    // A null error is no error; any other is reported by the JSON.parse path.
    if (k === "error") return lit("null");
    return skip(1);
  });
  if (!ok) return false;
  ws();
  return i === s.length;
}

/** An object at i: each member's key goes to `member`, which reads the value; false on anything invalid. */
function members(member: (key: string) => boolean): boolean {
  if (s.charCodeAt(i) !== 123) return false;
  i++;
  ws();
  if (s.charCodeAt(i) === 125) {
    i++;
    return true;
  }
  for (;;) {
    const k = key();
    if (k === undefined || !member(k)) return false;
    const end = next(125);
    if (end === undefined) return false;
    if (end) return true;
  }
}

/** A JSON string or null, as the grammar allows it (code units, like JSON.parse: lone surrogates pass). */

/** Resets what `out` says to "nothing read". */
export function resetEvent(out: ScannedEvent): void {
  out.hasChoice = false;
  out.text = "";
  out.content = "";
  out.reasoningContent = undefined;
  out.reasoning = undefined;
  out.finishReason = undefined;
  out.usage = undefined;
  out.promptUsage = undefined;
  out.hasIds = false;
}

/** Where the values that may change lie: start and end offsets in `spans`, their kinds in `kinds`. */
export interface SlotRecord {
  spans: number[];
  kinds: Slot[];
}

/**
 * Walks one event's data into `out` (reset first); false: not read with certainty. With `record`, notes every
 * slot of the event in it.
 */
export function walkEvent(data: string, chat: boolean, out: ScannedEvent, record?: SlotRecord): boolean {
  s = data;
  i = 0;
  resetEvent(out);
  learning = record !== undefined;
  if (record) {
    record.spans.length = 0;
    record.kinds.length = 0;
    spans = record.spans;
    kinds = record.kinds;
  }
  const ok = walk(chat, out);
  learning = false;
  s = "";
  return ok;
}
