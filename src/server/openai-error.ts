/**
 * Errors in OpenAI's JSON shape: `{"error": {"message", "type", "param", "code"}}` with the HTTP status that
 * goes with them, so OpenAI SDKs and benchmark clients surface them as they would the real API's.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string = status >= 500 ? "server_error" : "invalid_request_error",
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = "HttpError";
  }

  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** 400 for one bad field of the request body. */
export function badRequest(
  message: string,
  param: string | null = null,
  code: string | null = null,
): HttpError {
  return new HttpError(400, message, "invalid_request_error", param, code);
}
