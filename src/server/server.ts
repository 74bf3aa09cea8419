/**
 * An OpenAI-compatible HTTP server over any `Engine` (node:http, no framework): `/v1/completions`,
 * `/v1/chat/completions`, `/v1/models`, `/health`. Requests go straight to the engine, whose own scheduler
 * batches them — the same one `throughput` drives. Shutdown stops accepting, lets requests in flight finish
 * within a grace period, then cancels the rest.
 */
import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Engine } from "../engine/types.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import { log } from "../util/log.ts";
import { readJsonBody } from "./body.ts";
import { runGeneration, sendJson } from "./generate.ts";
import { HttpError } from "./openai-error.ts";
import { parseGenerationBody, type ValidationContext } from "./validate.ts";

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
  const validation: ValidationContext = {
    tokenizer: opts.tokenizer,
    vocabSize: opts.vocabSize,
    servedModelName: opts.servedModelName,
    maxSeqLen: opts.maxSeqLen,
    maxInputLen: opts.maxInputLen,
  };
  const genCtx = { engine: opts.engine, tokenizer: opts.tokenizer, servedModelName: opts.servedModelName };
  const created = Math.floor(Date.now() / 1000);
  const active = new Set<AbortController>();
  let draining = false;
  let shutdownPromise: Promise<void> | undefined;
  let idle: (() => void) | undefined;

  const fail = (res: ServerResponse, err: unknown) => {
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
    if (draining)
      throw new HttpError(503, "The server is shutting down.", "server_error", null, "shutting_down");
    const body = await readJsonBody(req, opts.maxBodyBytes);
    const spec = parseGenerationBody(body, path === "/v1/completions" ? "completion" : "chat", validation);
    const ac = new AbortController();
    active.add(ac);
    // A client that goes away cancels its request; the engine frees its slot at the next step.
    const onClose = () => {
      if (!res.writableFinished) ac.abort();
    };
    res.once("close", onClose);
    try {
      await runGeneration(genCtx, spec, res, ac.signal);
    } finally {
      res.off("close", onClose);
      active.delete(ac);
      if (active.size === 0) idle?.();
    }
  };

  const server = createServer({ noDelay: true, keepAlive: true }, (req, res) => {
    if (draining) res.setHeader("connection", "close");
    handle(req, res).catch((err: unknown) => {
      fail(res, err);
      // Whatever remains of a refused body is not read: close the connection instead of draining it.
      if (!req.complete) res.once("finish", () => req.socket.destroy());
    });
  });
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
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
      })();
      return shutdownPromise;
    },
  };
}
