/**
 * The HTTP seam of the openai backend: one small interface, two implementations.
 *
 * - The fast path (http1/pool.ts): our own HTTP/1.1 client on net/tls sockets, one timestamp per network read,
 *   bodies framed in place. It serves every direct connection, http:// and https://, custom CA and --insecure
 *   included (those are tls.connect options). It is the one measured in docs/performance.md (client-overhead).
 * - The library path (undici-transport.ts): undici's ProxyAgent, for what the fast path does not do: a target
 *   reached through an HTTP(S) proxy (HTTP_PROXY / HTTPS_PROXY, absolute-form requests or a CONNECT tunnel,
 *   proxy auth, TLS to the proxy). Its own client cost is measured too (docs/openai-backend.md, "Transports").
 *
 * Both send `accept-encoding: identity` (the client never decompresses: it stamps and parses bytes as they
 * arrive) and fail an exchange whose response is encoded anyway with HTTP_ENCODING.
 */
import type { ResponseHead } from "./http1/response-parser.ts";

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

/** When the request left and the answer began (`nowNs()`); firstByteNs is undefined if nothing came back. */
export interface ExchangeTimes {
  /** The request's bytes were handed to the socket (after the client's own preparation). */
  sentNs: number;
  firstByteNs: number | undefined;
}

export interface Transport {
  /** Sends one request and streams its response to `handler`; resolves when it ended or the handler stopped it. */
  request(req: HttpRequest, handler: ResponseHandler, signal?: AbortSignal): Promise<ExchangeTimes>;
  /** Closes every socket at once, in-flight ones too. */
  close(): Promise<void>;
}

/** How the server's certificate is checked (https:// targets and https:// proxies). */
export interface TlsSettings {
  /** PEM certificates that replace the default roots (`--ca_cert`), as curl's --cacert does. */
  ca?: string | undefined;
  /** Skip verification (`--insecure`): a self-signed server, a benchmark on a trusted network. */
  insecure?: boolean | undefined;
}

/** Buffers a whole (small) response: for probes and model lists, never on the measured path. */
export async function fetchText(
  transport: Transport,
  req: HttpRequest,
  maxBytes = 1 << 20,
): Promise<{ status: number; text: string }> {
  let status = 0;
  const parts: Buffer[] = [];
  let size = 0;
  await transport.request(req, {
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
  if (size > maxBytes) throw new HttpClientError("HTTP_TOO_LARGE", `response larger than ${maxBytes} bytes`);
  return { status, text: Buffer.concat(parts).toString("utf8") };
}

/** The request asked for `accept-encoding: identity`; a response encoded anyway cannot be read as SSE or JSON. */
export function checkEncoding(head: Pick<ResponseHead, "status" | "headers">): void {
  const enc = head.headers["content-encoding"]?.trim().toLowerCase();
  if (enc === undefined || enc === "" || enc === "identity") return;
  throw new HttpClientError(
    "HTTP_ENCODING",
    `HTTP ${head.status} with content-encoding '${enc.slice(0, 40)}' although the request asked for identity: ` +
      "the client does not decompress (turn compression off on the server or proxy)",
  );
}

/** Node's codes for a certificate it refused. */
const CERT_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_SIGNATURE_FAILURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** A socket error as an HttpClientError; a refused certificate says which flags would change that. */
export function socketError(err: NodeJS.ErrnoException): HttpClientError {
  const code = err.code ?? "ECONNERROR";
  if (CERT_CODES.has(code))
    return new HttpClientError(
      code,
      `the server's TLS certificate was refused (${err.message}): pass its CA with --ca_cert FILE, or --insecure to skip verification`,
      { cause: err },
    );
  return new HttpClientError(code, err.message, { cause: err });
}
