/**
 * The OpenAI-compatible HTTP backend. Every request streams; each network read is timestamped once (by the
 * connection pool, http1/pool.ts) and the events in it are parsed in place. Request-level failures (HTTP status, reset, stall, malformed or empty
 * stream) never reject: they resolve with finishReason "error" and a reason code (`http_503: ...`,
 * `connection_reset`, `timeout`, `malformed_sse`, `empty_response`, ...), so a run always finishes and the
 * report can count them. Output tokens are counted twice: by the server (usage) and by the client tokenizer
 * over the whole text after the run (client-count.ts; per-chunk tokenization would add tokens at chunk
 * boundaries, and tokenizing mid-run would stall other streams).
 */
import type { Tokenizer } from "../../model/tokenizer.ts";
import { nowNs } from "../../util/clock.ts";
import type {
  Engine,
  EngineCapabilities,
  EngineInfo,
  EngineRuntimeStats,
  FinishReason,
  GenerationRequest,
  GenerationResult,
  TokenSink,
} from "../types.ts";
import type { OpenAiConnection } from "./connection.ts";
import { requestBody, type WireFeatures } from "./request-body.ts";
import { SseReader } from "./sse.ts";
import { errorMessage, outputLimits, StreamAccumulator } from "./stream.ts";
import type { ExchangeTimes, HttpClientError, ResponseHandler } from "./transport.ts";

export interface OpenAiEngineOptions {
  connection: OpenAiConnection;
  info: EngineInfo;
  model: string;
  features: WireFeatures;
  /** Counts output tokens on the client side and turns id prompts into text for text-only endpoints. */
  tokenizer: Tokenizer;
}

const ERROR_BODY_CHARS = 200;
/** Of an error or non-SSE body, this much is kept for the message. */
const OTHER_BODY_BYTES = 64 * 1024;
const STREAM_HEADERS = Object.freeze({ accept: "text/event-stream" });
const NO_IDS: readonly number[] = Object.freeze([]);

export class OpenAiEngine implements Engine {
  readonly info: EngineInfo;
  readonly capabilities: EngineCapabilities;
  private active = 0;
  private chunks = 0;
  private readonly conn: OpenAiConnection;

  constructor(private readonly opts: OpenAiEngineOptions) {
    this.info = opts.info;
    this.conn = opts.connection;
    this.capabilities = {
      tokenIdPrompts: opts.features.tokenIdPrompts && opts.connection.opts.endpoint === "completions",
      streaming: true,
      exactOutputLength: opts.features.extensions,
      cancel: true,
      speculativeDecoding: false,
    };
  }

  private promptFor(req: GenerationRequest): string | readonly number[] {
    if (this.capabilities.tokenIdPrompts) return Array.from(req.inputIds);
    // Text datasets carry exact-count prompts; id datasets are decoded (the server's count may then differ).
    return req.prompt ?? this.opts.tokenizer.decode(Array.from(req.inputIds), { skipSpecialTokens: true });
  }

  async generate(req: GenerationRequest, sink?: TokenSink, signal?: AbortSignal): Promise<GenerationResult> {
    const acc = new StreamAccumulator(this.conn.opts.endpoint === "chat", outputLimits(req.maxTokens));
    const body = requestBody({
      endpoint: this.conn.opts.endpoint,
      model: this.opts.model,
      prompt: this.promptFor(req),
      maxTokens: req.maxTokens,
      ignoreEos: req.eosId === undefined,
      temperature: req.sampling?.temperature ?? 0,
      extensions: this.opts.features.extensions,
      returnTokenIds: this.opts.features.returnTokenIds,
    });
    this.active++;
    let status = 0;
    let gotHeaders = false;
    let sse: SseReader | undefined;
    let wrongType: string | undefined;
    // The body of an error status or of a non-SSE answer, kept for the message (bounded).
    const other: Buffer[] = [];
    let otherBytes = 0;
    const tell = sink?.onTokens?.bind(sink);
    const handler: ResponseHandler = {
      onHead: (h) => {
        gotHeaders = true;
        status = h.status;
        if (status >= 300) return;
        const type = h.headers["content-type"] ?? "";
        // Media types are case-insensitive (RFC 9110 §8.3.1).
        if (type.toLowerCase().includes("text/event-stream")) {
          sse = new SseReader({
            onData: (data, t) => acc.onData(data, t),
            onFramed: (text, pos, t) => acc.onFramed(text, pos, t),
            onMalformed: (detail) => acc.fail("malformed_sse", detail),
            onOversized: (limit, received) =>
              acc.fail(
                "response_too_large",
                `an SSE event exceeded ${limit} characters${received === undefined ? "" : ` (${received} received without its end)`}`,
              ),
          });
        } else wrongType = type;
      },
      onBody: (bytes, t) => {
        if (sse === undefined) {
          if (otherBytes < OTHER_BODY_BYTES)
            other.push(Buffer.from(bytes.subarray(0, OTHER_BODY_BYTES - otherBytes)));
          otherBytes += bytes.length;
          // Enough for the message: the rest is not read (an endless body would hold the request forever).
          return otherBytes < OTHER_BODY_BYTES;
        }
        const before = acc.chunkTimesNs.length;
        sse.feed(bytes, t);
        // Token ids are unknown to the sink over HTTP: it only learns when output arrived.
        if (tell) for (let i = before; i < acc.chunkTimesNs.length; i++) tell(NO_IDS, t);
        return acc.failure === undefined;
      },
    };
    let times: ExchangeTimes | undefined;
    try {
      times = await this.conn.transport.request(
        { method: "POST", path: this.conn.path, headers: STREAM_HEADERS, body },
        handler,
        signal,
      );
      if (sse !== undefined && acc.failure === undefined) {
        const t = nowNs();
        const before = acc.chunkTimesNs.length;
        sse.end(t);
        if (tell) for (let i = before; i < acc.chunkTimesNs.length; i++) tell(NO_IDS, t);
      }
    } catch (err) {
      times = (err as HttpClientError).times;
      if (signal?.aborted) return this.finish(acc, "cancelled", "cancelled", times);
      acc.fail(...classify(err, gotHeaders, acc.chunkTimesNs.length, this.conn.timeoutMs));
    }
    const otherText = () => Buffer.concat(other).toString("utf8");
    let httpError: string | undefined;
    if (status >= 300) httpError = `http_${status}: ${httpErrorDetail(otherText())}`;
    else if (wrongType !== undefined && acc.failure === undefined)
      acc.fail(
        "malformed_sse",
        `content-type '${wrongType}' is not text/event-stream: '${otherText().slice(0, 80)}'`,
      );
    if (httpError !== undefined) return this.finish(acc, "error", httpError, times);
    const failure = acc.settle();
    if (failure !== undefined) return this.finish(acc, "error", failure, times);
    return this.finish(acc, acc.finishReason === "stop" ? "stop" : "length", undefined, times);
  }

