/**
 * An OpenAI-compatible HTTP server over any `Engine` (node:http, no framework): `/v1/completions`,
 * `/v1/chat/completions`, `/v1/models`, `/health`. Requests go straight to the engine, whose own scheduler
 * batches them — the same one `throughput` drives. Shutdown stops accepting, lets requests in flight finish
 * within a grace period, then cancels the rest.
 *
 * Hostile clients: a request must arrive whole within `requestTimeoutMs` (headers and body; 408 after), a
 * body over `maxBodyBytes` or past the JSON shape limits is refused as it streams in, text prompts and large
 * bodies are handled off the event loop under a time limit (`RequestWorker`), and no error of a request or
 * its connection can end the process.
 */
import { timingSafeEqual } from "node:crypto";
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { Engine } from "../engine/types.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import { log } from "../util/log.ts";
import { type BodyLimits, parseJsonBody, type RawBody, readBody } from "./body.ts";
import { runGeneration, sendJson } from "./generate.ts";
import { HttpError } from "./openai-error.ts";
import { type PromptEncoder, TokenizeError, tokenizeHttpError } from "./prompt-encoder.ts";
import { RequestWorker, type RequestWorkerOptions } from "./request-worker.ts";
import { type GenerationSpec, parseGenerationBody, type ValidationContext } from "./validate.ts";

export interface ServerOptions {
  engine: Engine;
  tokenizer: Tokenizer;
  vocabSize: number;
  servedModelName: string;
  maxSeqLen: number;
  maxInputLen: number;
  host: string;
  /** 0 picks a free port. */
  port: number;
  apiKey?: string | undefined;
  maxBodyBytes: number;
  /**
   * A client must send a whole request, headers and body, within this many ms; after it the server answers
   * 408 and closes the connection. 0: no limit. Default `DEFAULT_REQUEST_TIMEOUT_MS`.
   */
  requestTimeoutMs?: number | undefined;
  /**
   * Tokenizes text prompts in place of the default `RequestWorker` (a thread on `tokenizer`'s files, started
   * here and closed on shutdown, which also takes large bodies whole). Given one, every body is parsed on the
   * event loop: for tests with a stand-in tokenizer. It is the caller's to close.
   */
  encoder?: PromptEncoder | undefined;
  /** Limits of the default worker's thread. */
  requestWorker?: RequestWorkerOptions | undefined;
}

export interface RunningServer {
  /** `http://host:port`. */
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  /** Requests being generated right now. */
  readonly inFlight: number;
  /** Stop accepting; wait up to `graceMs` for requests in flight, then cancel them. Idempotent. */
  shutdown(graceMs: number): Promise<void>;
}

export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/**
 * Bodies up to this size are parsed and validated on the event loop (at most a few ms); larger ones whole in
 * the request thread, so no request holds the event loop for long (docs/performance.md).
 */
const INLINE_BODY_BYTES = 256 * 1024;
/** The deepest request body the API needs is 4 levels (`messages[].content[]` parts). */
const MAX_JSON_DEPTH = 64;
/** How long an idle keep-alive connection stays open between requests (node:http's default). */
const KEEP_ALIVE_TIMEOUT_MS = 5_000;

/** node:http's errors on a connection before a request reaches the handler, as status and message. */
function clientErrorStatus(err: NodeJS.ErrnoException, requestTimeoutMs: number): HttpError {
  switch (err.code) {
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return new HttpError(
        408,
        `The request did not arrive in full within ${requestTimeoutMs / 1000} s (--request_timeout).`,
        "invalid_request_error",
        null,
        "request_timeout",
      );
    case "HPE_HEADER_OVERFLOW":
      return new HttpError(431, "The request headers are too large.", "invalid_request_error");
    default:
      return new HttpError(
        400,
        `Malformed HTTP request (${err.code ?? err.message}).`,
        "invalid_request_error",
      );
  }
}

const ROUTES: Record<string, string> = {
  "/health": "GET",
  "/v1/models": "GET",
  "/v1/completions": "POST",
  "/v1/chat/completions": "POST",
};

