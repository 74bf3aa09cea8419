/**
 * A keep-alive HTTP/1.1 connection pool to one origin (http: or https:), made for streaming many responses
 * with little CPU: one write per request, and each network read handed to the caller with one timestamp, its
 * body bytes framed off in place. undici's request() cost ~3.5 µs of client CPU per token event here, more
 * than the whole per-event budget (docs/performance.md, bench/client-overhead).
 *
 * - At most `connections` sockets (<= 0: no limit); idle ones are reused most-recent first, and a waiting
 *   request gets the next socket freed. The benchmark sizes the pool to its concurrency, so requests never
 *   queue here (a wait would be added to TTFT).
 * - `timeoutMs` is silence, not length: no byte for that long (connecting, waiting for headers or mid-body)
 *   fails the request with HTTP_TIMEOUT. A long generation that keeps streaming is never cut.
 * - A socket is reused only after a complete, keep-alive response; one the server closes while idle leaves
 *   the pool, and a server's `Keep-Alive: timeout=N` retires idle sockets a second before N.
 */
import net from "node:net";
import tls from "node:tls";
import { nowNs } from "../../../util/clock.ts";
import {
  HttpProtocolError,
  type ResponseHead,
  ResponseParser,
  type ResponseSink,
} from "./response-parser.ts";

/** A failed exchange: `code` is a system code (ECONNREFUSED, ECONNRESET, EPIPE, ...) or one of HTTP_*. */
export class HttpClientError extends Error {
  /** When the request had been sent: its send and first-byte times (failed requests keep them too). */
  times: ExchangeTimes | undefined;
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface HttpRequest {
  method: "GET" | "POST";
  /** Path and query, e.g. `/v1/completions`. */
  path: string;
  /** Fields for this request, added to the pool's. */
  headers?: Readonly<Record<string, string>> | undefined;
  body?: string | undefined;
}

export interface ResponseHandler {
  onHead(head: ResponseHead): void;
  /**
   * Body bytes of one network read, transfer framing removed, with the read's arrival time. Valid only during
   * the call. Return false to stop: the connection is closed and the exchange resolves.
   */
  onBody(bytes: Buffer, timeNs: number): boolean;
}

export interface PoolOptions {
  /** Sockets at most; <= 0: no limit. */
  connections: number;
  timeoutMs: number;
  /** Fields sent with every request (`host` and `content-length` are the pool's). */
  headers?: Readonly<Record<string, string>>;
}

/** When the request left and the answer began (`nowNs()`); firstByteNs is undefined if nothing came back. */
export interface ExchangeTimes {
  /** The request's bytes were handed to the socket (after the client's own preparation). */
  sentNs: number;
  firstByteNs: number | undefined;
}

/** A request waiting for a socket: `use` gives it one, `fail` ends it when the pool closes. */
interface Waiter {
  use(c: Connection): void;
  fail(err: HttpClientError): void;
}

/** Failures of a reused socket before any byte came back: the keep-alive race, retried once. */
const RETRYABLE = new Set(["HTTP_CLOSED", "ECONNRESET", "EPIPE"]);

interface Exchange extends ExchangeTimes {
  method: string;
  handler: ResponseHandler;
  resolve(): void;
  reject(err: HttpClientError): void;
  /** Set when a socket takes the exchange. */
  parser: ResponseParser;
  /** Headers were received. */
  gotHead: boolean;
  stopped: boolean;
}

const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

class Connection implements ResponseSink {
  readonly socket: net.Socket;
  exchange: Exchange | undefined;
  /** A response completed on this socket and it may carry another. */
  private reusable = false;
  idleSince = 0;
  keepAliveMs: number | undefined;
  private readTimeNs = 0;
  closed = false;

