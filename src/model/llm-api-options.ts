/**
 * `--extra_llm_api_options` (alias `--config`): trtllm-bench's YAML of LLM-API keyword arguments. We read it as
 * YAML 1.1, as PyYAML does (so `enable_block_reuse: no` is false), keep the keys that mean something for our
 * engines, and warn about the rest instead of failing: the same file is meant to work against TensorRT-LLM too.
 */
import { readFile, stat } from "node:fs/promises";
import { LineCounter, parseDocument } from "yaml";
import { z } from "zod";
import { ConfigError } from "../errors.ts";
import { log } from "../util/log.ts";

const Options = z
  .object({
    max_batch_size: z.number().int().positive().optional(),
    max_num_tokens: z.number().int().positive().optional(),
    max_seq_len: z.number().int().positive().optional(),
    enable_chunked_prefill: z.boolean().optional(),
    kv_cache_config: z
      .object({
        dtype: z.enum(["auto", "fp8", "nvfp4"]).optional(),
        free_gpu_memory_fraction: z.number().gt(0).lte(1).optional(),
        enable_block_reuse: z.boolean().optional(),
        max_tokens: z.number().int().positive().optional(),
      })
      .loose()
      .optional(),
    scheduler_config: z
      .object({
        capacity_scheduler_policy: z
          .enum(["GUARANTEED_NO_EVICT", "MAX_UTILIZATION", "guaranteed_no_evict", "max_utilization"])
          .optional(),
      })
      .loose()
      .optional(),
  })
  .loose();

export type LlmApiOptions = z.infer<typeof Options>;

/** Keys we act on; every other top-level key is accepted and reported as ignored. */
const USED = new Set([
  "max_batch_size",
  "max_num_tokens",
  "max_seq_len",
  "enable_chunked_prefill",
  "kv_cache_config",
  "scheduler_config",
]);

export function parseLlmApiOptions(text: string, file: string): LlmApiOptions {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { version: "1.1", lineCounter, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    throw new ConfigError(
      `${pos ? `line ${pos.line}, column ${pos.col}: ` : ""}${e.message.split("\n")[0]}`,
      file,
    );
  }
  let value: unknown;
  try {
    // The yaml library caps alias expansion (maxAliasCount) and throws a ReferenceError past it: an alias bomb.
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {};
  } catch (err) {
    throw new ConfigError(`cannot be read as LLM-API options: ${(err as Error).message}`, file, {
      cause: err,
    });
  }
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError("expected a mapping of LLM-API options at the top level", file);
  }
  const parsed = Options.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.map(String);
    const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
    const where = node?.range ? lineCounter.linePos(node.range[0]) : undefined;
    throw new ConfigError(
      `${where ? `line ${where.line}, column ${where.col}: ` : ""}${path.join(".")}: ${issue.message}`,
      file,
    );
  }
  for (const key of Object.keys(parsed.data)) {
    if (!USED.has(key)) log.warn(`${file}: '${key}' has no meaning for llm-bench's engines and is ignored.`);
  }
  return parsed.data;
}

/** An options file is a few lines; anything this large is the wrong file (and would be parsed whole). */
export const MAX_LLM_API_OPTIONS_BYTES = 1 << 20;
/** Aliases the expansion may follow: real option files use a handful (anchors for shared sub-configs). */
const MAX_ALIAS_COUNT = 100;

export async function readLlmApiOptions(file: string): Promise<LlmApiOptions> {
  let text: string;
  try {
    const size = (await stat(file)).size;
    if (size > MAX_LLM_API_OPTIONS_BYTES) {
      throw new ConfigError(
        `is ${size} bytes; an LLM-API options file is at most ${MAX_LLM_API_OPTIONS_BYTES} bytes`,
        file,
      );
    }
    text = await readFile(file, "utf8");
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`cannot read: ${(err as Error).message}`, file, { cause: err });
  }
  return parseLlmApiOptions(text, file);
}
