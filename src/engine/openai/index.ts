/**
 * The openai backend's public entry: the only module of src/engine/openai/ that code outside the folder
 * imports (src/engine/boundaries.test.ts).
 */
import type { BackendPlugin } from "../backend.ts";
import { countClientTokens } from "./client-count.ts";
import { type OpenAiOptions, openAiFlagTable, openAiOptionsSchema, readOpenAiFlags } from "./flags.ts";
import { prepareOpenai } from "./prepare.ts";

export type { OpenAiOptions } from "./flags.ts";

export const openaiBackend = {
  names: ["openai"] as const,
  capabilities: {
    // The connection pool is sized to the run's concurrency: a new engine per run.
    reusableAcrossRuns: false,
    speculativeDecoding: false,
  },
  flags: {
    table: openAiFlagTable,
    read: readOpenAiFlags,
    schema: openAiOptionsSchema,
  },
  prepare: prepareOpenai,
  // The server returns text: tokenized now, outside the measured window, and still interruptible.
  finalizeRecords: (records, ctx) =>
    countClientTokens(records, ctx.tokenizer, { keepOutputIds: ctx.keepOutputIds, signal: ctx.signal }),
  server(own: OpenAiOptions) {
    const headers: Record<string, string> = { ...own.headers };
    if (own.apiKey) headers["authorization"] = `Bearer ${own.apiKey}`;
    return { root: own.baseUrl.replace(/\/+$/, "").replace(/\/v1$/, ""), headers, tls: own.tls };
  },
} satisfies BackendPlugin<"openai", typeof openAiFlagTable, OpenAiOptions>;
