/**
 * What the server does with the fields it accepted. A server may take a request field and ignore it (llama.cpp's
 * llama-server ignores `min_tokens`, `continuous_usage_stats` and `return_token_ids`), so acceptance proves
 * nothing: the accepted probe's stream is read for what really came (usage, per-chunk usage, token ids, the
 * server's prompt count), and one more short request checks that the output length is forced. Each finding says
 * what the run relies on instead; none of them stops the run.
 */
import { log } from "../../util/log.ts";
import type { OpenAiConnection } from "./connection.ts";
import { SseReader } from "./sse.ts";
import { StreamAccumulator } from "./stream.ts";
import { fetchText } from "./transport.ts";

/** Output tokens the length probe asks for: enough to see a stop at EOS, cheap on any server. */
export const LENGTH_PROBE_TOKENS = 4;
/** The logit bias that makes EOS the greedy choice at every step unless the server forces the length. */
const EOS_BIAS = 100;

export interface ServerBehaviour {
  /** The final usage event came (`stream_options.include_usage`). */
  usage: boolean;
  /** Every output chunk carried usage (`continuous_usage_stats`); undefined when not asked for. */
  continuousUsage: boolean | undefined;
  /** Output chunks carried their token ids (`return_token_ids`); undefined when not asked for. */
  tokenIds: boolean | undefined;
  /** `usage.prompt_tokens` for the probe's prompt, and the count the dataset rules give it. */
  promptTokens: number | undefined;
  expectedPromptTokens: number;
  /** The output length was forced against an EOS-biased model; undefined when not tested. */
  lengthsHonoured: boolean | undefined;
  /** One line per finding, with what the run relies on instead. */
  findings: string[];
}

export interface BehaviourInput {
  chat: boolean;
  /** The accepted shape sent the extensions (ignore_eos, min_tokens, continuous usage, token ids). */
  extensions: boolean;
  /** The accepted shape sent token ids (completions only). */
  tokenIds: boolean;
  /** The accepted 1-token probe's response body. */
  probeBody: string;
  /** The probe prompt's length as the dataset would count it. */
  expectedPromptTokens: number;
  /** The accepted probe's JSON body, reused for the length probe. */
  body: string;
  /** The tokenizer's EOS id; without it the length probe is skipped. */
  eosId: number | undefined;
  /** Counts the tokens of returned text (the client tokenizer). */
  countText: (text: string) => number;
}

/** Reads a whole SSE body as the client reads a streamed response. */
export function readStream(body: string, chat: boolean): StreamAccumulator {
  const acc = new StreamAccumulator(chat);
  const sse = new SseReader({
    onData: (data, t) => acc.onData(data, t),
    onFramed: (text, pos, t) => acc.onFramed(text, pos, t),
    onMalformed: (detail) => acc.fail("malformed_sse", detail),
    onOversized: (limit) => acc.fail("response_too_large", `an event over ${limit} characters`),
  });
  sse.feed(Buffer.from(body, "utf8"), 0);
  sse.end(0);
  acc.settle();
  return acc;
}

/** What the accepted 1-token probe's stream shows. */
export function inspectProbe(input: BehaviourInput): ServerBehaviour {
  const acc = readStream(input.probeBody, input.chat);
  const b: ServerBehaviour = {
    usage: acc.serverTokens !== undefined,
    continuousUsage: input.extensions ? acc.tokensPerChunk() !== undefined : undefined,
    tokenIds: input.extensions && !input.chat ? acc.receivedIds() !== undefined : undefined,
    promptTokens: acc.serverPromptTokens,
    expectedPromptTokens: input.expectedPromptTokens,
    lengthsHonoured: undefined,
    findings: [],
  };
  if (acc.failure !== undefined) {
    b.findings.push(`the probe's stream could not be read (${acc.failure}): nothing is verified`);
    return b;
  }
  if (!b.usage) {
    b.findings.push(
      "no usage event came (stream_options.include_usage ignored): output tokens are counted by the client " +
        "tokenizer only, and input tokens only from the dataset",
    );
  }
  if (b.continuousUsage === false) {
    b.findings.push(
      "chunks carry no usage (continuous_usage_stats ignored): tokens per chunk are request averages (n / chunks)",
    );
  }
  if (b.tokenIds === false) {
    b.findings.push(
      "chunks carry no token ids (return_token_ids ignored): the client counts output tokens by re-tokenizing the text",
    );
  }
  if (b.promptTokens !== undefined && b.promptTokens !== b.expectedPromptTokens) {
    b.findings.push(
      `the server counts ${b.promptTokens} prompt tokens for a probe the dataset would count as ` +
        `${b.expectedPromptTokens} (${input.chat ? "its chat template" : "BOS or re-tokenization"}): the report ` +
        "gives the server's input tokens beside the dataset's",
    );
  }
  return b;
}

