/**
 * One completion or chat request run on the engine and answered as OpenAI does: a JSON body, or SSE chunks
 * (one per engine step: each carries the text delta and, as vLLM's extension, the step's token ids). The chunk
 * that carries the last token also carries finish_reason, so no empty trailing chunk skews inter-token gaps.
 */
import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { Engine, FinishReason, GenerationResult } from "../engine/types.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import { IncrementalDetokenizer } from "./detokenizer.ts";
import { HttpError } from "./openai-error.ts";
import { SseWriter } from "./sse.ts";
import type { GenerationSpec } from "./validate.ts";

export interface GenerateContext {
  engine: Engine;
  tokenizer: Tokenizer;
  servedModelName: string;
}

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

function usage(prompt: number, completion: number): Usage {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** OpenAI's names; a request cut short by a disconnect or a shutdown reports vLLM's "abort". */
function openaiFinish(reason: FinishReason): string {
  return reason === "cancelled" ? "abort" : reason;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export { sendJson };

/**
 * Runs `spec`; `signal` aborts it (client gone, server shutting down). Resolves when the response is written.
 */
export async function runGeneration(
  ctx: GenerateContext,
  spec: GenerationSpec,
  res: ServerResponse,
  signal: AbortSignal,
): Promise<void> {
  const chat = spec.kind === "chat";
  const id = `${chat ? "chatcmpl" : "cmpl"}-${randomUUID().replaceAll("-", "")}`;
  const created = Math.floor(Date.now() / 1000);
  const object = chat ? "chat.completion" : "text_completion";
  const chunkObject = chat ? "chat.completion.chunk" : "text_completion";
  const eos = ctx.tokenizer.eosTokenId;
  const p = spec.promptIds.length;
  // EOS handling: exact-length requests never stop early; min_tokens (< max_tokens) ignores EOS in the engine
  // and stops here at the first EOS at or after min_tokens; otherwise the engine stops at EOS itself.
  const serverSideEos = !spec.exact && spec.minTokens > 0 && eos !== undefined;
  const engineEos = spec.exact || serverSideEos ? undefined : eos;
  const local = new AbortController();
  const onAbort = () => local.abort();
  signal.addEventListener("abort", onAbort, { once: true });

  const detok = new IncrementalDetokenizer(ctx.tokenizer);
  const sse = spec.stream ? new SseWriter(res) : undefined;
  let finished: "stop" | "length" | undefined;
  let roleSent = false;

  const chunk = (text: string, ids: readonly number[], finish: string | null): Record<string, unknown> => {
    const choice: Record<string, unknown> = { index: 0 };
    if (chat) {
      const delta: Record<string, unknown> = { content: text };
      if (!roleSent) {
        delta["role"] = "assistant";
        roleSent = true;
      }
      choice["delta"] = delta;
    } else choice["text"] = text;
    choice["logprobs"] = null;
    choice["finish_reason"] = finish;
    choice["token_ids"] = ids;
    if (spec.returnPromptIds && detok.ids.length === ids.length) choice["prompt_token_ids"] = spec.promptIds;
    const ev: Record<string, unknown> = {
      id,
      object: chunkObject,
      created,
      model: ctx.servedModelName,
      choices: [choice],
    };
    if (spec.continuousUsage) ev["usage"] = usage(p, detok.ids.length);
    return ev;
  };

  sse?.start();
  const onTokens = (tokens: readonly number[]) => {
    if (finished) return;
    let take = tokens;
    for (let i = 0; i < tokens.length; i++) {
      const position = detok.ids.length + i;
      if (serverSideEos && tokens[i] === eos && position >= spec.minTokens) {
        take = tokens.slice(0, i + 1);
        finished = "stop";
        local.abort();
        break;
      }
    }
    if (!finished && engineEos !== undefined && take.includes(engineEos)) finished = "stop";
    if (!finished && detok.ids.length + take.length >= spec.maxTokens) finished = "length";
    if (!sse) {
      for (const t of take) detok.ids.push(t);
      return;
    }
    let text = detok.push(take);
    if (finished) text += detok.flush();
    sse.send(chunk(text, take, finished ?? null));
  };

  let result: GenerationResult;
  try {
    result = await ctx.engine.generate(
      { id, inputIds: spec.promptIds, maxTokens: spec.maxTokens, eosId: engineEos, streaming: spec.stream },
      { onTokens },
      local.signal,
    );
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  // A server-side EOS stop cancels the engine request: that is a normal "stop", not a cancellation.
  const reason: FinishReason = finished ?? result.finishReason;
  // Without streaming the engine's own output is the truth, unless this server cut it at a late EOS.
  const outputIds = sse || serverSideEos ? detok.ids : result.outputIds;
  const completion = outputIds.length;

  if (sse) {
    if (reason === "error") {
      sse.send(new HttpError(500, result.error ?? "generation failed").body());
    } else if (!finished) {
      // Ended without a final token chunk (cancelled, or the engine stopped early): close the choice.
      sse.send(chunk(detok.flush(), [], openaiFinish(reason)));
    }
    if (spec.includeUsage) {
      sse.send({
        id,
        object: chunkObject,
        created,
        model: ctx.servedModelName,
        choices: [],
        usage: usage(p, completion),
      });
    }
    sse.done();
    return;
  }
  if (reason === "error") throw new HttpError(500, result.error ?? "generation failed");
  if (reason === "cancelled") throw new HttpError(503, "The request was cancelled (server shutting down).");
  const text = ctx.tokenizer.decode(outputIds, { skipSpecialTokens: true });
  const choice: Record<string, unknown> = { index: 0 };
  if (chat) choice["message"] = { role: "assistant", content: text };
  else choice["text"] = text;
  choice["logprobs"] = null;
  choice["finish_reason"] = openaiFinish(reason);
  choice["token_ids"] = outputIds;
  if (spec.returnPromptIds) choice["prompt_token_ids"] = spec.promptIds;
  sendJson(res, 200, {
    id,
    object,
    created,
    model: ctx.servedModelName,
    choices: [choice],
    usage: usage(p, completion),
  });
}
