/**
 * `--backend openai`: the client tokenizer comes from --model/--model_path (it counts output tokens and reads
 * text datasets); start() asks the server what it serves and accepts, then returns the HTTP engine.
 */
import { UnsupportedError, UsageError } from "../../errors.ts";
import { resolveTokenizer } from "../../model/tokenizer-resolve.ts";
import { log } from "../../util/log.ts";
import type { CommonBackendOptions, PreparedBackend } from "../backend.ts";
import type { EngineInfo } from "../types.ts";
import { OpenAiEngine } from "./client.ts";
import { OpenAiConnection } from "./connection.ts";
import type { OpenAiOptions } from "./flags.ts";
import { probeServer } from "./probe.ts";

interface ModelEntry {
  id?: unknown;
  max_model_len?: unknown;
}

/** `/v1/models` → the served ids and, from vLLM-style entries, the model's context length. */
export function readModels(json: unknown): { ids: string[]; maxModelLen: Map<string, number> } {
  const data = (json as { data?: unknown } | undefined)?.data;
  const ids: string[] = [];
  const maxModelLen = new Map<string, number>();
  if (Array.isArray(data)) {
    for (const e of data as ModelEntry[]) {
      if (typeof e?.id !== "string") continue;
      ids.push(e.id);
      if (typeof e.max_model_len === "number") maxModelLen.set(e.id, e.max_model_len);
    }
  }
  return { ids, maxModelLen };
}

export async function prepareOpenai(
  opts: CommonBackendOptions,
  own: OpenAiOptions,
): Promise<PreparedBackend> {
  const o = { ...own, concurrency: opts.concurrency };
  const model = opts.model;
  if (model === undefined)
    throw new UsageError("--backend openai needs --model: its tokenizer counts the tokens");
  if (opts.speculative) {
    throw new UnsupportedError(
      "speculative decoding options apply to the embedded engine; configure it on the server for --backend openai",
    );
  }
  const tokenizer = await resolveTokenizer({
    model,
    modelPath: opts.modelPath,
    revision: opts.revision,
  });
  const served = o.servedModelName ?? model;
  return {
    tokenizer,
    vocabSize: tokenizer.totalVocabSize,
    async start(limits) {
      const conn = new OpenAiConnection(o);
      try {
        const models = readModels(await conn.getJson("/models"));
        if (models.ids.length > 0 && !models.ids.includes(served)) {
          // The server's list, shortened (a hostile one could be megabytes) and masked like any server text.
          const ids = models.ids.slice(0, 10).map((id) => id.slice(0, 100));
          const more = models.ids.length > 10 ? ` and ${models.ids.length - 10} more` : "";
          log.warn(
            conn.redact(
              `${conn.root}/models lists ${ids.join(", ")}${more}, not '${served}' (set --served_model_name).`,
            ),
          );
        }
        const maxLen = models.maxModelLen.get(served);
        if (maxLen !== undefined && limits.maxSequenceLength > maxLen) {
          log.warn(
            `The dataset's longest request (${limits.maxSequenceLength} tokens) exceeds the server's max_model_len ${maxLen}: those requests will fail.`,
          );
        }
        const version = (await conn.getJson("/version", true)) as { version?: unknown } | undefined;
        const probeIds = tokenizer.encode("Hello", { addSpecialTokens: false }).slice(0, 1);
        const probeText = probeIds.length > 0 ? tokenizer.decode(probeIds) : "Hello";
        const features = await probeServer(conn, {
          model: served,
          probeIds: probeIds.length > 0 ? probeIds : [0],
          probeText,
          probeTextTokens: tokenizer.encode(probeText).length,
          eosId: tokenizer.eosTokenId,
          countText: (text) => tokenizer.encode(text, { addSpecialTokens: false }).length,
        });
        log.info(
          `OpenAI backend: ${conn.url} via ${conn.route}, model '${served}', ${features.tokenIdPrompts && o.endpoint === "completions" ? "token-id" : "text"} prompts, ` +
            `output length ${features.extensions ? "forced (ignore_eos, min_tokens)" : "not forced"}, pool ${o.concurrency > 0 ? o.concurrency : "unlimited"} connections.`,
        );
        const info: EngineInfo = {
          backend: "openai",
          model: served,
          modelPath: opts.modelPath,
          engineDir: undefined,
          // Bounded: the report prints it on one line.
          version: typeof version?.version === "string" ? version.version.slice(0, 100) : "unknown",
          dtype: "N/A",
          kvCacheDtype: "N/A",
          quantization: "N/A",
          maxInputLength: undefined,
          maxSequenceLength: maxLen,
          tpSize: 1,
          ppSize: 1,
          maxBatchSize: undefined,
          maxNumTokens: undefined,
          schedulingPolicy: undefined,
          kvCacheFraction: undefined,
        };
        const engine = new OpenAiEngine({ connection: conn, info, model: served, features, tokenizer });
        return { engine, info };
      } catch (err) {
        await conn.close();
        throw err;
      }
    },
  };
}
