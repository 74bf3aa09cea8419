/**
 * What one streamed completion said, event by event: content chunks with their arrival times, the server's
 * output-token count (per chunk with continuous usage, else from the final usage event), the finish reason,
 * and the first thing that went wrong. The TTFT anchor is the first chunk that carries output (text, or
 * reasoning text, or a usage increase): role-only preludes and keep-alive events do not count.
 */
import { ScannedEvent, scanEvent, scanFramedEvent } from "./event-scan.ts";

/** A request's outcome as a short reason code, or undefined on success. */
export type FailureCode =
  | "malformed_sse"
  | "stream_error"
  | "incomplete_stream"
  | "empty_response"
  | "connection_reset"
  | "connection_refused"
  | "connection_error"
  | "client_error"
  | "timeout";

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

  constructor(private readonly chat: boolean) {}

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
      if (e.hasIds) for (const id of e.ids) this.ids.push(id);
      else if (e.text.length > 0) this.idsComplete = false;
    }
    this.apply(e.hasChoice, e.text, e.usage, timeNs);
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
      if (Array.isArray(ids)) for (const id of ids) this.ids.push(id as number);
      else if (text.length > 0) this.idsComplete = false;
    }
    this.apply(choice !== undefined, text, typeof usage === "number" ? usage : undefined, timeNs);
  }

  /** The ids the client received, when every content chunk carried them; else undefined (count by re-tokenizing). */
  receivedIds(): number[] | undefined {
    return this.idsComplete && this.ids.length > 0 ? this.ids : undefined;
  }

  private apply(hasChoice: boolean, text: string, usage: number | undefined, timeNs: number): void {
    let delta: number | undefined;
    if (usage !== undefined) {
      delta = usage - (this.serverTokens ?? 0);
      this.serverTokens = usage;
    }
    // An event without text is an output chunk only when its usage grows a per-chunk count (continuous usage).
    // After chunks that carried no usage, a first count is the request's total in its final usage event
    // (llama.cpp sends it with an empty choice), not new output.
    if (!hasChoice || (text.length === 0 && !(delta !== undefined && delta > 0 && this.continuous))) return;
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
