/**
 * The openai backend's own flags (`--base_url`, `--api_key`, `--endpoint`, `--header`, `--served_model_name`,
 * `--request_timeout`), their schema, and how parsed values become its options. The CLI adds them to every
 * benchmark command (src/cli/flag-groups.ts) and refuses them with another backend.
 */
import { z } from "zod";
import { UsageError } from "../../errors.ts";
import { defineFlags, type FlagValues, floatValue } from "../../util/flag-table.ts";
import type { OpenAiBackendOptions } from "./connection.ts";
import { displayUrl, splitCredentials } from "./secrets.ts";

/** What the backend takes besides the common options (the pool is sized to the run's concurrency). */
export type OpenAiOptions = Omit<OpenAiBackendOptions, "concurrency">;

const DEFAULT_TIMEOUT_S = 600;

/**
 * Collected as typed and checked in readOpenAiFlags: commander would quote a rejected value in its own message,
 * and a header value is often a secret.
 */
function headerArg(raw: string, previous: string[] = []): string[] {
  return [...previous, raw];
}

// Transport flags (proxies, CA, TLS checks) go at the end of this table, and into OpenAiOptions / the schema.
export const openAiFlagTable = defineFlags({
  base_url: {
    flags: "--base_url <url>",
    description: "--backend openai: server URL (http://host:8000, with or without /v1)",
  },
  api_key: {
    flags: "--api_key <key>",
    description: "--backend openai: bearer token (default: $OPENAI_API_KEY)",
  },
  endpoint: {
    flags: "--endpoint <kind>",
    description: "--backend openai: /v1/completions or /v1/chat/completions",
    choices: ["completions", "chat"],
    default: "completions",
  },
  header: {
    flags: "--header <k=v>",
    description: "--backend openai: extra request header, name=value or 'Name: value' (repeatable)",
    parse: headerArg,
    default: [],
  },
  served_model_name: {
    flags: "--served_model_name <name>",
    description: "--backend openai: the request's model field (default: --model)",
  },
  request_timeout: {
    flags: "--request_timeout <s>",
    description: "--backend openai: fail a request after this many seconds without data from the server",
    parse: floatValue(0.001),
    default: DEFAULT_TIMEOUT_S,
  },
});

export type OpenAiFlags = FlagValues<typeof openAiFlagTable>;

/** RFC 9110 field-name token. */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * `name=value` (the first '=' splits: the value may hold more), or curl's `Name: value`. Errors name the header
 * (its position when even the name is unreadable), never its value.
 */
export function parseHeader(raw: string, index: number): [name: string, value: string] {
  const colon = raw.indexOf(":");
  const eq = raw.indexOf("=");
  let name: string;
  let value: string;
  if (colon > 0 && FIELD_NAME.test(raw.slice(0, colon).trim())) {
    name = raw.slice(0, colon).trim();
    value = raw.slice(colon + 1).trim();
  } else if (eq > 0 && FIELD_NAME.test(raw.slice(0, eq).trim())) {
    name = raw.slice(0, eq).trim();
    value = raw.slice(eq + 1);
  } else {
    throw new UsageError(
      `--header #${index + 1}: not 'name=value' or 'Name: value' (its text is not shown: it may hold a secret)`,
    );
  }
  name = name.toLowerCase();
  // CR/LF in a value would split the request.
  if (/[\r\n\0]/.test(value)) throw new UsageError(`--header ${name}: the value holds a line break or NUL`);
  if (name === "host" || name === "content-length" || name === "transfer-encoding" || name === "connection")
    throw new UsageError(`--header ${name}: set by the client itself`);
  return [name, value];
}

/** The backend's options from its parsed flags. */
export function readOpenAiFlags(flags: OpenAiFlags, env: NodeJS.ProcessEnv = process.env): OpenAiOptions {
  if (flags.base_url === undefined) throw new UsageError("--backend openai needs --base_url");
  // Quoted with any `user:password@` masked: the URL may carry credentials.
  const shown = displayUrl(flags.base_url);
  let url: URL;
  try {
    url = new URL(flags.base_url);
  } catch {
    throw new UsageError(`--base_url '${shown}' is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`--base_url '${shown}' must be http:// or https://`);
  }
  const headers: Record<string, string> = {};
  for (const [i, kv] of flags.header.entries()) {
    const [name, value] = parseHeader(kv, i);
    headers[name] = value;
  }
  // URL credentials become Basic auth here, so the URL kept in the options (and every message naming it) has none.
  const { url: baseUrl, basic } = splitCredentials(flags.base_url);
  let apiKey = flags.api_key ?? env["OPENAI_API_KEY"];
  if (basic !== undefined) {
    const other =
      flags.api_key !== undefined
        ? "--api_key"
        : headers["authorization"] !== undefined
          ? "--header authorization"
          : undefined;
    if (other !== undefined)
      throw new UsageError(
        `--base_url carries credentials (user:password@) and ${other} is given: pass one of them`,
      );
    // Explicit credentials win over the environment's default key.
    apiKey = undefined;
    headers["authorization"] = basic;
  }
  return {
    baseUrl,
    apiKey,
    endpoint: flags.endpoint,
    headers,
    servedModelName: flags.served_model_name,
    requestTimeoutMs: flags.request_timeout * 1000,
  };
}

/** The options however they were made (flags, a script, a test). */
export const openAiOptionsSchema: z.ZodType<OpenAiOptions> = z
  .object({
    baseUrl: z.string().min(1),
    apiKey: z.string().optional(),
    endpoint: z.enum(["completions", "chat"]),
    headers: z.record(z.string(), z.string()).optional(),
    servedModelName: z.string().optional(),
    requestTimeoutMs: z.number().positive(),
  })
  .strict();
