/**
 * What one streamed completion said, event by event: content chunks with their arrival times, the server's
 * output-token count (per chunk with continuous usage, else from the final usage event), the finish reason,
 * and the first thing that went wrong. The TTFT anchor is the first chunk that carries output (text, or
 * reasoning text, or a usage increase): role-only preludes and keep-alive events do not count.
 *
 * What a response can make the client hold is bounded by the request's max_tokens (outputLimits): its text
 * (kept for the client-side count after the run) and its chunks and ids. Past either bound the request fails as
 * `response_too_large`, so a server cannot grow the client's memory, or the count's work, without end.
 */
import { ScannedEvent, scanEvent, scanFramedEvent } from "./event-layouts.ts";

/** A request's outcome as a short reason code, or undefined on success. */
export type FailureCode =
  | "malformed_sse"
  | "response_too_large"
  | "stream_error"
  | "incomplete_stream"
  | "empty_response"
  | "connection_reset"
  | "connection_refused"
  | "connection_error"
  | "client_error"
  | "timeout";

/**
 * Output text a request may return per requested token: twice the longest token of common vocabularies (Llama 3's
 * is 128 characters), so only a server that ignores max_tokens, or sends what no tokenizer made, exceeds it.
 */
export const TEXT_CHARS_PER_TOKEN = 256;
/** Output-carrying chunks, and streamed token ids, per requested token: a chunk carries at least one token. */
export const CHUNKS_PER_TOKEN = 16;
/** Floors for tiny max_tokens (a 1-token request may still carry a role prelude or reasoning text). */
const TEXT_CHARS_FLOOR = 4096;
const CHUNKS_FLOOR = 64;

export interface OutputLimits {
  maxTokens: number;
  textChars: number;
  chunks: number;
}

/** The bounds on one request's output (see TEXT_CHARS_PER_TOKEN and CHUNKS_PER_TOKEN). */
export function outputLimits(maxTokens: number): OutputLimits {
  const n = Math.max(0, maxTokens);
  return {
    maxTokens: n,
    textChars: n * TEXT_CHARS_PER_TOKEN + TEXT_CHARS_FLOOR,
    chunks: n * CHUNKS_PER_TOKEN + CHUNKS_FLOOR,
  };
}

interface Choice {
  text?: unknown;
  /** vLLM's `return_token_ids` extension (llm-bench serve sends it too): the ids behind this chunk's text. */
  token_ids?: unknown;
  delta?: { content?: unknown; reasoning_content?: unknown; reasoning?: unknown };
  finish_reason?: unknown;
}

export class StreamAccumulator {
  readonly chunkTimesNs: number[] = [];
  /** Tokens of each content chunk, from continuous usage; abandoned when any content chunk lacks usage. */
  readonly chunkTokens: number[] = [];
  private continuous = true;
  private readonly parts: string[] = [];
  firstNs: number | undefined;
  /** Cumulative `usage.completion_tokens` last seen. */
  serverTokens: number | undefined;
  /** `usage.prompt_tokens` last seen: the input tokens as the server counted them. */
  serverPromptTokens: number | undefined;
  finishReason: string | undefined;
  /** Output ids the server sent with its chunks (`token_ids`), when it sent them for every content chunk. */
  readonly ids: number[] = [];
  private idsComplete = true;
  sawDone = false;
  failure: string | undefined;
  private readonly scanned = new ScannedEvent();
  private textChars = 0;

  constructor(
    private readonly chat: boolean,
    private readonly limits: OutputLimits = outputLimits(1 << 20),
  ) {}

  /**
   * The SSE event at `pos` of a decoded body, read in place when a learned layout matches it (sse.ts asks first);
   * the index after it, or -1 to have it split and passed to onData.
   */
  onFramed(text: string, pos: number, timeNs: number): number {
    if (this.failure !== undefined) return -1;
    const end = scanFramedEvent(text, pos, this.chat, this.scanned);
    if (end >= 0) this.take(this.scanned, timeNs);
    return end;
  }

  private take(e: ScannedEvent, timeNs: number): void {
    if (e.finishReason !== undefined) this.finishReason = e.finishReason;
    if (e.promptUsage !== undefined) this.serverPromptTokens = e.promptUsage;
    if (e.hasChoice && this.idsComplete) {
      if (e.hasIds) this.addIds(e.ids);
      else if (e.text.length > 0) this.idsComplete = false;
    }
    this.apply(e.hasChoice, e.text, e.usage, timeNs);
  }

  private addIds(ids: readonly unknown[]): void {
    if (this.ids.length + ids.length > this.limits.chunks) {
      this.tooLarge(`more than ${this.limits.chunks} token ids`);
      return;
    }
    for (const id of ids) {
      // An id that is no token id would make decoding (--output_json) throw after the run.
      if (!(Number.isSafeInteger(id) && (id as number) >= 0)) {
        const shown = typeof id === "number" ? String(id) : JSON.stringify(id)?.slice(0, 40);
        this.fail("malformed_sse", `token_ids holds ${shown}, not a token id`);
        return;
      }
      this.ids.push(id as number);
    }
  }

  private tooLarge(what: string): void {
    this.fail(
      "response_too_large",
      `${what} for max_tokens ${this.limits.maxTokens} (the client keeps at most ${TEXT_CHARS_PER_TOKEN} characters and ${CHUNKS_PER_TOKEN} chunks per requested token)`,
    );
    // Nothing of a failed request is reported: its text is released at once.
    this.parts.length = 0;
  }

