/**
 * An incremental HTTP/1.1 response reader (RFC 9112): status line, header fields, then the body framed by
 * chunked transfer coding, Content-Length, or the connection's close. Interim 1xx responses are skipped. It
 * never buffers body bytes: each read's body part goes straight to the sink (after chunk framing is removed),
 * so the caller can timestamp and parse it in place. Anything that is not HTTP/1.x throws HttpProtocolError.
 */

export class HttpProtocolError extends Error {
  readonly code = "HTTP_PROTOCOL";
}

export interface ResponseHead {
  status: number;
  /** Lower-case field names; repeated fields joined with ", ". */
  headers: Record<string, string>;
  /** The connection may carry another request after this response. */
  keepAlive: boolean;
  /** Seconds from a `Keep-Alive: timeout=N` field, when the server sent one. */
  keepAliveTimeoutS: number | undefined;
}

export interface ResponseSink {
  onHead(head: ResponseHead): void;
  onBody(bytes: Buffer): void;
  onComplete(): void;
}

/** A head longer than this is not a response we can use (and protects against a server that never ends it). */
const MAX_HEAD_BYTES = 64 * 1024;
const MAX_CHUNK_LINE = 4096;
const HEAD_END = Buffer.from("\r\n\r\n", "latin1");
/** RFC 9110 field-name token. */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

// Parser states: plain numbers, not an enum (no enums anywhere in the sources).
const HEAD = 0;
const LENGTH = 1;
const CHUNK_SIZE = 2;
const CHUNK_DATA = 3;
const CHUNK_END = 4;
const TRAILERS = 5;
const UNTIL_CLOSE = 6;
const DONE = 7;

/** 65536 → "64 KiB (65536 bytes)": the limit as a reader thinks of it, and exactly. */
function sizeText(bytes: number): string {
  return bytes >= 1024 && bytes % 1024 === 0 ? `${bytes / 1024} KiB (${bytes} bytes)` : `${bytes} bytes`;
}

export class ResponseParser {
  private state = HEAD;
  /** Bytes of an unfinished line (head, chunk-size or trailer line) carried over from the previous read. */
  private partial = "";
  private headBytes = 0;
  private lines: string[] = [];
  private remaining = 0;
  head: ResponseHead | undefined;

  constructor(
    private readonly sink: ResponseSink,
    private readonly method: string,
  ) {}

  get done(): boolean {
    return this.state === DONE;
  }

  /** Whether the connection's end is the body's end (no framing): then `end()` completes the response. */
  get closeDelimited(): boolean {
    return this.state === UNTIL_CLOSE;
  }

  feed(buf: Buffer): void {
    let p = 0;
    const n = buf.length;
    while (p < n) {
      switch (this.state) {
        case HEAD:
          p = this.readHead(buf, p);
          break;
        case LENGTH: {
          const take = Math.min(this.remaining, n - p);
          this.sink.onBody(buf.subarray(p, p + take));
          p += take;
          this.remaining -= take;
          if (this.remaining === 0) this.complete();
          break;
        }
        case CHUNK_SIZE:
          p = this.readChunkSize(buf, p);
          break;
        case CHUNK_DATA: {
          const take = Math.min(this.remaining, n - p);
          this.sink.onBody(buf.subarray(p, p + take));
          p += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = CHUNK_END;
          break;
        }
        case CHUNK_END:
          p = this.readChunkEnd(buf, p);
          break;
        case TRAILERS:
          p = this.readTrailers(buf, p);
          break;
        case UNTIL_CLOSE:
          this.sink.onBody(p === 0 ? buf : buf.subarray(p));
          p = n;
          break;
        case DONE:
          // No pipelining: a byte after the response belongs to no request.
          throw new HttpProtocolError("the server sent data after the end of the response");
      }
    }
  }

  /** The connection ended: completes a close-delimited body; anything else ended early (the caller reports it). */
  end(): boolean {
    if (this.state === UNTIL_CLOSE) {
      this.complete();
      return true;
    }
    return this.state === DONE;
  }

