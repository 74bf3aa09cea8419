/**
 * One socket of the pool (pool.ts) and the exchange on it: writes a request in one write, stamps each network
 * read once, feeds it to the response parser, and settles the exchange exactly once (complete, stopped by the
 * handler, or failed: error, timeout, close). Plain sockets read with `onread` into one buffer shared by every
 * socket: each read is consumed (the parser copies what it keeps) before the callback returns.
 */
import net from "node:net";
import tls from "node:tls";
import { nowNs } from "../../../util/clock.ts";
import {
  checkEncoding,
  type ExchangeTimes,
  HttpClientError,
  type HttpRequest,
  type ResponseHandler,
  socketError,
  type TlsSettings,
} from "../transport.ts";
import {
  HttpProtocolError,
  type ResponseHead,
  ResponseParser,
  type ResponseSink,
} from "./response-parser.ts";

export interface Exchange extends ExchangeTimes {
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

export { type ExchangeTimes, HttpClientError, type HttpRequest, type ResponseHandler };

const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** What a connection needs from the pool that owns it. */
export interface ConnectionOwner {
  readonly timeoutMs: number;
  readonly tls: TlsSettings | undefined;
  /** A socket whose response completed and that may carry another request. */
  release(c: Connection): void;
  /** A socket that closed or failed. */
  forget(c: Connection): void;
}

export class Connection implements ResponseSink {
  readonly socket: net.Socket;
  exchange: Exchange | undefined;
  /** A response completed on this socket and it may carry another. */
  private reusable = false;
  idleSince = 0;
  keepAliveMs: number | undefined;
  private readTimeNs = 0;
  closed = false;

  constructor(
    private readonly pool: ConnectionOwner,
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
            ...(pool.tls?.ca !== undefined ? { ca: pool.tls.ca } : {}),
            ...(pool.tls?.insecure === true ? { rejectUnauthorized: false } : {}),
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
    this.socket.on("error", (err: NodeJS.ErrnoException) => this.fail(socketError(err)));
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
    checkEncoding(head);
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
          : err instanceof HttpClientError
            ? err
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