function keyMatches(header: string | undefined, key: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? "");
  if (!m) return false;
  const a = Buffer.from(m[1]!.trim());
  const b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const limits: Omit<ValidationContext, "encoder"> = {
    maxCharsPerToken: opts.tokenizer.maxCharsPerToken,
    vocabSize: opts.vocabSize,
    servedModelName: opts.servedModelName,
    maxSeqLen: opts.maxSeqLen,
    maxInputLen: opts.maxInputLen,
  };
  const worker = opts.encoder
    ? undefined
    : await RequestWorker.start(opts.tokenizer, limits, opts.requestWorker);
  const validation: ValidationContext = { ...limits, encoder: opts.encoder ?? worker! };
  const genCtx = { engine: opts.engine, tokenizer: opts.tokenizer, servedModelName: opts.servedModelName };
  const bodyLimits: BodyLimits = {
    maxBytes: opts.maxBodyBytes,
    maxDepth: MAX_JSON_DEPTH,
    // An id prompt has at most max_input_len values; the rest of any body the engine can take is small.
    maxValues: 2 * opts.maxInputLen + 65_536,
  };
  const created = Math.floor(Date.now() / 1000);
  const active = new Set<AbortController>();
  /** The response each connection is answering, so a connection error knows whether it may still answer. */
  const answering = new WeakMap<Duplex, ServerResponse>();
  let draining = false;
  let shutdownPromise: Promise<void> | undefined;
  let idle: (() => void) | undefined;

  const shuttingDown = () =>
    new HttpError(503, "The server is shutting down.", "server_error", null, "shutting_down");

  const fail = (res: ServerResponse, err: unknown) => {
    // The client is gone (and with it any point in an answer), e.g. it disconnected while its prompt was
    // being tokenized.
    if (res.destroyed) return;
    const e =
      err instanceof HttpError ? err : new HttpError(500, `Internal server error: ${(err as Error).message}`);
    if (e.status >= 500 && !(err instanceof HttpError)) log.error(e.message);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (draining) res.setHeader("connection", "close");
    sendJson(res, e.status, e.body());
  };

  const generationSpec = async (
    body: RawBody,
    kind: "completion" | "chat",
    signal: AbortSignal,
  ): Promise<GenerationSpec> => {
    if (!worker || body.size <= INLINE_BODY_BYTES) {
      return parseGenerationBody(parseJsonBody(body), kind, validation, signal);
    }
    try {
      return await worker.parseRequest(body, kind, signal);
    } catch (err) {
      throw err instanceof TokenizeError
        ? tokenizeHttpError(err, `The request body has ${body.size} bytes`, null)
        : err;
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? "/").split("?")[0]!;
    const method = ROUTES[path];
    if (method === undefined)
      throw new HttpError(
        404,
        `Invalid URL (${req.method} ${path})`,
        "invalid_request_error",
        null,
        "not_found",
      );
    if (req.method !== method) {
      res.setHeader("allow", method);
      throw new HttpError(
        405,
        `Method ${req.method} not allowed on ${path}; use ${method}.`,
        "invalid_request_error",
        null,
        "method_not_allowed",
      );
    }
    if (path === "/health") {
      if (draining)
        throw new HttpError(503, "The server is shutting down.", "server_error", null, "shutting_down");
      sendJson(res, 200, { status: "ok" });
      return;
    }
    if (opts.apiKey !== undefined && !keyMatches(req.headers.authorization, opts.apiKey)) {
      throw new HttpError(
        401,
        "Incorrect API key provided.",
        "invalid_request_error",
        null,
        "invalid_api_key",
      );
    }
    if (path === "/v1/models") {
      sendJson(res, 200, {
        object: "list",
        data: [
          {
            id: opts.servedModelName,
            object: "model",
            created,
            owned_by: "llm-bench",
            max_model_len: opts.maxSeqLen,
          },
        ],
      });
      return;
    }
    if (draining) throw shuttingDown();
    // A client that goes away cancels its request: its prompt leaves the tokenizer's queue, and the engine
    // frees its slot at the next step.
    const ac = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) ac.abort();
    };
    res.once("close", onClose);
    try {
      const body = await readBody(req, bodyLimits);
      const kind = path === "/v1/completions" ? "completion" : "chat";
      const spec = await generationSpec(body, kind, ac.signal);
      if (draining) throw shuttingDown();
      active.add(ac);
      try {
        await runGeneration(genCtx, spec, res, ac.signal);
      } finally {
        active.delete(ac);
        if (active.size === 0) idle?.();
      }
    } finally {
      res.off("close", onClose);
    }
  };

  const server = createServer(
    {
      noDelay: true,
      keepAlive: true,
      requestTimeout: requestTimeoutMs,
      headersTimeout: requestTimeoutMs,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      // node:http checks both timeouts only this often (30 s by default), so a slow client would overstay
      // by up to that much.
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(requestTimeoutMs / 4) || 1000)),
    },
    (req, res) => {
      answering.set(req.socket, res);
      // Nothing a request's streams report may reach the process as an unhandled 'error'.
      req.on("error", (err) => log.debug(`request stream: ${err.message}`));
      res.on("error", (err) => log.debug(`response stream: ${err.message}`));
      if (draining) res.setHeader("connection", "close");
      handle(req, res)
        .catch((err: unknown) => {
          // A refused request whose body was not read whole: answer, then close the connection rather than
          // read the rest (node:http closes it after the answer is sent).
          if (!req.complete && !res.headersSent) res.setHeader("connection", "close");
          fail(res, err);
        })
        .catch((err: unknown) => {
          log.error(`Could not answer a failed request: ${(err as Error).message}`);
          res.destroy();
        });
    },
  );
  // Errors node:http raises on a connection (request timeout, malformed request, reset) are answered in
  // OpenAI's shape when nothing has been sent on it yet; the connection is closed either way.
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    const res = answering.get(socket);
    if (socket.writable && !res?.headersSent && err.code !== "ECONNRESET") {
      const e = clientErrorStatus(err, requestTimeoutMs);
      const body = JSON.stringify(e.body());
      socket.write(
        `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status]}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port, opts.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    await worker?.close();
    throw err;
  }
  // After listening, a server error (e.g. out of file descriptors on accept) is logged, not fatal.
  server.on("error", (err) => log.error(`HTTP server: ${err.message}`));
  const addr = server.address() as AddressInfo;
  const hostForUrl = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;

  return {
    url: `http://${hostForUrl}:${addr.port}`,
    port: addr.port,
    server,
    get inFlight() {
      return active.size;
    },
    shutdown(graceMs: number): Promise<void> {
      shutdownPromise ??= (async () => {
        draining = true;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        if (active.size > 0) {
          log.info(`Shutting down: waiting up to ${graceMs} ms for ${active.size} request(s) in flight.`);
          const allDone = new Promise<void>((resolve) => {
            idle = resolve;
          });
          let timer: NodeJS.Timeout | undefined;
          const timeout = new Promise<"timeout">((resolve) => {
            timer = setTimeout(() => resolve("timeout"), graceMs);
          });
          const outcome = await Promise.race([allDone, timeout]);
          clearTimeout(timer);
          if (outcome === "timeout" && active.size > 0) {
            log.warn(`Grace period over: cancelling ${active.size} request(s).`);
            for (const ac of active) ac.abort();
            await allDone;
          }
        }
        server.closeAllConnections();
        await closed;
        await worker?.close();
      })();
      return shutdownPromise;
    },
  };
}
