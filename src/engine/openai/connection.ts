/**
 * One keep-alive pool to an OpenAI-compatible server, sized to the benchmark's concurrency so requests never
 * queue inside the HTTP client (that wait would be added to TTFT). undici's 300 s default body/header timeouts
 * are replaced by `--request_timeout`, applied to silence (no bytes), not to total length: a long generation
 * that keeps streaming is never cut, a stalled one is.
 */
import { Agent, request } from "undici";

export type OpenAiEndpoint = "completions" | "chat";

export interface OpenAiBackendOptions {
  /** Server root, with or without the trailing `/v1` (http://host:8000 or http://host:8000/v1). */
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
  readonly agent: Agent;
  readonly root: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly timeoutMs: number;

  constructor(readonly opts: OpenAiBackendOptions) {
    this.root = apiRoot(opts.baseUrl);
    this.url = this.root + endpointPath(opts.endpoint);
    this.timeoutMs = opts.requestTimeoutMs;
    this.agent = new Agent({
      connections: opts.concurrency > 0 ? opts.concurrency : null,
      keepAliveTimeout: 60_000,
      headersTimeout: opts.requestTimeoutMs,
      bodyTimeout: opts.requestTimeoutMs,
    });
    this.headers = {
      "content-type": "application/json",
      accept: "text/event-stream",
      ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}),
      ...opts.headers,
    };
  }

  /** GET `<root><path>` as JSON; undefined when the server has no such route or answers with something else. */
  async getJson(path: string, fromServerRoot = false): Promise<unknown> {
    const base = fromServerRoot ? this.root.replace(/\/v1$/, "") : this.root;
    try {
      const res = await request(base + path, {
        method: "GET",
        dispatcher: this.agent,
        headers: { ...this.headers, accept: "application/json" },
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      const text = await res.body.text();
      if (res.statusCode >= 300) return undefined;
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    // destroy, not close: a stalled server must not keep the benchmark alive after the run.
    await this.agent.destroy();
  }
}
