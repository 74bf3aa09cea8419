/**
 * The openai backend's own flags (`--base_url`, `--api_key`, `--endpoint`, `--header`, `--served_model_name`,
 * `--request_timeout`, `--ca_cert`, `--insecure`), their schema, and how parsed values become its options. The CLI adds them to every
 * benchmark command (src/cli/flag-groups.ts) and refuses them with another backend.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { z } from "zod";
import { UsageError } from "../../errors.ts";
import { defineFlags, type FlagValues, floatValue } from "../../util/flag-table.ts";
import type { OpenAiBackendOptions } from "./connection.ts";
import { proxyFor } from "./proxy-env.ts";
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

// Proxies come from the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY: proxy-env.ts), not from flags.
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
  ca_cert: {
    flags: "--ca_cert <file>",
    description:
      "--backend openai: PEM file of the CA(s) that signed an https:// server's certificate (replaces the default roots)",
  },
  insecure: {
    flags: "--insecure",
    description: "--backend openai: do not verify an https:// server's certificate (self-signed servers)",
    default: false,
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
  if (name === "accept-encoding")
    throw new UsageError(
      `--header ${name}: the client asks for identity (it reads bytes as they arrive, never decompressed)`,
    );
  return [name, value];
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The PEM text of --ca_cert, each certificate in it parsed, so a wrong file fails here and not at the first TLS handshake. */
export function readCaFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(
      `--ca_cert ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  const certs = text.match(PEM_CERT) ?? [];
  if (certs.length === 0)
    throw new UsageError(`--ca_cert ${file}: no PEM certificate in it (-----BEGIN CERTIFICATE-----)`);
  for (const [i, pem] of certs.entries()) {
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw new UsageError(
        `--ca_cert ${file}: certificate #${i + 1} does not parse (${(err as Error).message})`,
      );
    }
  }
  return text;
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
  const ca = flags.ca_cert !== undefined ? readCaFile(flags.ca_cert) : undefined;
  return {
    baseUrl,
    apiKey,
    endpoint: flags.endpoint,
    headers,
    servedModelName: flags.served_model_name,
    requestTimeoutMs: flags.request_timeout * 1000,
    tls: { ca, insecure: flags.insecure },
    // Read once, here, like OPENAI_API_KEY: a bad value is a usage error before anything starts.
    proxy: proxyFor(new URL(baseUrl), env),
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
    tls: z.object({ ca: z.string().optional(), insecure: z.boolean().optional() }).strict().optional(),
    proxy: z.object({ url: z.string(), shown: z.string(), from: z.string() }).strict().optional(),
    transport: z.enum(["fast", "undici"]).optional(),
  })
  .strict();
