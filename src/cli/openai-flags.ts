/**
 * The `--backend openai` flags, shared by `throughput` and `latency`: add them with `addOpenAiFlags(cmd)`,
 * turn the parsed values into pipeline options with `openAiOptions(flags, backend)`.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import type { OpenAiBackendOptions } from "../engine/openai/connection.ts";
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
}

const DEFAULT_TIMEOUT_S = 600;

/** `k=v` (first '=' splits; the value may contain more) into an accumulated list. */
function headerArg(raw: string, previous: string[] = []): string[] {
  const i = raw.indexOf("=");
  if (i <= 0) throw new InvalidArgumentError(`'${raw}' is not k=v.`);
  return [...previous, raw];
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
    .option("--header <k=v>", "--backend openai: extra request header (repeatable)", headerArg, [])
    .option("--served_model_name <name>", "--backend openai: the request's model field (default: --model)")
    .option(
      "--request_timeout <s>",
      "--backend openai: fail a request after this many seconds without data from the server",
      floatArg(0.001),
      DEFAULT_TIMEOUT_S,
    )
    .option("--allow_failures", "exit 0 even when requests failed (they are still reported)", false);
}

/** The pipeline's openai options, or undefined for other backends (where the openai flags are refused). */
export function openAiOptions(
  flags: OpenAiFlags,
  backend: string,
  env: NodeJS.ProcessEnv = process.env,
): Omit<OpenAiBackendOptions, "concurrency"> | undefined {
  if (backend !== "openai") {
    if (flags.base_url !== undefined) throw new UsageError("--base_url needs --backend openai");
    return undefined;
  }
  if (flags.base_url === undefined) throw new UsageError("--backend openai needs --base_url");
  let url: URL;
  try {
    url = new URL(flags.base_url);
  } catch {
    throw new UsageError(`--base_url '${flags.base_url}' is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`--base_url '${flags.base_url}' must be http:// or https://`);
  }
  const headers: Record<string, string> = {};
  for (const kv of flags.header) {
    const i = kv.indexOf("=");
    const name = kv.slice(0, i).trim().toLowerCase();
    const value = kv.slice(i + 1);
    // RFC 9110 field-name token; CR/LF in a value would split the request.
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name) || /[\r\n\0]/.test(value))
      throw new UsageError(`--header '${kv}': not a valid HTTP header field (name=value)`);
    if (name === "host" || name === "content-length" || name === "transfer-encoding" || name === "connection")
      throw new UsageError(`--header '${kv}': ${name} is set by the client itself`);
    headers[name] = value;
  }
  return {
    baseUrl: flags.base_url,
    apiKey: flags.api_key ?? env["OPENAI_API_KEY"],
    endpoint: flags.endpoint,
    headers,
    servedModelName: flags.served_model_name,
    requestTimeoutMs: flags.request_timeout * 1000,
  };
}
