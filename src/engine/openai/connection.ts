/**
 * One keep-alive pool to an OpenAI-compatible server (a Transport: the fast http1/pool.ts, or undici through a
 * proxy; transport.ts says which serves what), sized to the benchmark's concurrency so
 * requests never queue inside the HTTP client (that wait would be added to TTFT). `--request_timeout` is applied
 * to silence (no bytes), not to total length: a long generation that keeps streaming is never cut, a stalled
 * one is.
 *
 * Credentials never stay in the URL: `user:password@` in the base URL becomes an HTTP Basic Authorization header
 * (an API key or an explicit Authorization header takes precedence), and `url`/`root` are credential-free, so any
 * message that names the server is safe to print. `redact` masks every secret in text a server sent back.
 */
import { HttpPool } from "./http1/pool.ts";
import type { ProxyChoice } from "./proxy-env.ts";
import { isSecretHeader, Redactor, splitCredentials } from "./secrets.ts";
import { fetchText, type TlsSettings, type Transport } from "./transport.ts";
import { UndiciTransport } from "./undici-transport.ts";

export type OpenAiEndpoint = "completions" | "chat";

export interface OpenAiBackendOptions {
  /** Server root, with or without the trailing `/v1` (http://host:8000 or http://host:8000/v1); `user:pw@` is Basic auth. */
  baseUrl: string;
  apiKey?: string | undefined;
  endpoint: OpenAiEndpoint;
  /** Extra request headers (`--header k=v`). */
  headers?: Readonly<Record<string, string>> | undefined;
  /** The `model` field of every request; default: --model. */
  servedModelName?: string | undefined;
  /** Longest silence (no bytes from the server) before a request fails with `timeout`. */
  requestTimeoutMs: number;
  /** Requests in flight at most (<= 0: unlimited); sizes the connection pool. */
  concurrency: number;
  /** Certificate checks of an https:// server (`--ca_cert`, `--insecure`). */
  tls?: TlsSettings | undefined;
  /** The proxy the environment names for this server (proxy-env.ts), read once by the caller. */
  proxy?: ProxyChoice | undefined;
  /**
   * "undici" sends direct connections through the library transport too: for measuring it
   * (bench/client-overhead --transport undici) and testing it without a proxy; default: the fast path.
   */
  transport?: "fast" | "undici" | undefined;
}

/** `/v1` root of the API: appended unless the base URL already ends with it. */
export function apiRoot(baseUrl: string): string {
  const trimmed = baseUrl.replace(/\/+$/, "");
  return /\/v1$/.test(trimmed) ? trimmed : `${trimmed}/v1`;
}

export function endpointPath(endpoint: OpenAiEndpoint): string {
  return endpoint === "chat" ? "/chat/completions" : "/completions";
}

export class OpenAiConnection {
  /** The fast path (http1/pool.ts) for direct connections, undici through a proxy (transport.ts). */
  readonly transport: Transport;
  /** "direct (fast HTTP/1.1 client)" or "proxy http://host:3128 (HTTPS_PROXY, undici transport)", for the log. */
  readonly route: string;
  readonly root: string;
  readonly url: string;
  /** Path (and query) of the endpoint on the server, e.g. `/v1/completions`. */
  readonly path: string;
  readonly timeoutMs: number;
  private readonly redactor: Redactor;

  constructor(readonly opts: OpenAiBackendOptions) {
    const { url: base, basic } = splitCredentials(opts.baseUrl);
    this.root = apiRoot(base);
    this.url = this.root + endpointPath(opts.endpoint);
    const u = new URL(this.url);
    this.path = u.pathname + u.search;
    this.timeoutMs = opts.requestTimeoutMs;
    const headers: Record<string, string> = {
      "content-type": "application/json",
      // The client stamps and parses bytes as they arrive and never decompresses (transport.ts).
      "accept-encoding": "identity",
      ...(basic ? { authorization: basic } : {}),
      ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}),
      ...opts.headers,
    };
    const proxyBasic = opts.proxy ? splitCredentials(opts.proxy.url).basic : undefined;
    this.redactor = new Redactor([
      basic,
      opts.apiKey,
      // A proxy's error page may quote the credentials it was sent.
      proxyBasic,
      ...Object.entries(headers)
        .filter(([name]) => isSecretHeader(name))
        .map(([, value]) => value),
    ]);
    const origin = new URL(u.origin);
    if (opts.proxy !== undefined || opts.transport === "undici") {
      this.transport = new UndiciTransport(origin, {
        proxy: opts.proxy,
        connections: opts.concurrency,
        timeoutMs: opts.requestTimeoutMs,
        headers,
        tls: opts.tls,
      });
      this.route = opts.proxy
        ? `proxy ${opts.proxy.shown} (${opts.proxy.from}, undici transport)`
        : "direct (undici transport)";
    } else {
      this.transport = new HttpPool(origin, {
        connections: opts.concurrency,
        timeoutMs: opts.requestTimeoutMs,
        headers,
        tls: opts.tls,
      });
      this.route = "direct (fast HTTP/1.1 client)";
    }
  }

  /** The text with every secret of this connection (key, credentials, auth-like header values) masked. */
  redact(text: string): string {
    return this.redactor.redact(text);
  }

  /** GET `<root><path>` as JSON; undefined when the server has no such route or answers with something else. */
  async getJson(path: string, fromServerRoot = false): Promise<unknown> {
    const base = new URL(fromServerRoot ? this.root.replace(/\/v1$/, "") : this.root);
    try {
      const res = await fetchText(this.transport, {
        method: "GET",
        path: base.pathname.replace(/\/+$/, "") + path,
        headers: { accept: "application/json" },
      });
      if (res.status >= 300) return undefined;
      return JSON.parse(res.text) as unknown;
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    // Every socket at once, in-flight ones too: a stalled server must not keep the benchmark alive after the run.
    await this.transport.close();
  }
}