  private finish(
    acc: StreamAccumulator,
    reason: FinishReason,
    error: string | undefined,
    times?: ExchangeTimes,
  ): GenerationResult {
    const endNs = nowNs();
    this.active--;
    this.chunks += acc.chunkTimesNs.length;
    const sent = times ? { sentNs: times.sentNs } : {};
    const firstByte = times?.firstByteNs !== undefined ? { firstByteNs: times.firstByteNs } : {};
    if (error !== undefined) {
      return {
        outputIds: [],
        firstTokenNs: acc.firstNs,
        endNs,
        decodeIterations: 0,
        finishReason: reason,
        // Server text (an error body, a malformed header) may quote the key it was sent: masked before any report.
        error: this.conn.redact(error),
        ...sent,
        ...firstByte,
      };
    }
    const perChunk = acc.tokensPerChunk();
    // The client count is taken after the run (client-count.ts): ~10 µs per token would stall other streams.
    const result: GenerationResult = {
      outputIds: [],
      outputText: acc.text(),
      firstTokenNs: acc.firstNs,
      endNs,
      decodeIterations: acc.chunkTimesNs.length,
      finishReason: reason,
      chunkTimesNs: acc.chunkTimesNs,
      ...sent,
      ...firstByte,
    };
    if (acc.serverTokens !== undefined) result.serverOutputTokens = acc.serverTokens;
    if (acc.serverPromptTokens !== undefined) result.serverInputTokens = acc.serverPromptTokens;
    if (perChunk) result.chunkTokens = perChunk;
    // Ids sent with the chunks are counted as received; re-tokenizing text is the fallback (and does not
    // round-trip for every output, e.g. a dummy-weight model's).
    const ids = acc.receivedIds();
    if (ids) {
      result.outputIds = ids;
      result.clientOutputTokens = ids.length;
    }
    return result;
  }

  stats(): EngineRuntimeStats {
    return {
      steps: this.chunks,
      activeRequests: this.active,
      queuedRequests: 0,
      kvCacheTokensUsed: 0,
      kvCacheTokensTotal: 0,
      preemptions: 0,
    };
  }

  async stop(): Promise<void> {
    await this.conn.close();
  }
}

function httpErrorDetail(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: unknown; message?: unknown; detail?: unknown };
    if (j.error !== undefined) return errorMessage(j.error);
    if (typeof j.message === "string") return j.message.slice(0, ERROR_BODY_CHARS);
    if (j.detail !== undefined) return errorMessage(j.detail);
  } catch {
    // not JSON: the raw text is the detail
  }
  return text.replace(/\s+/g, " ").trim().slice(0, ERROR_BODY_CHARS);
}

const RESET_CODES = new Set(["ECONNRESET", "EPIPE", "HTTP_CLOSED"]);

/** The HTTP client's error → a reason code and a detail that says where in the request it happened. */
export function classify(
  err: unknown,
  gotHeaders: boolean,
  chunks: number,
  timeoutMs: number,
): ["connection_reset" | "connection_refused" | "connection_error" | "timeout" | "client_error", string] {
  const e = err as { code?: string; message?: string };
  const code = e.code ?? "";
  const where = gotHeaders ? `mid-stream after ${chunks} chunks` : "before response headers";
  if (code === "HTTP_TIMEOUT")
    return ["timeout", `no data for ${timeoutMs / 1000} s (--request_timeout), ${where}`];
  if (RESET_CODES.has(code)) return ["connection_reset", `${where} (${e.message ?? code})`];
  if (code === "ECONNREFUSED") return ["connection_refused", e.message ?? code];
  // Our own code threw while reading the response: not the server's fault, and not to be counted as such.
  if (code === "HTTP_HANDLER") return ["client_error", `${e.message ?? code}, ${where}`];
  return ["connection_error", `${code || "error"}: ${e.message ?? String(err)}, ${where}`];
}