  constructor(
    private readonly pool: HttpPool,
    url: URL,
  ) {
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(url.port) || (url.protocol === "https:" ? 443 : 80);
    this.socket =
      url.protocol === "https:"
        ? tls.connect({
            host,
            port,
            ...(net.isIP(host) ? {} : { servername: host }),
            ALPNProtocols: ["http/1.1"],
          })
        : net.connect({
            host,
            port,
            // Reads land in one buffer shared by every plain socket and are consumed before the callback returns
            // (the parser copies what it keeps): no Buffer and no stream machinery per read, which at one small
            // read per token event (paced streams) was most of the client's cost.
            onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => this.onRead(n, buf) },
          });
    this.socket.setNoDelay(true);
    // Once for the socket's life (re-arming per request costs timer work): any write or read restarts it, so
    // during an exchange it measures silence; an idle socket that times out is simply closed.
    if (pool.timeoutMs > 0) this.socket.setTimeout(pool.timeoutMs);
    // TLS sockets take no `onread`: their reads come as 'data' events.
    if (url.protocol === "https:") this.socket.on("data", (buf: Buffer) => this.onData(buf));
    this.socket.on("end", () => this.onEnd());
    this.socket.on("error", (err: NodeJS.ErrnoException) =>
      this.fail(new HttpClientError(err.code ?? "ECONNERROR", err.message, { cause: err })),
    );
    this.socket.on("close", () => this.onClose());
    this.socket.on("timeout", () =>
      this.fail(new HttpClientError("HTTP_TIMEOUT", `no data for ${this.pool.timeoutMs} ms`)),
    );
  }

  /** Exchanges started on this socket; from the second on, it is a reused (keep-alive) socket. */
  private exchanges = 0;
  reused = false;

  start(x: Exchange, wire: string): void {
    this.reused = this.exchanges++ > 0;
    x.parser = new ResponseParser(this, x.method);
    this.exchange = x;
    this.reusable = false;
    this.socket.write(wire);
    x.sentNs = nowNs();
  }

  // ResponseSink: called by the parser while it reads this.socket's data.
  onHead(head: ResponseHead): void {
    const x = this.exchange!;
    x.gotHead = true;
    if (head.keepAliveTimeoutS !== undefined) this.keepAliveMs = head.keepAliveTimeoutS * 1000;
    x.handler.onHead(head);
  }

  onBody(bytes: Buffer): void {
    const x = this.exchange!;
    if (x.stopped || bytes.length === 0) return;
    if (x.handler.onBody(bytes, this.readTimeNs) === false) x.stopped = true;
  }

  onComplete(): void {
    this.reusable = this.exchange!.parser.head?.keepAlive === true;
  }

  private onRead(n: number, buf: Uint8Array): boolean {
    this.onData(Buffer.from(buf.buffer, buf.byteOffset, n));
    return true;
  }

  private onData(buf: Buffer): void {
    const x = this.exchange;
    if (!x) {
      // An idle socket has nothing to say; whatever it is, the socket cannot be trusted with a request.
      this.destroy();
      return;
    }
    this.readTimeNs = nowNs();
    if (x.firstByteNs === undefined) x.firstByteNs = this.readTimeNs;
    try {
      x.parser.feed(buf);
    } catch (err) {
      if (x.parser.done && !x.stopped) {
        // The response was complete; what followed it is the server's error, not this request's.
        this.exchange = undefined;
        this.destroy();
        x.resolve();
        return;
      }
      this.fail(
        err instanceof HttpProtocolError
          ? new HttpClientError(err.code, err.message)
          : new HttpClientError("HTTP_HANDLER", (err as Error).message, { cause: err }),
      );
      return;
    }
    if (x.stopped) {
      this.exchange = undefined;
      this.destroy();
      x.resolve();
    } else if (x.parser.done) {
      this.exchange = undefined;
      if (this.reusable) this.pool.release(this);
      else this.destroy();
      x.resolve();
    }
  }

  private onEnd(): void {
    const x = this.exchange;
    if (x?.parser.closeDelimited) {
      x.parser.end();
      this.exchange = undefined;
      this.destroy();
      x.resolve();
      return;
    }
    this.fail(
      new HttpClientError(
        "HTTP_CLOSED",
        x?.gotHead
          ? "the server closed the connection before the response ended"
          : "the server closed the connection before responding",
      ),
    );
  }

