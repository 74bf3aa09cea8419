import type { IncomingMessage } from "node:http";
import { JsonShapeGuard, type JsonShapeLimits } from "./json-guard.ts";
import { badRequest, HttpError } from "./openai-error.ts";

export interface BodyLimits extends JsonShapeLimits {
  maxBytes: number;
}

/** A request body as it arrived: chunks copied into buffers of their own, so they can be transferred. */
export interface RawBody {
  chunks: Uint8Array[];
  size: number;
}

function tooLarge(limit: number): HttpError {
  return new HttpError(
    413,
    `Request body is larger than the server's limit of ${limit} bytes (--max_body_bytes).`,
    "invalid_request_error",
    null,
    "request_too_large",
  );
}

/**
 * Reads a request body, refusing it with 413 as soon as it passes `maxBytes` (by Content-Length when the
 * client sends one, else while reading) so an oversized body is never buffered whole, and as soon as its
 * shape passes the nesting or value limits (`JsonShapeGuard`), so `JSON.parse` only ever meets bodies whose
 * cost is bounded. All work here is per chunk.
 *
 * A refused body is left unread but not destroyed: the stream keeps flowing into nothing, so the server can
 * still send its answer and then close the connection (`server.ts`). Async iteration would destroy the
 * request, and its socket with it, on the early exit.
 */
export function readBody(req: IncomingMessage, limits: BodyLimits): Promise<RawBody> {
  const limit = limits.maxBytes;
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise<RawBody>((resolve, reject) => {
    const guard = new JsonShapeGuard(limits);
    const chunks: Uint8Array[] = [];
    let size = 0;
    const done = (err: Error | undefined) => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
      if (err) reject(err);
      else resolve({ chunks, size });
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      try {
        if (size > limit) throw tooLarge(limit);
        guard.push(chunk);
      } catch (err) {
        done(err as Error);
        // The rest is discarded as it comes rather than left in the socket until the connection closes.
        req.resume();
        return;
      }
      // A copy: node:http's chunks may share memory with other data, so they cannot be transferred.
      chunks.push(new Uint8Array(chunk));
    };
    const onEnd = () => done(undefined);
    const onError = (err: Error) => done(badRequest(`The request body could not be read: ${err.message}`));
    const onClose = () => {
      if (!req.complete) done(badRequest("The connection closed before the whole request body arrived."));
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

/** The body as JSON; 400 for an empty or malformed one. Whole-body work: see `server.ts` for where it runs. */
export function parseJsonBody(body: RawBody): unknown {
  const text = Buffer.concat(body.chunks, body.size).toString("utf8");
  if (text.trim() === "") throw badRequest("The request body is empty; expected a JSON object.");
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badRequest(`The request body is not valid JSON: ${(err as Error).message}`, null, "invalid_json");
  }
}
