/**
 * Bytes → SSE events: a streaming UTF-8 decoder (a multi-byte character may straddle two reads), then a split
 * of the text on blank lines, because servers stream `data: <json>\n\n` and nothing else. At the first text
 * that is anything else (a CR, a comment, another field, multi-line data) the rest of the body goes to
 * eventsource-parser, which handles the whole spec; the switch happens between events, so it starts clean.
 * Every event parsed from one network read gets that read's timestamp: the client cannot know more.
 *
 * An event may hold at most MAX_EVENT_CHARS characters, from its first line to its blank line (the slow path
 * counts what eventsource-parser buffers): past that the reader stops and reports it, so a server cannot make the
 * client buffer, scan or parse an unbounded event.
 */
import { StringDecoder } from "node:string_decoder";
import { createParser, type EventSourceParser, type ParseError } from "eventsource-parser";

/** Longest event (characters of decoded text, line breaks included) a response may send: 1 Mi. */
export const MAX_EVENT_CHARS = 1 << 20;

export interface SseHandlers {
  onData(data: string, timeNs: number): void;
  /**
   * Offered each event of the common `data: x` form in place first: returns the index after the event's blank
   * line when it consumed the event, else -1 (the event is then split off and passed to onData).
   */
  onFramed?(text: string, pos: number, timeNs: number): number;
  /** Not SSE at all (a line with an unknown field). `retry:` problems are ignored. */
  onMalformed(detail: string): void;
  /** An event longer than `limit` (`received`: characters of it read so far, when known); the reader stops. */
  onOversized(limit: number, received: number | undefined): void;
}

export class SseReader {
  // Not TextDecoder: its streaming mode goes through ICU and cost ~10 % of the client's CPU at 1,000 streams.
  private readonly decoder = new StringDecoder("utf8");
  private parser: EventSourceParser | undefined;
  /** Text after the last complete event of the fast path. */
  private pending = "";
  private started = false;
  private timeNs = 0;
  /** An event was too long: everything after it is ignored. */
  private stopped = false;

  constructor(
    private readonly handlers: SseHandlers,
    private readonly maxEventChars = MAX_EVENT_CHARS,
  ) {}

  feed(bytes: Uint8Array, timeNs: number): void {
    if (this.stopped) return;
    this.timeNs = timeNs;
    // One decode per read; the split below stays in V8 string builtins (Buffer methods cost a C++ call each).
    let text = this.decoder.write(bytes);
    if (!this.started && text.length > 0) {
      this.started = true;
      // A UTF-8 BOM opens the stream at most once; StringDecoder keeps it, and eventsource-parser would not drop it.
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.parser) {
      this.parser.feed(text);
      return;
    }
    // Only the new text can hold a CR, and only from the end of the old pending text can a blank line start:
    // a multi-megabyte event arriving in many reads is not scanned again and again.
    if (text.includes("\r")) {
      this.toSlow(this.pending + text);
      this.pending = "";
      return;
    }
    const searchFrom = this.pending.length > 0 ? this.pending.length - 1 : 0;
    const s = this.pending.length > 0 ? this.pending + text : text;
    this.pending = "";
    let start = 0;
    let end = s.indexOf("\n\n", searchFrom);
    const framed = this.handlers.onFramed;
    while (end >= 0) {
      if (end - start > this.maxEventChars) {
        this.oversized(end - start);
        return;
      }
      if (framed !== undefined) {
        const next = framed.call(this.handlers, s, start, timeNs);
        if (next >= 0) {
          start = next;
          end = s.indexOf("\n\n", start);
          continue;
        }
      }
      if (!this.simpleEvent(s, start, end)) {
        this.toSlow(s.slice(start));
        return;
      }
      start = end + 2;
      end = s.indexOf("\n\n", start);
    }
    if (s.length - start > this.maxEventChars) this.oversized(s.length - start);
    else if (start < s.length) this.pending = s.slice(start);
  }

  /** End of body: flush the decoder and parse a last event that lacks its blank line. */
  end(timeNs: number): void {
    if (this.stopped) return;
    this.timeNs = timeNs;
    const rest = this.pending + this.decoder.end();
    this.pending = "";
    if (!this.parser) {
      if (rest.length === 0) return;
      this.toSlow(rest);
    } else if (rest.length > 0) this.parser.feed(rest);
    // Two line ends complete a trailing event; after a well-terminated stream they dispatch nothing.
    if (!this.stopped) this.parser?.feed("\n\n");
  }

  private oversized(received: number | undefined): void {
    this.stopped = true;
    this.pending = "";
    this.handlers.onOversized(this.maxEventChars, received);
  }

  /** One `data: x` line (x not empty) between start and the blank line at end: dispatched, else false. */
  private simpleEvent(s: string, start: number, end: number): boolean {
    if (
      s.charCodeAt(start) !== 100 || // d
      s.charCodeAt(start + 1) !== 97 || // a
      s.charCodeAt(start + 2) !== 116 || // t
      s.charCodeAt(start + 3) !== 97 || // a
      s.charCodeAt(start + 4) !== 58 // :
    )
      return false;
    if (s.indexOf("\n", start) !== end) return false;
    let from = start + 5;
    if (s.charCodeAt(from) === 32) from++;
    // `data:` or `data: ` alone is an empty event, which the spec treats subtly: left to the parser.
    if (from >= end) return false;
    this.handlers.onData(s.slice(from, end), this.timeNs);
    return true;
  }

  private toSlow(rest: string): void {
    this.parser = createParser({
      // The parser's own bound covers a partial line plus the data lines of an unfinished event; an event that
      // arrives whole in one feed is checked here.
      maxBufferSize: this.maxEventChars,
      onEvent: (ev) => {
        if (this.stopped) return;
        if (ev.data.length > this.maxEventChars) this.oversized(ev.data.length);
        else this.handlers.onData(ev.data, this.timeNs);
      },
      onError: (err: ParseError) => {
        if (this.stopped || err.type === "invalid-retry") return;
        if (err.type === "max-buffer-size-exceeded") {
          this.oversized(undefined);
          return;
        }
        const line = err.line ?? err.field ?? "";
        this.handlers.onMalformed(`${err.type}${line ? ` '${line.slice(0, 80)}'` : ""}`);
      },
    });
    this.parser.feed(rest);
  }
}
