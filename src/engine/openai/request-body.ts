/**
 * The JSON body of one streamed request. Output length is forced where the server allows it (`ignore_eos`,
 * `min_tokens`: vLLM, SGLang, llama.cpp's server accept them; OpenAI itself rejects unknown fields, hence the
 * probe), and usage is asked for on every chunk (`continuous_usage_stats`) so tokens per chunk are known.
 */
import type { OpenAiEndpoint } from "./connection.ts";

/** What the server accepted when probed. */
export interface WireFeatures {
  /** `/v1/completions` takes `prompt: number[]`. */
  tokenIdPrompts: boolean;
  /** `ignore_eos`, `min_tokens` and `stream_options.continuous_usage_stats` are accepted. */
  extensions: boolean;
  /**
   * vLLM's `return_token_ids` is accepted (completions); default: with the extensions. trtllm-serve takes the
   * extensions but refuses unknown fields, and has no return_token_ids.
   */
  returnTokenIds?: boolean | undefined;
}

export interface BodyInput {
  endpoint: OpenAiEndpoint;
  model: string;
  prompt: string | readonly number[];
  maxTokens: number;
  /** true: force exactly maxTokens (EOS ignored) when the server has the extensions. */
  ignoreEos: boolean;
  temperature: number;
  extensions: boolean;
  /** Ask for token ids on each chunk (completions only); default: with the extensions. */
  returnTokenIds?: boolean | undefined;
}

export function requestBody(b: BodyInput): string {
  const body: Record<string, unknown> = { model: b.model };
  if (b.endpoint === "chat") {
    body["messages"] = [{ role: "user", content: b.prompt }];
  } else {
    body["prompt"] = b.prompt;
  }
  body["max_tokens"] = b.maxTokens;
  body["temperature"] = b.temperature;
  body["stream"] = true;
  body["stream_options"] = b.extensions
    ? { include_usage: true, continuous_usage_stats: true }
    : { include_usage: true };
  // vLLM's extension (llm-bench serve has it too): each chunk carries its token ids, so the client counts the
  // tokens it received instead of re-tokenizing text.
  if ((b.returnTokenIds ?? b.extensions) && b.endpoint === "completions") body["return_token_ids"] = true;
  if (b.extensions && b.ignoreEos) {
    body["ignore_eos"] = true;
    body["min_tokens"] = b.maxTokens;
  }
  return JSON.stringify(body);
}