  onData(data: string, timeNs: number): void {
    if (this.failure !== undefined) return;
    if (data === "[DONE]") {
      this.sawDone = true;
      return;
    }
    const e = this.scanned;
    if (scanEvent(data, this.chat, e)) {
      this.take(e, timeNs);
      return;
    }
    let msg: {
      choices?: unknown;
      usage?: { completion_tokens?: unknown; prompt_tokens?: unknown } | null;
      error?: unknown;
    };
    try {
      msg = JSON.parse(data);
    } catch {
      this.fail("malformed_sse", `data is not JSON: '${data.slice(0, 80)}'`);
      return;
    }
    if (typeof msg !== "object" || msg === null) {
      this.fail("malformed_sse", `data is not a JSON object: '${data.slice(0, 80)}'`);
      return;
    }
    if (msg.error !== undefined && msg.error !== null) {
      this.fail("stream_error", errorMessage(msg.error));
      return;
    }
    const choice = Array.isArray(msg.choices) ? (msg.choices[0] as Choice | undefined) : undefined;
    let text = "";
    if (choice) {
      text = this.chat ? deltaText(choice) : typeof choice.text === "string" ? choice.text : "";
      if (typeof choice.finish_reason === "string") this.finishReason = choice.finish_reason;
    }
    const usage = msg.usage?.completion_tokens;
    const prompt = msg.usage?.prompt_tokens;
    if (typeof prompt === "number") this.serverPromptTokens = prompt;
    if (choice && this.idsComplete) {
      const ids = choice.token_ids;
      if (Array.isArray(ids)) this.addIds(ids);
      else if (text.length > 0) this.idsComplete = false;
    }
    this.apply(choice !== undefined, text, typeof usage === "number" ? usage : undefined, timeNs);
  }

  /** The ids the client received, when every content chunk carried them; else undefined (count by re-tokenizing). */
  receivedIds(): number[] | undefined {
    return this.idsComplete && this.ids.length > 0 ? this.ids : undefined;
  }

  private apply(hasChoice: boolean, text: string, usage: number | undefined, timeNs: number): void {
    if (this.failure !== undefined) return;
    let delta: number | undefined;
    if (usage !== undefined && !(Number.isSafeInteger(usage) && usage >= 0)) {
      this.fail("malformed_sse", `usage.completion_tokens is ${usage}, not a token count`);
      return;
    }
    if (usage !== undefined) {
      delta = usage - (this.serverTokens ?? 0);
      this.serverTokens = usage;
    }
    // An event without text is an output chunk only when its usage grows a per-chunk count (continuous usage).
    // After chunks that carried no usage, a first count is the request's total in its final usage event
    // (llama.cpp sends it with an empty choice), not new output.
    if (!hasChoice || (text.length === 0 && !(delta !== undefined && delta > 0 && this.continuous))) return;
    this.textChars += text.length;
    if (this.textChars > this.limits.textChars) {
      this.tooLarge(`more than ${this.limits.textChars} characters of output text`);
      return;
    }
    if (this.chunkTimesNs.length >= this.limits.chunks) {
      this.tooLarge(`more than ${this.limits.chunks} output chunks`);
      return;
    }
    if (this.firstNs === undefined) this.firstNs = timeNs;
    this.chunkTimesNs.push(timeNs);
    if (delta !== undefined && this.continuous) this.chunkTokens.push(delta);
    else this.continuous = false;
    if (text.length > 0) this.parts.push(text);
  }

  /** Tokens per content chunk when the server counted every chunk, else undefined. */
  tokensPerChunk(): number[] | undefined {
    return this.continuous &&
      this.chunkTokens.length === this.chunkTimesNs.length &&
      this.chunkTokens.length > 0
      ? this.chunkTokens
      : undefined;
  }

  text(): string {
    return this.parts.join("");
  }

  fail(code: FailureCode, detail?: string): void {
    if (this.failure === undefined) this.failure = detail ? `${code}: ${detail}` : code;
  }

  /** The outcome once the body has ended cleanly: a failure reason or undefined. */
  settle(): string | undefined {
    if (this.failure !== undefined) return this.failure;
    const produced = this.chunkTimesNs.length > 0 || (this.serverTokens ?? 0) > 0;
    if (!this.sawDone && this.finishReason === undefined) {
      this.fail("incomplete_stream", `ended without [DONE] after ${this.chunkTimesNs.length} chunks`);
    } else if (!produced) {
      this.fail("empty_response", "no output tokens");
    }
    return this.failure;
  }
}

function deltaText(choice: Choice): string {
  const d = choice.delta;
  if (!d) return "";
  let s = typeof d.content === "string" ? d.content : "";
  // Reasoning text is output the server generated and bills as completion tokens.
  if (typeof d.reasoning_content === "string") s += d.reasoning_content;
  else if (typeof d.reasoning === "string") s += d.reasoning;
  return s;
}

export function errorMessage(err: unknown): string {
  if (typeof err === "string") return err.slice(0, 200);
  if (typeof err === "object" && err !== null) {
    const m = (err as { message?: unknown }).message;
    if (typeof m === "string") return m.slice(0, 200);
  }
  return JSON.stringify(err).slice(0, 200);
}
