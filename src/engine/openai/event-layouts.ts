/**
 * Reads streamed events' JSON without JSON.parse's object tree (that tree was ~30 % of the client's CPU), with
 * JSON.parse's results. A character-by-character walk in JS (event-json-reader.ts) costs about what JSON.parse
 * does, so it only runs to learn an event's *layout*: the events of a server differ only in a few values (text, ids,
 * finish reason, counts, request ids). The layout becomes a template of literal pieces and value slots, compiled
 * to one regular expression; later events are matched by it and only the slot values are read. An event no
 * layout matches is walked, and its layout learned. Anything the walk does not read with certainty is left to
 * JSON.parse by the caller.
 */
import {
  CONTENT,
  FINISH,
  IDS,
  NUM,
  PROMPT_USAGE,
  REASONING,
  REASONING_CONTENT,
  resetEvent,
  ScannedEvent,
  type Slot,
  type SlotRecord,
  STR,
  TEXT,
  USAGE,
  walkEvent,
} from "./event-json-reader.ts";

export { ScannedEvent };

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
  [PROMPT_USAGE]: `(${RX_NUMBER}|null)`,
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
function matchTemplate(data: string, chat: boolean, out: ScannedEvent): boolean {
  const layouts = LAYOUTS[chat ? 1 : 0];
  for (let k = 0; k < layouts.length; k++) {
    const layout = layouts[k]!;
    const m = exec(layout.re, data);
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
      case PROMPT_USAGE:
        out.promptUsage = lit === "null" ? undefined : Number(lit);
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

/** Where the last walk found its slots (reused: learning never re-enters). */
const RECORD: SlotRecord = { spans: [], kinds: [] };

function learn(data: string, chat: boolean, out: ScannedEvent): void {
  const { spans, kinds } = RECORD;
  let source = "^";
  const captured: Slot[] = [];
  let from = 0;
  for (let k = 0; k < kinds.length; k++) {
    const kind = kinds[k]!;
    source += escapeRegExp(data.slice(from, spans[2 * k])) + RX_SLOT[kind];
    if (kind !== NUM && kind !== STR) captured.push(kind);
    from = spans[2 * k + 1]!;
  }
  source += escapeRegExp(data.slice(from));
  const framed = /[\r\n]/.test(data) ? undefined : new RegExp(`data: ?${source.slice(1)}\n\n`, "y");
  const layouts = LAYOUTS[chat ? 1 : 0];
  layouts.unshift({ re: new RegExp(`${source}$`), framed, captured, hasChoice: out.hasChoice });
  if (layouts.length > MAX_LAYOUTS) layouts.pop();
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
    resetEvent(out);
    readSlots(m, layout.captured, out);
    out.hasChoice = layout.hasChoice;
    if (chat) out.text = out.content + (out.reasoningContent ?? out.reasoning ?? "");
    return re.lastIndex;
  }
  return -1;
}

/** Reads one event's data into `out`; false: not read with certainty, use JSON.parse. */
export function scanEvent(data: string, chat: boolean, out: ScannedEvent): boolean {
  resetEvent(out);
  let ok = matchTemplate(data, chat, out);
  if (!ok) {
    // A stream whose events keep changing shape (say, per-token logprobs with tokens as keys) is walked, not
    // learned: compiling a pattern per event would cost more than JSON.parse.
    const record = out.learns < MAX_LEARNS ? RECORD : undefined;
    ok = walkEvent(data, chat, out, record);
    if (ok && record) {
      out.learns++;
      learn(data, chat, out);
    }
  }
  if (!ok) return false;
  // Reasoning text is output too (see stream.ts); reasoning_content wins over reasoning.
  if (chat) out.text = out.content + (out.reasoningContent ?? out.reasoning ?? "");
  return true;
}
