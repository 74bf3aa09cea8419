/**
 * Validation of `/v1/completions` and `/v1/chat/completions` bodies into one generation spec. Every refusal is
 * a 400 (404 for an unknown model) in OpenAI's error shape naming the offending field in `param`.
 *
 * The cheap checks come first and tokenizing last, so a bad request costs little. A text prompt is refused
 * by its character count alone when that already proves it has too many tokens (`token-bound.ts`); the rest
 * are tokenized by a `PromptEncoder` (in the server, a worker thread under a time limit). The same code runs on
 * the event loop for small bodies and in that thread for large ones (`request-worker-thread.ts`).
 */
import { minTokensFor } from "../model/token-bound.ts";
import { renderChatPrompt } from "./chat-prompt.ts";
import { badRequest, HttpError } from "./openai-error.ts";
import { type PromptEncoder, TokenizeError, tokenizeHttpError } from "./prompt-encoder.ts";

export interface ValidationContext {
  encoder: PromptEncoder;
  /** The tokenizer's `maxCharsPerToken`: undefined when a prompt's length in characters proves nothing. */
  maxCharsPerToken: number | undefined;
  /** Ids must be below this. */
  vocabSize: number;
  servedModelName: string;
  /** Prompt + completion tokens the engine holds per request (its build max_seq_len). */
  maxSeqLen: number;
  /** Longest prompt the engine takes (its build max_input_len). */
  maxInputLen: number;
}

export interface GenerationSpec {
  kind: "completion" | "chat";
  promptIds: number[];
  maxTokens: number;
  minTokens: number;
  /** Exactly maxTokens tokens (ignore_eos, or min_tokens ≥ max_tokens). */
  exact: boolean;
  stream: boolean;
  includeUsage: boolean;
  continuousUsage: boolean;
  /** vLLM's `return_token_ids`: also echo the prompt's ids. */
  returnPromptIds: boolean;
}

type Body = Record<string, unknown>;

function isObject(v: unknown): v is Body {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const present = (v: unknown) => v !== undefined && v !== null;

function optionalBool(body: Body, key: string): boolean {
  const v = body[key];
  if (!present(v)) return false;
  if (typeof v !== "boolean") throw badRequest(`'${key}' must be a boolean.`, key);
  return v;
}

function optionalInt(body: Body, key: string, min: number): number | undefined {
  const v = body[key];
  if (!present(v)) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v)) throw badRequest(`'${key}' must be an integer.`, key);
  if (v < min) throw badRequest(`'${key}' must be at least ${min}, got ${v}.`, key);
  return v;
}

function optionalNumber(body: Body, key: string): void {
  const v = body[key];
  if (present(v) && (typeof v !== "number" || !Number.isFinite(v))) {
    throw badRequest(`'${key}' must be a number.`, key);
  }
}

/** Options this server cannot honour are refused rather than silently ignored. */
function refuseUnsupported(body: Body): void {
  const n = body["n"];
  if (present(n) && n !== 1) throw badRequest("Only n = 1 is supported.", "n");
  const bestOf = body["best_of"];
  if (present(bestOf) && bestOf !== 1) throw badRequest("Only best_of = 1 is supported.", "best_of");
  if (present(body["logprobs"]) && body["logprobs"] !== false) {
    throw badRequest("logprobs are not supported by this server.", "logprobs");
  }
  if (body["echo"] === true) throw badRequest("echo is not supported by this server.", "echo");
  const stop = body["stop"];
  if (present(stop) && stop !== "" && !(Array.isArray(stop) && stop.length === 0)) {
    throw badRequest("Stop strings are not supported by this server (use max_tokens or EOS).", "stop");
  }
  if (present(body["suffix"])) throw badRequest("suffix is not supported by this server.", "suffix");
  for (const k of ["temperature", "top_p", "top_k", "seed", "presence_penalty", "frequency_penalty"]) {
    optionalNumber(body, k);
  }
}

function tokenIds(v: unknown[], ctx: ValidationContext, param: string): number[] {
  const ids: number[] = new Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const id = v[i];
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id >= ctx.vocabSize) {
      throw badRequest(
        `${param}[${i}] must be a token id in [0, ${ctx.vocabSize}), got ${JSON.stringify(id)}.`,
        param,
      );
    }
    ids[i] = id;
  }
  return ids;
}

/** A prompt as sent: token ids (not yet checked) or text to tokenize. */
type PromptSource = { ids: unknown[] } | { text: string };

/** A string, an array of token ids, or a one-element batch of either. Larger batches are refused. */
function completionPrompt(prompt: unknown): PromptSource {
  if (typeof prompt === "string") {
    if (prompt === "") throw badRequest("'prompt' must not be empty.", "prompt");
    return { text: prompt };
  }
  if (!Array.isArray(prompt)) {
    throw badRequest(
      "'prompt' must be a string, an array of token ids, or a one-element array of either.",
      "prompt",
    );
  }
  if (prompt.length === 0) throw badRequest("'prompt' must not be empty.", "prompt");
  if (typeof prompt[0] === "number") return { ids: prompt };
  if (prompt.length > 1) {
    throw badRequest(
      `Batched prompts (${prompt.length} in one request) are not supported: send one prompt per request.`,
      "prompt",
    );
  }
  const only = prompt[0];
  if (
    typeof only === "string" ||
    (Array.isArray(only) && (only.length === 0 || typeof only[0] === "number"))
  ) {
    return completionPrompt(only);
  }
  throw badRequest(
    "'prompt' must be a string, an array of token ids, or a one-element array of either.",
    "prompt",
  );
}

