/** How validation turns text prompts into ids, and how that can fail. */
import { badRequest, HttpError } from "./openai-error.ts";

/** Text to prompt ids (special tokens such as BOS added), without blocking the caller's event loop. */
export interface PromptEncoder {
  encode(text: string, signal?: AbortSignal): Promise<number[]>;
}

export type TokenizeFailure = "timeout" | "out_of_memory" | "busy" | "failed" | "closed";

export class TokenizeError extends Error {
  constructor(
    readonly reason: TokenizeFailure,
    message: string,
  ) {
    super(message);
    this.name = "TokenizeError";
  }
}

/** The answer to a failed tokenization; `what` says what was too costly ("The prompt has 9 characters"). */
export function tokenizeHttpError(err: TokenizeError, what: string, param: string | null): HttpError {
  switch (err.reason) {
    case "timeout":
    case "out_of_memory":
      return badRequest(
        `${err.message} ${what}; very long words are slow to tokenize. Send a shorter prompt, or token ids.`,
        param,
        "prompt_too_costly",
      );
    case "busy":
      return new HttpError(503, `The server is busy: ${err.message}`, "server_error", null, "server_busy");
    case "closed":
      return new HttpError(503, "The server is shutting down.", "server_error", null, "shutting_down");
    default:
      return new HttpError(500, err.message);
  }
}
