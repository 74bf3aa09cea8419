/**
 * A one-pass reader for the event shape that makes up nearly every streamed chunk: it picks choices[0]'s text
 * (or delta), finish_reason and token_ids and usage.completion_tokens out of the data string without building
 * the object tree JSON.parse would (that tree was ~30 % of the client's CPU). What it skips it still validates
 * as strictly as JSON.parse. It answers false, and the caller falls back to JSON.parse, on anything it does not
 * read with certainty: an `error` field, repeated keys it reads, unexpected types, deep nesting.
 *
 * A character-by-character walk in JS costs about what JSON.parse does, so the walk only runs to learn a
 * stream's layout: the events of one stream differ only in a few values (text, ids, finish reason, counts). The
 * layout becomes a template of literal pieces and value slots, compiled to one regular expression; later events
 * are matched by it and only the slot values are read. An event it does not match goes to the walk again,
 * which learns the new layout.
 */

/** What a slot holds. Plain numbers, not an enum: the sources run type-stripped too. */
type Slot = number;
/** Any other number: counts such as total_tokens change from event to event. */
const NUM = 0;
const TEXT = 1;
const CONTENT = 2;
const REASONING_CONTENT = 3;
const REASONING = 4;
const FINISH = 5;
const IDS = 6;
const USAGE = 7;
/** Any other string value (ids, model names, timestamps as text): validated, not read, free to change. */
const STR = 8;

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
  hasIds = false;
  readonly ids: number[] = [];
}

/** A learned layout: an anchored pattern (see matchTemplate) and the kinds of its capture groups. */
interface Layout {
  re: RegExp;
  /**
   * The same layout framed as one SSE event, `data: <event>` and its blank line, matched in place in the decoded
   * body (sticky): the event needs no slicing and no separate split. Undefined when the event had a line break.
   */
  framed: RegExp | undefined;
  captured: Slot[];
  hasChoice: boolean;
}

/**
 * Layouts learned so far, most recently matched first, for completions [0] and chat [1]. Shared by all
 * streams: a server's events keep their layout across requests (string values such as the request id are slots),
 * so a new stream pays no walk. A handful covers a stream's kinds of events (first, content, final usage).
 */
const LAYOUTS: [Layout[], Layout[]] = [[], []];
const MAX_LAYOUTS = 8;
const MAX_LEARNS = 16;

const MAX_DEPTH = 64;
// Module state instead of a cursor object: the scanner never re-enters, and this keeps the hot loop monomorphic.
let s = "";
let i = 0;
/** While walking: where each slot value starts and ends, to build the template from. */
let learning = false;
const spans: number[] = [];
const kinds: Slot[] = [];

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
    case USAGE: {
      if (lit("null")) {
        out.usage = undefined;
        ok = true;
      } else {
        const n = num();
        out.usage = n;
        ok = n !== undefined;
      }
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
  if (s.charCodeAt(i) !== 123) return false;
  i++;
  ws();
  if (s.charCodeAt(i) === 125) {
    i++;
    return true;
  }
  let seen = 0;
  for (;;) {
    const k = key();
    if (k === undefined) return false;
    const bit = k === "content" ? 1 : k === "reasoning_content" ? 2 : k === "reasoning" ? 4 : 0;
    if (bit === 0) {
      if (!skip(3)) return false;
    } else {
      if (seen & bit) return false;
      seen |= bit;
      if (!slot(bit === 1 ? CONTENT : bit === 2 ? REASONING_CONTENT : REASONING, out)) return false;
    }
    const end = next(125);
    if (end === undefined) return false;
    if (end) return true;
  }
}

