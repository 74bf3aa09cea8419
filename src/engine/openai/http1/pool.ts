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
import { onAbort } from "../../../util/abort-callbacks.ts";
import { nowNs } from "../../../util/clock.ts";
import { fetchText, type TlsSettings, type Transport } from "../transport.ts";
import {
  Connection,
  type ConnectionOwner,
  type Exchange,
  type ExchangeTimes,
  HttpClientError,
  type HttpRequest,
  type ResponseHandler,
} from "./connection.ts";

export { type ExchangeTimes, HttpClientError, type HttpRequest, type ResponseHandler };

export interface PoolOptions {
  /** Sockets at most; <= 0: no limit. */
  connections: number;
  timeoutMs: number;
  /** Fields sent with every request (`host` and `content-length` are the pool's). */
  headers?: Readonly<Record<string, string>>;
  /** Certificate checks of an https: origin. */
  tls?: TlsSettings | undefined;
}

/** A request waiting for a socket: `use` gives it one, `fail` ends it when the pool closes. */
interface Waiter {
  use(c: Connection): void;
  fail(err: HttpClientError): void;
}

/** Failures of a reused socket before any byte came back: the keep-alive race, retried once. */
const RETRYABLE = new Set(["HTTP_CLOSED", "ECONNRESET", "EPIPE"]);

export class HttpPool implements ConnectionOwner, Transport {
  readonly timeoutMs: number;
  readonly tls: TlsSettings | undefined;
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
    this.tls = opts.tls;
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
      let unregister: (() => void) | undefined;
      let waiter: Waiter | undefined;
      let retried = false;
      const done = () => {
        unregister?.();
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
        // Not an EventTarget listener per request: see util/abort-callbacks.ts (garbage kept alive by it).
        unregister = onAbort(signal, () => {
          if (waiter !== undefined) {
            this.dropWaiter(waiter);
            waiter = undefined;
          }
          if (conn?.exchange === x) conn.fail(abortError());
          else x.reject(abortError());
        });
      }
      waiter = this.acquire(use, (err) => x.reject(err));
    });
  }

  /** Buffers a whole (small) response: for probes and model lists, never on the measured path. */
  fetchText(req: HttpRequest, maxBytes?: number): Promise<{ status: number; text: string }> {
    return fetchText(this, req, maxBytes);
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
