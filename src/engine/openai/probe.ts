/**
 * What the server accepts, found by sending 1-token requests shaped like the real ones, most capable first:
 * token-id prompts (the exact ISL, no re-tokenization by the server) and the output-length extensions
 * (`ignore_eos`, `min_tokens`, continuous usage). A 4xx on one shape moves on to the next; the reason is
 * logged, so a fallback never happens silently.
 */
import { EngineError } from "../../errors.ts";
import { log } from "../../util/log.ts";
import type { OpenAiConnection } from "./connection.ts";
import { inspectProbe, logBehaviour, probeLengths, type ServerBehaviour } from "./probe-behaviour.ts";
import { requestBody, type WireFeatures } from "./request-body.ts";
import { errorMessage } from "./stream.ts";
import { fetchText } from "./transport.ts";

export interface ProbeInput {
  model: string;
  /** A 1-token prompt as ids and as text. */
  probeIds: readonly number[];
  probeText: string;
  /** probeText's length as the dataset counts a prompt (special tokens included). */
  probeTextTokens: number;
  /** The tokenizer's EOS id, for the length probe (probe-behaviour.ts). */
  eosId?: number | undefined;
  /** Counts the tokens of returned text (the client tokenizer). */
  countText: (text: string) => number;
}

export interface ProbeOutcome extends WireFeatures {
  /** Why a more capable shape was refused (server messages), for logs and tests. */
  notes: string[];
  /** What the server really did with the accepted shape (probe-behaviour.ts). */
  behaviour: ServerBehaviour;
}

type Attempt = { ok: true; text: string } | { ok: false; status: number; message: string };

async function attempt(conn: OpenAiConnection, body: string): Promise<Attempt> {
  let res: { status: number; text: string };
  try {
    res = await fetchText(conn.transport, {
      method: "POST",
      path: conn.path,
      headers: { accept: "text/event-stream" },
      body,
    });
  } catch (err) {
    throw new EngineError(`cannot reach ${conn.url}: ${conn.redact((err as Error).message)}`, { cause: err });
  }
  const text = res.text;
  if (res.status < 300) return { ok: true, text };
  let message = text.replace(/\s+/g, " ").trim().slice(0, 200);
  try {
    const j = JSON.parse(text) as { error?: unknown; detail?: unknown; message?: unknown };
    message = errorMessage(j.error ?? j.detail ?? j.message ?? message);
  } catch {
    // keep the raw text
  }
  // The server's words are logged and may quote the key it was sent.
  return { ok: false, status: res.status, message: conn.redact(message) };
}

export async function probeServer(conn: OpenAiConnection, input: ProbeInput): Promise<ProbeOutcome> {
  const chat = conn.opts.endpoint === "chat";
  const shapes: WireFeatures[] = chat
    ? [
        { tokenIdPrompts: false, extensions: true },
        { tokenIdPrompts: false, extensions: false },
      ]
    : [
        { tokenIdPrompts: true, extensions: true },
        // trtllm-serve: the extensions, but unknown fields (return_token_ids) refused
        { tokenIdPrompts: true, extensions: true, returnTokenIds: false },
        { tokenIdPrompts: true, extensions: false },
        { tokenIdPrompts: false, extensions: true },
        { tokenIdPrompts: false, extensions: true, returnTokenIds: false },
        { tokenIdPrompts: false, extensions: false },
      ];
  const notes: string[] = [];
  let lastRefusal = "";
  for (const shape of shapes) {
    // Only worth a request when the shape with return_token_ids was refused for that field.
    if (shape.returnTokenIds === false && !/return_token_ids/i.test(lastRefusal)) continue;
    const body = requestBody({
      endpoint: conn.opts.endpoint,
      model: input.model,
      prompt: shape.tokenIdPrompts ? input.probeIds : input.probeText,
      maxTokens: 1,
      ignoreEos: true,
      temperature: 0,
      extensions: shape.extensions,
      returnTokenIds: shape.returnTokenIds,
    });
    const r = await attempt(conn, body);
    if (r.ok) {
      reportFallbacks(shape, chat, notes);
      const check = {
        chat,
        extensions: shape.extensions,
        tokenIds: shape.tokenIdPrompts && !chat,
        probeBody: r.text,
        expectedPromptTokens: shape.tokenIdPrompts && !chat ? input.probeIds.length : input.probeTextTokens,
        body,
        eosId: input.eosId,
        countText: input.countText,
      };
      const behaviour = inspectProbe(check);
      let lengthNote: string | undefined;
      if (shape.extensions) {
        const l = await probeLengths(conn, check);
        behaviour.lengthsHonoured = l.honoured;
        lengthNote = l.note;
      }
      logBehaviour(behaviour, lengthNote);
      return { ...shape, notes, behaviour };
    }
    if (r.status >= 500 || r.status === 401 || r.status === 403 || r.status === 404) {
      throw new EngineError(`${conn.url} answered HTTP ${r.status} to a 1-token probe: ${r.message}`);
    }
    lastRefusal = r.message;
    notes.push(`${describe(shape)} refused (HTTP ${r.status}: ${r.message})`);
  }
  throw new EngineError(`${conn.url} refused every request shape: ${notes.join("; ")}`);
}

function describe(s: WireFeatures): string {
  const ids = s.extensions && s.returnTokenIds === false ? " (no return_token_ids)" : "";
  return `${s.tokenIdPrompts ? "token-id prompt" : "text prompt"} ${s.extensions ? "with" : "without"} ignore_eos/min_tokens/continuous_usage_stats${ids}`;
}

function reportFallbacks(shape: WireFeatures, chat: boolean, notes: readonly string[]): void {
  for (const n of notes) log.info(`Server probe: ${n}`);
  if (!chat && !shape.tokenIdPrompts) {
    log.warn(
      "The server does not take token-id prompts: sending text (the dataset's prompt, else its ids decoded); " +
        "the server's input token count may differ from the dataset's.",
    );
  }
  if (!shape.extensions) {
    log.warn(
      "The server refused ignore_eos/min_tokens: requests may stop at EOS before output_tokens, " +
        "and tokens per chunk come from final usage only.",
    );
  }
}