  private onClose(): void {
    this.fail(new HttpClientError("HTTP_CLOSED", "the connection closed before the response ended"));
    this.closed = true;
    this.pool.forget(this);
  }

  /** Ends the exchange in progress (if any) with err and drops the socket. */
  fail(err: HttpClientError): void {
    const x = this.exchange;
    this.exchange = undefined;
    this.destroy();
    x?.reject(err);
  }

  destroy(): void {
    this.reusable = false;
    if (!this.socket.destroyed) this.socket.destroy();
    this.pool.forget(this);
  }
}

export class HttpPool {
  readonly timeoutMs: number;
  private readonly limit: number;
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  /** Requests waiting for a socket: `use` gives them one, `fail` ends them when the pool closes. */
  private readonly waiting: Array<{ use: (c: Connection) => void; fail: (err: HttpClientError) => void }> =
    [];
  private readonly fixedHeaders: string;
  private closed = false;

  constructor(
    readonly origin: URL,
    opts: PoolOptions,
  ) {
    if (origin.protocol !== "http:" && origin.protocol !== "https:")
      throw new HttpClientError("HTTP_URL", `unsupported URL scheme '${origin.protocol}' (http: or https:)`);
    this.timeoutMs = opts.timeoutMs;
    this.limit = opts.connections > 0 ? opts.connections : Number.POSITIVE_INFINITY;
    this.fixedHeaders = `host: ${origin.host}\r\n${headerLines(opts.headers ?? {})}`;
  }

  /** Sends one request and streams its response to `handler`; resolves when it ended or the handler stopped it. */
  request(req: HttpRequest, handler: ResponseHandler, signal?: AbortSignal): Promise<ExchangeTimes> {
    if (this.closed)
      return Promise.reject(new HttpClientError("HTTP_POOL_CLOSED", "the connection pool is closed"));
    if (signal?.aborted) return Promise.reject(abortError());
    const body = req.body ?? "";
    const wire =
      `${req.method} ${req.path} HTTP/1.1\r\n${this.fixedHeaders}${req.headers ? cachedHeaderLines(req.headers) : ""}` +
      `${req.method === "POST" || body.length > 0 ? `content-length: ${Buffer.byteLength(body)}\r\n` : ""}\r\n${body}`;
    return new Promise<ExchangeTimes>((resolve, reject) => {
      let conn: Connection | undefined;
      let onAbort: (() => void) | undefined;
      let waiter: Waiter | undefined;
      let retried = false;
      const done = () => {
        if (onAbort) signal!.removeEventListener("abort", onAbort);
      };
      const x: Exchange = {
        method: req.method,
        handler,
        parser: undefined as never,
        gotHead: false,
        stopped: false,
        sentNs: 0,
        firstByteNs: undefined,
        resolve: () => {
          done();
          resolve({ sentNs: x.sentNs, firstByteNs: x.firstByteNs });
        },
        reject: (err) => {
          // The keep-alive race: a reused socket the server closed just as this request went out. Nothing came
          // back, so the server did not answer it: sent once more on a fresh socket (as browsers do).
          if (
            !retried &&
            conn?.reused === true &&
            x.firstByteNs === undefined &&
            RETRYABLE.has(err.code) &&
            !this.closed
          ) {
            retried = true;
            const fresh = this.connect();
            conn = fresh;
            fresh.start(x, wire);
            return;
          }
          done();
          if (x.sentNs > 0) err.times = { sentNs: x.sentNs, firstByteNs: x.firstByteNs };
          reject(err);
        },
      };
      const use = (c: Connection) => {
        waiter = undefined;
        conn = c;
        c.start(x, wire);
      };
      if (signal) {
        onAbort = () => {
          if (waiter !== undefined) {
            this.dropWaiter(waiter);
            waiter = undefined;
          }
          if (conn?.exchange === x) conn.fail(abortError());
          else x.reject(abortError());
        };
        signal.addEventListener("abort", onAbort, { once: true });
      }
      waiter = this.acquire(use, (err) => x.reject(err));
    });
  }