function choice(chat: boolean, out: ScannedEvent): boolean {
  if (s.charCodeAt(i) !== 123) return false;
  i++;
  out.hasChoice = true;
  ws();
  if (s.charCodeAt(i) === 125) {
    i++;
    return true;
  }
  let seen = 0;
  for (;;) {
    const k = key();
    if (k === undefined) return false;
    const bit = k === "text" ? 1 : k === "delta" ? 2 : k === "finish_reason" ? 4 : k === "token_ids" ? 8 : 0;
    if (bit !== 0 && seen & bit) return false;
    seen |= bit;
    let ok: boolean;
    if (bit === 1 && !chat) ok = slot(TEXT, out);
    else if (bit === 2 && chat) ok = delta(out);
    else if (bit === 4) ok = slot(FINISH, out);
    else if (bit === 8) ok = slot(IDS, out);
    else ok = skip(2);
    if (!ok) return false;
    const end = next(125);
    if (end === undefined) return false;
    if (end) return true;
  }
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
  if (s.charCodeAt(i) !== 123) return false;
  i++;
  ws();
  if (s.charCodeAt(i) === 125) {
    i++;
    return true;
  }
  let seen = false;
  for (;;) {
    const k = key();
    if (k === undefined) return false;
    if (k === "completion_tokens") {
      if (seen) return false;
      seen = true;
      if (!slot(USAGE, out)) return false;
    } else if (!skip(2)) return false;
    const end = next(125);
    if (end === undefined) return false;
    if (end) return true;
  }
}

function walk(chat: boolean, out: ScannedEvent): boolean {
  ws();
  if (s.charCodeAt(i) !== 123) return false;
  i++;
  ws();
  if (s.charCodeAt(i) === 125) i++;
  else {
    let seen = 0;
    for (;;) {
      const k = key();
      if (k === undefined) return false;
      if (k === "choices") {
        if (seen & 1) return false;
        seen |= 1;
        if (!choices(chat, out)) return false;
      } else if (k === "usage") {
        if (seen & 2) return false;
        seen |= 2;
        if (!usage(out)) return false;
      } else if (k === "error") {
        // A null error is no error; any other is reported by the JSON.parse path.
        if (!lit("null")) return false;
      } else if (!skip(1)) return false;
      const end = next(125);
      if (end === undefined) return false;
      if (end) break;
    }
  }
  ws();
  return i === s.length;
}

/** A JSON string or null, as the grammar allows it (code units, like JSON.parse: lone surrogates pass). */
/** A JSON string or null; the group holds the string's content (undefined for null), saving a slice per event. */
const RX_STRING_OR_NULL = String.raw`(?:"((?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*)"|null)`;
const RX_NUMBER = String.raw`-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?`;
const RX_SLOT: Record<Slot, string> = {
  [NUM]: RX_NUMBER,
  [TEXT]: RX_STRING_OR_NULL,
  [CONTENT]: RX_STRING_OR_NULL,
  [REASONING_CONTENT]: RX_STRING_OR_NULL,
  [REASONING]: RX_STRING_OR_NULL,
  [FINISH]: RX_STRING_OR_NULL,
  [IDS]: String.raw`(null|\[[ \t\r\n]*(?:${RX_NUMBER}(?:[ \t\r\n]*,[ \t\r\n]*${RX_NUMBER})*)?[ \t\r\n]*\])`,
  [USAGE]: `(${RX_NUMBER}|null)`,
  [STR]: String.raw`"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"`,
};

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** A string slot's captured content → its value: as is without escapes, else JSON.parse on the literal alone. */
function stringValue(content: string | undefined): string | null {
  if (content === undefined) return null;
  return content.indexOf("\\") < 0 ? content : (JSON.parse(`"${content}"`) as string);
}

/**
 * The event against the learned layout: one anchored regular expression whose literal parts are the layout's
 * text and whose groups are the slots, each by its JSON grammar (so a match is valid JSON with the learned
 * structure). Irregexp's compiled matcher is ~4x cheaper per event than comparing the pieces from JS.
 */
function matchTemplate(chat: boolean, out: ScannedEvent): boolean {
  const layouts = LAYOUTS[chat ? 1 : 0];
  for (let k = 0; k < layouts.length; k++) {
    const layout = layouts[k]!;
    const m = exec(layout.re, s);
    if (m === null) continue;
    if (k > 0) {
      layouts.splice(k, 1);
      layouts.unshift(layout);
    }
    readSlots(m, layout.captured, out);
    out.hasChoice = layout.hasChoice;
    return true;
  }
  return false;
}

/**
 * The pattern's match, or null; also null when the matcher gives up: a string slot of millions of characters
 * exhausts Irregexp's backtrack stack (RangeError), and such an event is left to JSON.parse.
 */
function exec(re: RegExp, text: string): RegExpExecArray | null {
  try {
    return re.exec(text);
  } catch {
    return null;
  }
}