/**
 * Asks for LENGTH_PROBE_TOKENS tokens with EOS made the greedy choice (`logit_bias`): a server that honours
 * `ignore_eos` / `min_tokens` still returns them all, one that ignores both stops after the first.
 */
export async function probeLengths(
  conn: OpenAiConnection,
  input: BehaviourInput,
): Promise<{ honoured: boolean | undefined; note: string }> {
  if (input.eosId === undefined) return { honoured: undefined, note: "no EOS id in the tokenizer" };
  const body = JSON.parse(input.body) as Record<string, unknown>;
  body["max_tokens"] = LENGTH_PROBE_TOKENS;
  if ("min_tokens" in body) body["min_tokens"] = LENGTH_PROBE_TOKENS;
  body["logit_bias"] = { [String(input.eosId)]: EOS_BIAS };
  let res: { status: number; text: string };
  try {
    res = await fetchText(conn.transport, {
      method: "POST",
      path: conn.path,
      headers: { accept: "text/event-stream" },
      body: JSON.stringify(body),
    });
  } catch (err) {
    return { honoured: undefined, note: `the length probe failed (${(err as Error).message})` };
  }
  if (res.status >= 300) {
    return {
      honoured: undefined,
      note: `the length probe (logit_bias on EOS) was refused with HTTP ${res.status}`,
    };
  }
  const acc = readStream(res.text, input.chat);
  if (acc.failure !== undefined && !acc.failure.startsWith("empty_response")) {
    return { honoured: undefined, note: `the length probe's stream could not be read (${acc.failure})` };
  }
  const text = acc.text();
  const produced =
    acc.serverTokens ?? acc.receivedIds()?.length ?? (text.length > 0 ? input.countText(text) : undefined);
  if (produced === undefined)
    return { honoured: undefined, note: "the length probe's output could not be counted" };
  return {
    honoured: produced >= LENGTH_PROBE_TOKENS,
    note: `${produced} of ${LENGTH_PROBE_TOKENS} tokens with EOS made the greedy choice`,
  };
}

/** The findings as log lines: information when all is as asked, a warning for each thing the run works around. */
export function logBehaviour(b: ServerBehaviour, lengthNote: string | undefined): void {
  if (b.lengthsHonoured === false) {
    b.findings.push(
      `output lengths are not forced (ignore_eos / min_tokens ignored: ${lengthNote}): requests may stop at EOS ` +
        "before output_tokens; the report counts them under 'Requests with another output length than asked'",
    );
  }
  for (const f of b.findings) log.warn(`Server probe: ${f}.`);
  const ok: string[] = [];
  if (b.usage) ok.push("usage");
  if (b.continuousUsage) ok.push("usage per chunk");
  if (b.tokenIds) ok.push("token ids");
  if (b.lengthsHonoured) ok.push("forced output lengths");
  if (b.promptTokens !== undefined && b.promptTokens === b.expectedPromptTokens)
    ok.push("the dataset's prompt counts");
  if (ok.length > 0) log.info(`Server probe: the server sends ${ok.join(", ")}.`);
  if (b.lengthsHonoured === undefined && lengthNote !== undefined) {
    log.info(`Server probe: output lengths not verified (${lengthNote}).`);
  }
}