function chatPrompt(messages: unknown): PromptSource {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw badRequest("'messages' must be a non-empty array.", "messages");
  }
  const parsed = messages.map((m, i) => {
    if (!isObject(m) || typeof m["role"] !== "string") {
      throw badRequest(`messages[${i}] must be an object with a string 'role'.`, "messages");
    }
    const content = m["content"];
    let text: string;
    if (typeof content === "string") text = content;
    else if (content === null || content === undefined) text = "";
    else if (Array.isArray(content)) {
      text = content
        .map((part, j) => {
          if (!isObject(part) || part["type"] !== "text" || typeof part["text"] !== "string") {
            throw badRequest(`messages[${i}].content[${j}]: only text parts are supported.`, "messages");
          }
          return part["text"];
        })
        .join("");
    } else throw badRequest(`messages[${i}].content must be a string or an array of text parts.`, "messages");
    return { role: m["role"], content: text };
  });
  return { text: renderChatPrompt(parsed) };
}

function tooManyTokens(ctx: ValidationContext, param: string, what: string): HttpError {
  return badRequest(
    `The prompt has ${what}; this engine takes at most ${Math.min(ctx.maxInputLen, ctx.maxSeqLen - 1)} ` +
      `(max input length ${ctx.maxInputLen}, max sequence length ${ctx.maxSeqLen}).`,
    param,
    "context_length_exceeded",
  );
}

/**
 * The prompt's ids, refused before any costly work when it cannot fit: a long id array by its length, a
 * text by its character count when the tokenizer bounds characters per token.
 */
async function promptIds(
  source: PromptSource,
  ctx: ValidationContext,
  param: string,
  signal: AbortSignal | undefined,
): Promise<number[]> {
  const limit = Math.min(ctx.maxInputLen, ctx.maxSeqLen - 1);
  let ids: number[];
  if ("ids" in source) {
    if (source.ids.length > limit) throw tooManyTokens(ctx, param, `${source.ids.length} tokens`);
    ids = tokenIds(source.ids, ctx, param);
  } else {
    const chars = source.text.length;
    if (ctx.maxCharsPerToken !== undefined) {
      const least = minTokensFor(chars, ctx.maxCharsPerToken);
      if (least > limit) throw tooManyTokens(ctx, param, `${chars} characters, so at least ${least} tokens`);
    }
    try {
      ids = await ctx.encoder.encode(source.text, signal);
    } catch (err) {
      throw err instanceof TokenizeError
        ? tokenizeHttpError(err, `The prompt has ${chars} characters`, param)
        : err;
    }
  }
  if (ids.length > limit) throw tooManyTokens(ctx, param, `${ids.length} tokens`);
  return ids;
}

export async function parseGenerationBody(
  body: unknown,
  kind: "completion" | "chat",
  ctx: ValidationContext,
  signal?: AbortSignal,
): Promise<GenerationSpec> {
  if (!isObject(body)) throw badRequest("The request body must be a JSON object.");
  const model = body["model"];
  if (present(model)) {
    if (typeof model !== "string") throw badRequest("'model' must be a string.", "model");
    if (model !== ctx.servedModelName) {
      throw new HttpError(
        404,
        `The model '${model}' does not exist; this server serves '${ctx.servedModelName}'.`,
        "invalid_request_error",
        "model",
        "model_not_found",
      );
    }
  }
  refuseUnsupported(body);
  if (kind === "completion" && !present(body["prompt"])) throw badRequest("'prompt' is required.", "prompt");
  const source = kind === "completion" ? completionPrompt(body["prompt"]) : chatPrompt(body["messages"]);
  const promptParam = kind === "completion" ? "prompt" : "messages";
  const maxKey =
    kind === "chat" && present(body["max_completion_tokens"]) ? "max_completion_tokens" : "max_tokens";
  const requested = optionalInt(body, maxKey, 1);
  const minTokens = optionalInt(body, "min_tokens", 0) ?? 0;
  const stream = optionalBool(body, "stream");
  const so = body["stream_options"];
  let includeUsage = false;
  let continuousUsage = false;
  if (present(so)) {
    if (!stream) throw badRequest("'stream_options' is only allowed with stream = true.", "stream_options");
    if (!isObject(so)) throw badRequest("'stream_options' must be an object.", "stream_options");
    includeUsage = optionalBool(so, "include_usage");
    continuousUsage = optionalBool(so, "continuous_usage_stats");
  }
  const ignoreEos = optionalBool(body, "ignore_eos");
  const returnPromptIds = optionalBool(body, "return_token_ids");

  const ids = await promptIds(source, ctx, promptParam, signal);
  const p = ids.length;
  const maxTokens = requested ?? ctx.maxSeqLen - p;
  if (maxTokens + p > ctx.maxSeqLen) {
    throw badRequest(
      `This engine's maximum sequence length is ${ctx.maxSeqLen} tokens, but ${maxTokens + p} were requested ` +
        `(${p} in the prompt, ${maxTokens} in the completion). Reduce the prompt or ${maxKey}.`,
      maxKey,
      "context_length_exceeded",
    );
  }
  if (minTokens > maxTokens) {
    throw badRequest(`min_tokens (${minTokens}) must not exceed ${maxKey} (${maxTokens}).`, "min_tokens");
  }
  return {
    kind,
    promptIds: ids,
    maxTokens,
    minTokens,
    exact: ignoreEos || minTokens >= maxTokens,
    stream,
    includeUsage,
    continuousUsage,
    returnPromptIds,
  };
}