  /** Buffers a whole (small) response: for probes and model lists, never on the measured path. */
  async fetchText(req: HttpRequest, maxBytes = 1 << 20): Promise<{ status: number; text: string }> {
    let status = 0;
    const parts: Buffer[] = [];
    let size = 0;
    await this.request(req, {
      onHead: (h) => {
        status = h.status;
      },
      onBody: (b) => {
        size += b.length;
        if (size > maxBytes) return false;
        parts.push(Buffer.from(b));
        return true;
      },
    });
    if (size > maxBytes)
      throw new HttpClientError("HTTP_TOO_LARGE", `response larger than ${maxBytes} bytes`);
    return { status, text: Buffer.concat(parts).toString("utf8") };
  }

  /** Hands `use` a socket now, or queues it and returns its place in the queue. */
  private acquire(use: (c: Connection) => void, fail: (err: HttpClientError) => void): Waiter | undefined {
    for (;;) {
      const c = this.idle.pop();
      if (!c) break;
      if (c.closed || c.socket.destroyed || !c.socket.readable) {
        c.destroy();
        continue;
      }
      // Retire a socket the server has (by its Keep-Alive hint) probably closed already, one second early.
      if (c.keepAliveMs !== undefined && nowNs() - c.idleSince > (c.keepAliveMs - 1000) * 1e6) {
        c.destroy();
        continue;
      }
      use(c);
      return undefined;
    }
    if (this.all.size < this.limit) {
      use(this.connect());
      return undefined;
    }
    const w: Waiter = { use, fail };
    this.waiting.push(w);
    return w;
  }

  private connect(): Connection {
    const c = new Connection(this, this.origin);
    this.all.add(c);
    return c;
  }

  private dropWaiter(w: Waiter): void {
    const i = this.waiting.indexOf(w);
    if (i >= 0) this.waiting.splice(i, 1);
  }

  /** A socket whose response completed: to the next waiting request, else idle. */
  release(c: Connection): void {
    if (this.closed) {
      c.destroy();
      return;
    }
    const next = this.waiting.shift();
    if (next) {
      next.use(c);
      return;
    }
    c.idleSince = nowNs();
    this.idle.push(c);
  }

  /** A socket that closed or failed leaves the pool; a waiting request gets a new one. */
  forget(c: Connection): void {
    if (!this.all.delete(c)) return;
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    if (!this.closed && this.waiting.length > 0 && this.all.size < this.limit) {
      this.waiting.shift()!.use(this.connect());
    }
  }

  /** Closes every socket at once: a stalled server must not keep the benchmark alive after the run. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiting.splice(0))
      w.fail(new HttpClientError("HTTP_POOL_CLOSED", "the connection pool was closed"));
    for (const c of [...this.all])
      c.fail(new HttpClientError("HTTP_POOL_CLOSED", "the connection pool was closed"));
    this.idle.length = 0;
  }
}

function abortError(): HttpClientError {
  return new HttpClientError("ABORT_ERR", "the request was aborted");
}

const RENDERED = new WeakMap<object, string>();

/** Header objects reused across requests (frozen constants) are rendered once. */
function cachedHeaderLines(h: Readonly<Record<string, string>>): string {
  let lines = RENDERED.get(h);
  if (lines === undefined) {
    lines = headerLines(h);
    RENDERED.set(h, lines);
  }
  return lines;
}

function headerLines(h: Readonly<Record<string, string>>): string {
  let s = "";
  for (const [k, v] of Object.entries(h)) {
    // A CR or LF in a field would split the request: refused, whoever supplied it.
    if (/[\r\n]/.test(k) || /[\r\n]/.test(v) || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k))
      throw new HttpClientError("HTTP_HEADER", `invalid header field '${k.slice(0, 40)}'`);
    const lower = k.toLowerCase();
    if (
      lower === "host" ||
      lower === "content-length" ||
      lower === "transfer-encoding" ||
      lower === "connection"
    )
      continue;
    s += `${k}: ${v}\r\n`;
  }
  return s;
}