  /**
   * One line (LF-terminated, CR dropped) from buf at p into `partial`; the index after it, or -1 if incomplete.
   * `before` is how much of the section (head, trailers) came before this line: the limit is the section's, and
   * the message says that limit and what was received, not the room left for this one line.
   */
  private line(buf: Buffer, p: number, limit: number, what: string, before = 0): number {
    const lf = buf.indexOf(10, p);
    const end = lf < 0 ? buf.length : lf;
    const received = before + this.partial.length + (end - p);
    if (received > limit) {
      // Bytes where the CRLF after a chunk's data belongs (`what` empty) are more data than the chunk declared.
      throw new HttpProtocolError(
        what === ""
          ? "chunk data longer than its declared size"
          : `${what} exceeds the ${sizeText(limit)} limit: ${received} bytes received so far`,
      );
    }
    const text = this.partial + buf.toString("latin1", p, end);
    if (lf < 0) {
      this.partial = text;
      return -1;
    }
    this.partial = text.endsWith("\r") ? text.slice(0, -1) : text;
    return lf + 1;
  }

  private takeLine(): string {
    const l = this.partial;
    this.partial = "";
    return l;
  }

  private readHead(buf: Buffer, p: number): number {
    // Common case: the whole head in this read, nothing carried over: one search and one decode.
    if (this.partial.length === 0 && this.lines.length === 0) {
      const end = buf.indexOf(HEAD_END, p);
      if (end >= 0 && end - p <= MAX_HEAD_BYTES) {
        const lines = buf.toString("latin1", p, end).split("\r\n");
        // Bare LF line ends, or blank lines before the status line: the line-by-line path below.
        let plain = lines[0]!.length > 0;
        for (let k = 0; k < lines.length && plain; k++) if (lines[k]!.includes("\n")) plain = false;
        if (plain) {
          this.lines = lines;
          this.startBody(this.parseHead());
          return end + 4;
        }
      }
    }
    for (;;) {
      const before = p;
      // headBytes already counts the carried-over partial line, which line() counts again.
      const next = this.line(buf, p, MAX_HEAD_BYTES, "response head", this.headBytes - this.partial.length);
      if (next < 0) {
        this.headBytes += buf.length - before;
        return buf.length;
      }
      this.headBytes += next - before;
      p = next;
      const l = this.takeLine();
      if (l.length > 0) {
        // Whitespace before the status line is tolerated (RFC 9112 §2.2); blank lines before it are skipped.
        this.lines.push(l);
        continue;
      }
      if (this.lines.length === 0) continue;
      this.startBody(this.parseHead());
      return p;
    }
  }

  private parseHead(): ResponseHead {
    const lines = this.lines;
    this.lines = [];
    this.headBytes = 0;
    const statusLine = lines[0]!;
    // HTTP/1.x SP 3DIGIT [SP reason]
    const c = (k: number) => statusLine.charCodeAt(k);
    const digit = (k: number) => c(k) >= 48 && c(k) <= 57;
    if (
      !statusLine.startsWith("HTTP/1.") ||
      (c(7) !== 48 && c(7) !== 49) ||
      c(8) !== 32 ||
      !digit(9) ||
      !digit(10) ||
      !digit(11) ||
      (statusLine.length > 12 && c(12) !== 32)
    )
      throw new HttpProtocolError(`not an HTTP/1.x status line: '${statusLine.slice(0, 80)}'`);
    const headers: Record<string, string> = {};
    for (let k = 1; k < lines.length; k++) {
      const f = lines[k]!;
      const colon = f.indexOf(":");
      // Obsolete line folding and fields without a name are refused, as RFC 9112 §5.2 allows.
      if (colon <= 0 || !FIELD_NAME.test(f.slice(0, colon)))
        throw new HttpProtocolError(`malformed header field: '${f.slice(0, 80)}'`);
      const name = f.slice(0, colon).toLowerCase();
      const value = f.slice(colon + 1).trim();
      const prev = headers[name];
      headers[name] = prev === undefined ? value : `${prev}, ${value}`;
    }
    const http10 = c(7) === 48;
    const connection = headers["connection"];
    let keepAlive = !http10;
    if (connection !== undefined) {
      const tokens = connection
        .toLowerCase()
        .split(",")
        .map((t) => t.trim());
      if (tokens.includes("close")) keepAlive = false;
      else if (http10 && tokens.includes("keep-alive")) keepAlive = true;
    }
    const kaField = headers["keep-alive"];
    const ka = kaField === undefined ? null : /\btimeout=(\d+)/i.exec(kaField);
    return {
      status: (c(9) - 48) * 100 + (c(10) - 48) * 10 + (c(11) - 48),
      headers,
      keepAlive,
      keepAliveTimeoutS: ka ? Number(ka[1]) : undefined,
    };
  }

