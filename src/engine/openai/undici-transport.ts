/**
 * The library transport: undici's ProxyAgent, for targets reached through an HTTP(S) proxy, which the fast path
 * (http1/pool.ts) does not do. An http:// target goes to an http:// proxy as absolute-form requests (what every
 * forward proxy takes); an https:// target, or any target behind an https:// proxy, through a CONNECT tunnel.
 * Proxy credentials in the URL become `proxy-authorization` (undici's doing). `--ca_cert` and `--insecure` apply
 * to the server's certificate; an https:// proxy's own certificate is checked against the default roots.
 *
 * Times are coarser than the fast path's: `sentNs` is when the request was handed to undici and `firstByteNs`
 * when its response head was parsed; each body chunk is stamped as the stream yields it. The client's own cost
 * per token event is higher (docs/openai-backend.md, "Transports").
 */
import { Agent, type Dispatcher, ProxyAgent } from "undici";
import { nowNs } from "../../util/clock.ts";
import type { ProxyChoice } from "./proxy-env.ts";
import {
  checkEncoding,
  type ExchangeTimes,
  fetchText,
  HttpClientError,
  type HttpRequest,
  type ResponseHandler,
  socketError,
  type TlsSettings,
  type Transport,
} from "./transport.ts";

export interface UndiciTransportOptions {
  /** Without one, a direct connection (measurement only: the fast path serves those). */
  proxy: ProxyChoice | undefined;
  /** Sockets at most; <= 0: no limit. */
  connections: number;
  /** Longest silence: connecting, waiting for the head, or between body chunks. */
  timeoutMs: number;
  headers?: Readonly<Record<string, string>>;
  tls?: TlsSettings | undefined;
}

/** Fields the transport sets itself. */
const OWN_FIELDS = new Set(["host", "content-length", "transfer-encoding", "connection"]);

export class UndiciTransport implements Transport {
  private readonly agent: Dispatcher;
  private readonly headers: Record<string, string> = {};
  private readonly origin: string;
  private closed = false;

  constructor(
    origin: URL,
    private readonly opts: UndiciTransportOptions,
  ) {
    this.origin = origin.origin;
    for (const [k, v] of Object.entries(opts.headers ?? {}))
      if (!OWN_FIELDS.has(k.toLowerCase())) this.headers[k] = v;
    const requestTls = {
      ...(opts.tls?.ca !== undefined ? { ca: opts.tls.ca } : {}),
      ...(opts.tls?.insecure === true ? { rejectUnauthorized: false } : {}),
    };
    const common = {
      ...(opts.connections > 0 ? { connections: opts.connections } : {}),
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    };
    this.agent = opts.proxy
      ? new ProxyAgent({
          uri: opts.proxy.url,
          // Forward proxies take absolute-form requests for http:// targets; many refuse CONNECT but to 443.
          proxyTunnel: origin.protocol === "https:",
          requestTls,
          ...common,
        })
      : new Agent({ connect: { ...requestTls, timeout: opts.timeoutMs }, ...common });
  }

  async request(req: HttpRequest, handler: ResponseHandler, signal?: AbortSignal): Promise<ExchangeTimes> {
    if (this.closed) throw new HttpClientError("HTTP_POOL_CLOSED", "the connection pool is closed");
    if (signal?.aborted) throw new HttpClientError("ABORT_ERR", "the request was aborted");
    const times: ExchangeTimes = { sentNs: nowNs(), firstByteNs: undefined };
    let res: Dispatcher.ResponseData;
    try {
      res = await this.agent.request({
        origin: this.origin,
        path: req.path,
        method: req.method,
        headers: req.headers ? { ...this.headers, ...req.headers } : this.headers,
        body: req.body ?? (req.method === "POST" ? "" : null),
        signal: signal ?? null,
      });
    } catch (err) {
      throw this.fail(err, times, signal);
    }
    times.firstByteNs = nowNs();
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers))
      if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
    try {
      checkEncoding({ status: res.statusCode, headers });
      handler.onHead({ status: res.statusCode, headers, keepAlive: true, keepAliveTimeoutS: undefined });
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (handler.onBody(chunk, nowNs()) === false) break;
      }
    } catch (err) {
      discard(res.body);
      throw this.fail(err, times, signal);
    }
    // A stopped exchange leaves the rest unread: the socket is dropped, as the fast path does.
    if (!res.body.readableEnded) discard(res.body);
    return times;
  }

  fetchText(req: HttpRequest, maxBytes?: number): Promise<{ status: number; text: string }> {
    return fetchText(this, req, maxBytes);
  }

  private fail(err: unknown, times: ExchangeTimes, signal: AbortSignal | undefined): HttpClientError {
    const out = toClientError(err, signal?.aborted === true, this.opts);
    out.times = { ...times };
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    // destroy(), not close(): in-flight requests end now (a stalled server must not hold the run).
    await this.agent.destroy().catch(() => undefined);
  }
}

/** Drops an unread body (and its socket); the abort error that destroying it emits is expected. */
function discard(body: Dispatcher.ResponseData["body"]): void {
  body.on("error", () => {});
  body.destroy();
}

/** undici's errors in the fast path's codes, so client.ts classifies both transports alike. */
function toClientError(err: unknown, aborted: boolean, opts: UndiciTransportOptions): HttpClientError {
  if (err instanceof HttpClientError) return err;
  const e = err as NodeJS.ErrnoException & { cause?: unknown };
  const code = e.code ?? "";
  if (aborted || e.name === "AbortError") return new HttpClientError("ABORT_ERR", "the request was aborted");
  if (
    code === "UND_ERR_HEADERS_TIMEOUT" ||
    code === "UND_ERR_BODY_TIMEOUT" ||
    code === "UND_ERR_CONNECT_TIMEOUT"
  )
    return new HttpClientError("HTTP_TIMEOUT", `no data for ${opts.timeoutMs} ms`, { cause: err });
  if (code === "UND_ERR_SOCKET" || code === "UND_ERR_CLOSED")
    return new HttpClientError("HTTP_CLOSED", e.message, { cause: err });
  // A refused tunnel or proxy authentication (407) comes back as an undici error, not as a response.
  if (code.startsWith("UND_ERR") && opts.proxy !== undefined && /proxy/i.test(e.message))
    return new HttpClientError(
      "HTTP_PROXY",
      `the proxy ${opts.proxy?.shown} (${opts.proxy?.from}): ${e.message}`,
      {
        cause: err,
      },
    );
  if (code.startsWith("UND_ERR")) return new HttpClientError(code, e.message, { cause: err });
  // System and TLS errors keep their codes (ECONNREFUSED, certificate codes with their hint).
  const sys = (e.code === undefined && e.cause instanceof Error ? e.cause : e) as NodeJS.ErrnoException;
  if (typeof sys.code === "string") return socketError(sys);
  return new HttpClientError("HTTP_HANDLER", e.message ?? String(err), { cause: err });
}
