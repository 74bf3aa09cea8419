/**
 * The `--backend openai` flags, shared by `throughput`, `latency` and `sweep`: add them with `addOpenAiFlags(cmd)`,
 * turn the parsed values into pipeline options with `openAiOptions(flags, backend)`.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { type Command, Option } from "commander";
import type { OpenAiBackendOptions } from "../engine/openai/connection.ts";
import { proxyFor } from "../engine/openai/proxy-env.ts";
import { displayUrl, splitCredentials } from "../engine/openai/secrets.ts";
import { UsageError } from "../errors.ts";
import { floatArg } from "./parsers.ts";

export interface OpenAiFlags {
  base_url?: string;
  api_key?: string;
  endpoint: "completions" | "chat";
  header: string[];
  served_model_name?: string;
  request_timeout: number;
  allow_failures: boolean;
  ca_cert?: string;
  insecure: boolean;
}

const DEFAULT_TIMEOUT_S = 600;

/**
 * Collected as typed and checked in openAiOptions: commander would quote a rejected value in its own message, and
 * a header value is often a secret.
 */
function headerArg(raw: string, previous: string[] = []): string[] {
  return [...previous, raw];
}

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

export function addOpenAiFlags(cmd: Command): Command {
  return cmd
    .option("--base_url <url>", "--backend openai: server URL (http://host:8000, with or without /v1)")
    .option("--api_key <key>", "--backend openai: bearer token (default: $OPENAI_API_KEY)")
    .addOption(
      new Option("--endpoint <kind>", "--backend openai: /v1/completions or /v1/chat/completions")
        .choices(["completions", "chat"])
        .default("completions"),
    )
    .option(
      "--header <k=v>",
      "--backend openai: extra request header, name=value or 'Name: value' (repeatable)",
      headerArg,
      [],
    )
    .option("--served_model_name <name>", "--backend openai: the request's model field (default: --model)")
    .option(
      "--request_timeout <s>",
      "--backend openai: fail a request after this many seconds without data from the server",
      floatArg(0.001),
      DEFAULT_TIMEOUT_S,
    )
    .option(
      "--ca_cert <file>",
      "--backend openai: PEM file of the CA(s) that signed an https:// server's certificate (replaces the default roots)",
    )
    .option(
      "--insecure",
      "--backend openai: do not verify an https:// server's certificate (self-signed servers)",
      false,
    )
    .option("--allow_failures", "exit 0 even when requests failed (they are still reported)", false);
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

/** The pipeline's openai options, or undefined for other backends (where the openai flags are refused). */
export function openAiOptions(
  flags: OpenAiFlags,
  backend: string,
  env: NodeJS.ProcessEnv = process.env,
): Omit<OpenAiBackendOptions, "concurrency"> | undefined {
  if (backend !== "openai") {
    // Defaults are indistinguishable from typed values here: a flag differing from its default was given.
    const given = [
      flags.base_url !== undefined && "--base_url",
      flags.api_key !== undefined && "--api_key",
      flags.header.length > 0 && "--header",
      flags.served_model_name !== undefined && "--served_model_name",
      flags.endpoint !== "completions" && "--endpoint",
      flags.request_timeout !== DEFAULT_TIMEOUT_S && "--request_timeout",
      flags.ca_cert !== undefined && "--ca_cert",
      flags.insecure && "--insecure",
    ].filter((f): f is string => f !== false);
    if (given.length > 0)
      throw new UsageError(`${given.join(", ")} ${given.length === 1 ? "needs" : "need"} --backend openai`);
    return undefined;
  }
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