  private startBody(head: ResponseHead): void {
    if (head.status >= 100 && head.status < 200) {
      // Interim response (100 Continue, 103 Early Hints): the final one follows. 101 would switch protocols.
      if (head.status === 101) throw new HttpProtocolError("the server switched protocols (101)");
      return;
    }
    this.head = head;
    const te = head.headers["transfer-encoding"];
    const cl = head.headers["content-length"];
    if (this.method === "HEAD" || head.status === 204 || head.status === 304) {
      this.sink.onHead(head);
      this.complete();
      return;
    }
    if (te !== undefined) {
      const codings = te.toLowerCase().split(",");
      if (codings[codings.length - 1]!.trim() === "chunked") {
        this.sink.onHead(head);
        this.state = CHUNK_SIZE;
        return;
      }
      // Another final coding: the body runs to the close (RFC 9112 §6.3).
      head.keepAlive = false;
      this.sink.onHead(head);
      this.state = UNTIL_CLOSE;
      return;
    }
    if (cl !== undefined) {
      const values = new Set(cl.split(",").map((v) => v.trim()));
      const v = values.size === 1 ? [...values][0]! : "";
      if (!/^\d{1,15}$/.test(v)) throw new HttpProtocolError(`invalid Content-Length '${cl.slice(0, 40)}'`);
      this.sink.onHead(head);
      this.remaining = Number(v);
      if (this.remaining === 0) this.complete();
      else this.state = LENGTH;
      return;
    }
    head.keepAlive = false;
    this.sink.onHead(head);
    this.state = UNTIL_CLOSE;
  }

  private readChunkSize(buf: Buffer, p: number): number {
    // Common case, once per token event on a paced stream: `<hex>\r\n` whole in this read, read from the bytes.
    if (this.partial.length === 0) {
      const n = buf.length;
      let size = 0;
      let k = p;
      for (; k < n && k - p < 12; k++) {
        const c = buf[k]!;
        const v =
          c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
        if (v < 0) break;
        size = size * 16 + v;
      }
      if (k > p && k + 1 < n && buf[k] === 13 && buf[k + 1] === 10) {
        if (size === 0) this.state = TRAILERS;
        else {
          this.remaining = size;
          this.state = CHUNK_DATA;
        }
        return k + 2;
      }
      // Extensions, a bare LF, a line split across reads, too many digits: the general path below.
    }
    const next = this.line(buf, p, MAX_CHUNK_LINE, "chunk size line");
    if (next < 0) return buf.length;
    const l = this.takeLine();
    const semi = l.indexOf(";");
    const hex = (semi < 0 ? l : l.slice(0, semi)).trim();
    if (!/^[0-9a-fA-F]{1,12}$/.test(hex))
      throw new HttpProtocolError(`invalid chunk size line '${l.slice(0, 40)}'`);
    const size = Number.parseInt(hex, 16);
    if (size === 0) this.state = TRAILERS;
    else {
      this.remaining = size;
      this.state = CHUNK_DATA;
    }
    return next;
  }

  private readChunkEnd(buf: Buffer, p: number): number {
    if (this.partial.length === 0 && p + 1 < buf.length && buf[p] === 13 && buf[p + 1] === 10) {
      this.state = CHUNK_SIZE;
      return p + 2;
    }
    // The CRLF after chunk data; a bare LF is accepted like a line end elsewhere.
    const next = this.line(buf, p, 2, "");
    if (next < 0) return buf.length;
    if (this.takeLine().length !== 0) throw new HttpProtocolError("chunk data longer than its declared size");
    this.state = CHUNK_SIZE;
    return next;
  }

  private readTrailers(buf: Buffer, p: number): number {
    for (;;) {
      const before = p;
      const next = this.line(buf, p, MAX_HEAD_BYTES, "trailer section", this.headBytes - this.partial.length);
      if (next < 0) {
        this.headBytes += buf.length - before;
        return buf.length;
      }
      this.headBytes += next - before;
      p = next;
      // Trailer fields are read past; nothing in a completion stream depends on them.
      if (this.takeLine().length === 0) {
        this.headBytes = 0;
        this.complete();
        return p;
      }
    }
  }

  private complete(): void {
    this.state = DONE;
    this.sink.onComplete();
  }
}
