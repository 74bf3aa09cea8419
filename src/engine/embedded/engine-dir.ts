/**
 * The engine directory `build` writes and `throughput` reads: `<workspace>/<org>/<model>/tp_X_pp_Y/` holding
 * `config.json` (trtllm-bench's fields of brief §3.7 plus our `llm_bench` block), the GGUF weights and the
 * tokenizer files.
 */
import { access, readFile } from "node:fs/promises";
import { dirname, isAbsolute, join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { ConfigError, UsageError } from "../../errors.ts";
import { KV_CACHE_TYPES, KV_QUANT_ALGOS, QUANT_ALGOS } from "../../model/quantization.ts";
import { writeFileAtomic } from "../../util/atomic-write.ts";

export const ENGINE_CONFIG_FILE = "config.json";
/** Bumped when the `llm_bench` block changes incompatibly. */
export const ENGINE_FORMAT = 1;

/** `Path(workspace, model_name, f"tp_{tp}_pp_{pp}")`, refusing model names that would leave the workspace. */
export function engineDirFor(workspace: string, model: string, tpSize: number, ppSize: number): string {
  const parts = model.split("/");
  if (isAbsolute(model) || parts.some((p) => p === "" || p === "." || p === ".." || p.includes("\\"))) {
    throw new UsageError(
      `--model '${model}' is not a model name like 'org/name'; give a local checkpoint with --model_path.`,
    );
  }
  return join(workspace, ...parts, `tp_${tpSize}_pp_${ppSize}`);
}

const plainFileName = z
  .string()
  .min(1)
  .refine(
    (s) => !s.includes("/") && !s.includes("\\") && s !== "." && s !== "..",
    "must be a plain file name",
  );
const posInt = z.number().int().positive();

const engineConfigSchema = z.object({
  version: z.string().min(1),
  pretrained_config: z.object({
    architecture: z.string().min(1),
    dtype: z.enum(["float16", "bfloat16", "float32"]),
    quantization: z.object({
      quant_algo: z.enum(QUANT_ALGOS).nullable(),
      kv_cache_quant_algo: z.enum(KV_QUANT_ALGOS).nullable(),
    }),
    mapping: z.object({ tp_size: posInt, pp_size: posInt, world_size: posInt }),
  }),
  build_config: z.object({
    max_batch_size: posInt,
    max_num_tokens: posInt,
    max_seq_len: posInt,
    max_input_len: posInt,
    speculative_decoding_mode: z.string().min(1),
    auto_parallel_config: z.object({ gpus_per_node: posInt }).optional(),
  }),
  llm_bench: z.object({
    format: z.literal(ENGINE_FORMAT),
    model_name: z.string().min(1),
    gguf_file: plainFileName,
    gguf_bytes: z.number().int().nonnegative(),
    /** A ggml file type name: one we write (F16, Q8_0, ...) or whatever a reused GGUF holds (Q4_K_M, ...). */
    weight_type: z.string().regex(/^[A-Z0-9_]+$/, "must be a ggml type name such as Q8_0"),
    kv_cache_type: z.enum(KV_CACHE_TYPES),
    weights_source: z.enum(["dummy", "safetensors", "gguf"]),
    dummy_seed: z.number().int().optional(),
    param_count: z.number().int().nonnegative(),
    /** The HF config.json the engine was built from, as read. */
    model_config: z.record(z.string(), z.unknown()),
    tokenizer_files: z.array(plainFileName).min(1),
    build_time: z.string().min(1),
    build_seconds: z.number().nonnegative(),
  }),
});

export type EngineConfig = z.infer<typeof engineConfigSchema>;

function issuePath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? "(root)" : path.map(String).join(".");
}

/** Validates a parsed config.json; the error names the file and the first bad field. */
export function parseEngineConfig(doc: unknown, file: string): EngineConfig {
  const r = engineConfigSchema.safeParse(doc);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new ConfigError(`field '${issuePath(i.path)}': ${i.message}`, file);
  }
  const cfg = r.data;
  const m = cfg.pretrained_config.mapping;
  if (m.world_size !== m.tp_size * m.pp_size) {
    throw new ConfigError(
      `field 'pretrained_config.mapping.world_size': ${m.world_size} is not tp_size * pp_size = ${m.tp_size * m.pp_size}`,
      file,
    );
  }
  const b = cfg.build_config;
  if (b.max_input_len > b.max_seq_len) {
    throw new ConfigError(
      `field 'build_config.max_input_len': ${b.max_input_len} exceeds max_seq_len ${b.max_seq_len}`,
      file,
    );
  }
  return cfg;
}

/** Writes `<dir>/config.json` atomically (validated first, so we never write what we could not read). */
export async function writeEngineConfig(dir: string, config: EngineConfig): Promise<string> {
  const file = join(dir, ENGINE_CONFIG_FILE);
  parseEngineConfig(config, file);
  await writeFileAtomic(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

/** Reads and validates `<dir>/config.json`, and checks that the files it names are there. */
export async function readEngineConfig(dir: string): Promise<EngineConfig> {
  const file = join(dir, ENGINE_CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "not found (is this an engine directory written by `build`?)" : String(err);
    throw new ConfigError(why, file, { cause: err });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`not valid JSON: ${(err as Error).message}`, file, { cause: err });
  }
  const cfg = parseEngineConfig(doc, file);
  const named: [string, string][] = [
    ["llm_bench.gguf_file", cfg.llm_bench.gguf_file],
    ...cfg.llm_bench.tokenizer_files.map((f, i): [string, string] => [`llm_bench.tokenizer_files.${i}`, f]),
  ];
  for (const [field, name] of named) {
    try {
      await access(join(dir, name));
    } catch {
      throw new ConfigError(`field '${field}': ${join(dir, name)} does not exist`, file);
    }
  }
  return cfg;
}

let versionPromise: Promise<string> | undefined;

/** llm-bench's package version (the `version` field, as trtllm-bench writes its own version there). */
export function llmBenchVersion(): Promise<string> {
  versionPromise ??= (async () => {
    let dir = dirname(fileURLToPath(import.meta.url));
    for (;;) {
      try {
        const pkg = JSON.parse(await readFile(join(dir, "package.json"), "utf8")) as {
          name?: string;
          version?: string;
        };
        if (pkg.name === "llm-bench" && pkg.version) return pkg.version;
      } catch {
        // not here: keep walking up
      }
      const up = dirname(dir);
      if (up === dir) return "0.0.0";
      dir = up;
    }
  })();
  return versionPromise;
}
