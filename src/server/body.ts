import type { IncomingMessage } from "node:http";
import { badRequest, HttpError } from "./openai-error.ts";

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
 * Reads and parses a JSON body, refusing it with 413 as soon as it passes `limit` bytes (by Content-Length
 * when the client sends one, else while reading) so an oversized body is never buffered whole.
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks, size).toString("utf8");
  if (text.trim() === "") throw badRequest("The request body is empty; expected a JSON object.");
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badRequest(`The request body is not valid JSON: ${(err as Error).message}`, null, "invalid_json");
  }
}