function readSlots(m: RegExpExecArray, kinds: Slot[], out: ScannedEvent): void {
  for (let k = 0; k < kinds.length; k++) {
    const lit = m[k + 1] as string;
    switch (kinds[k]) {
      case USAGE:
        out.usage = lit === "null" ? undefined : Number(lit);
        break;
      case IDS:
        readIds(lit, out);
        break;
      case TEXT:
        out.text = stringValue(lit) ?? "";
        break;
      case CONTENT:
        out.content = stringValue(lit) ?? "";
        break;
      case REASONING_CONTENT:
        out.reasoningContent = stringValue(lit) ?? undefined;
        break;
      case REASONING:
        out.reasoning = stringValue(lit) ?? undefined;
        break;
      default:
        out.finishReason = stringValue(lit) ?? undefined;
    }
  }
}

function readIds(lit: string, out: ScannedEvent): void {
  out.ids.length = 0;
  out.hasIds = lit !== "null";
  if (!out.hasIds) return;
  const inner = lit.slice(1, -1);
  if (inner.trim().length === 0) return;
  // The group's grammar admits only JSON numbers between the commas: Number() reads them as JSON.parse does.
  for (const part of inner.split(",")) out.ids.push(Number(part));
}

function learn(chat: boolean, out: ScannedEvent): void {
  let source = "^";
  const captured: Slot[] = [];
  let from = 0;
  for (let k = 0; k < kinds.length; k++) {
    const kind = kinds[k]!;
    source += escapeRegExp(s.slice(from, spans[2 * k])) + RX_SLOT[kind];
    if (kind !== NUM && kind !== STR) captured.push(kind);
    from = spans[2 * k + 1]!;
  }
  source += escapeRegExp(s.slice(from));
  const framed = /[\r\n]/.test(s) ? undefined : new RegExp(`data: ?${source.slice(1)}\n\n`, "y");
  const layouts = LAYOUTS[chat ? 1 : 0];
  layouts.unshift({ re: new RegExp(`${source}$`), framed, captured, hasChoice: out.hasChoice });
  if (layouts.length > MAX_LAYOUTS) layouts.pop();
}

function reset(out: ScannedEvent): void {
  i = 0;
  out.hasChoice = false;
  out.text = "";
  out.content = "";
  out.reasoningContent = undefined;
  out.reasoning = undefined;
  out.finishReason = undefined;
  out.usage = undefined;
  out.hasIds = false;
}

/**
 * Reads the SSE event `data: <event>\n\n` starting at `pos` of a decoded body, when a learned layout matches it
 * whole; returns the index after its blank line, or -1 (then split and read it the usual way).
 */
export function scanFramedEvent(text: string, pos: number, chat: boolean, out: ScannedEvent): number {
  const layouts = LAYOUTS[chat ? 1 : 0];
  for (let k = 0; k < layouts.length; k++) {
    const layout = layouts[k]!;
    const re = layout.framed;
    if (re === undefined) continue;
    re.lastIndex = pos;
    const m = exec(re, text);
    if (m === null) continue;
    if (k > 0) {
      layouts.splice(k, 1);
      layouts.unshift(layout);
    }
    s = "";
    reset(out);
    readSlots(m, layout.captured, out);
    out.hasChoice = layout.hasChoice;
    if (chat) out.text = out.content + (out.reasoningContent ?? out.reasoning ?? "");
    return re.lastIndex;
  }
  return -1;
}

/** Reads one event's data into `out`; false: not read with certainty, use JSON.parse. */
export function scanEvent(data: string, chat: boolean, out: ScannedEvent): boolean {
  s = data;
  reset(out);
  let ok = matchTemplate(chat, out);
  if (!ok) {
    reset(out);
    learning = true;
    spans.length = 0;
    kinds.length = 0;
    ok = walk(chat, out);
    learning = false;
    // A stream whose events keep changing shape (say, per-token logprobs with tokens as keys) is walked, not
    // learned: compiling a pattern per event would cost more than JSON.parse.
    if (ok && out.learns < MAX_LEARNS) {
      out.learns++;
      learn(chat, out);
    }
  }
  s = "";
  if (!ok) return false;
  // Reasoning text is output too (see stream.ts); reasoning_content wins over reasoning.
  if (chat) out.text = out.content + (out.reasoningContent ?? out.reasoning ?? "");
  return true;
}
