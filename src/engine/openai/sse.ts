/**
 * Bytes → SSE events: a streaming UTF-8 decoder (a multi-byte character may straddle two reads) in front of
 * eventsource-parser, which handles the whole spec (CRLF/CR line ends, multi-line `data:`, comments, BOM).
 * Every event parsed from one network read gets that read's timestamp: the client cannot know more.
 */
import { createParser, type EventSourceParser, type ParseError } from "eventsource-parser";

export interface SseHandlers {
  onData(data: string, timeNs: number): void;
  /** Not SSE at all (a line with an unknown field, an oversized buffer). `retry:` problems are ignored. */
  onMalformed(detail: string): void;
}

export class SseReader {
  private readonly decoder = new TextDecoder("utf-8", { fatal: false });
  private readonly parser: EventSourceParser;
  private timeNs = 0;

  constructor(handlers: SseHandlers) {
    this.parser = createParser({
      onEvent: (ev) => handlers.onData(ev.data, this.timeNs),
      onError: (err: ParseError) => {
        if (err.type === "invalid-retry") return;
        const line = err.line ?? err.field ?? "";
        handlers.onMalformed(`${err.type}${line ? ` '${line.slice(0, 80)}'` : ""}`);
      },
    });
  }

  feed(bytes: Uint8Array, timeNs: number): void {
    this.timeNs = timeNs;
    this.parser.feed(this.decoder.decode(bytes, { stream: true }));
  }

  /** End of body: flush the decoder and parse a last event that lacks its blank line. */
  end(timeNs: number): void {
    this.timeNs = timeNs;
    // Two line ends complete a trailing event; after a well-terminated stream they dispatch nothing.
    this.parser.feed(`${this.decoder.decode()}\n\n`);
  }
}
