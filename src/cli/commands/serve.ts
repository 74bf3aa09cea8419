/**
 * `llm-bench serve --engine_dir E`: parses the flags and calls `runServe` (src/server/run-serve.ts). Prints the
 * bound address on stdout once it is listening.
 */
import type { Command } from "commander";
import { runServe } from "../../server/run-serve.ts";
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_REQUEST_TIMEOUT_MS } from "../../server/server.ts";
import { defineFlags, type FlagValues, floatValue, intValue } from "../../util/flag-table.ts";
import {
  BATCH_FLAGS,
  COMPUTE_FLAGS,
  chunkedContext,
  computeOptions,
  ENGINE_FLAGS,
  SCHEDULING_FLAGS,
} from "../flag-groups.ts";
import { addFlags } from "../flag-table.ts";

const SERVE_FLAGS = defineFlags({
  engine_dir: {
    flags: "--engine_dir <dir>",
    description: "engine directory written by `build`",
    required: true,
  },
  host: { flags: "--host <addr>", description: "address to bind", default: "127.0.0.1" },
  port: {
    flags: "--port <n>",
    description: "port to bind; 0 picks a free one (the bound address is printed)",
    parse: intValue(0, 65535),
    default: 8000,
  },
  api_key: {
    flags: "--api_key <key>",
    description: "require `Authorization: Bearer <key>` on /v1 routes (default: $LLM_BENCH_API_KEY)",
  },
  served_model_name: {
    flags: "--served_model_name <name>",
    description: "model name in the API (default: --model, else the engine's model)",
  },
  ...BATCH_FLAGS,
  max_seq_len: {
    ...ENGINE_FLAGS.max_seq_len,
    description: "max prompt + completion tokens per request (default: the engine's)",
    parse: intValue(2),
  },
  kv_cache_free_gpu_mem_fraction: {
    ...ENGINE_FLAGS.kv_cache_free_gpu_mem_fraction,
    description: "fraction of free memory the KV cache may take",
    default: 0.9,
  },
  scheduler_policy: {
    ...SCHEDULING_FLAGS.scheduler_policy,
    description: "KV admission policy",
    default: "guaranteed_no_evict",
  },
  enable_chunked_context: SCHEDULING_FLAGS.enable_chunked_context,
  disable_chunked_context: SCHEDULING_FLAGS.disable_chunked_context,
  max_body_bytes: {
    flags: "--max_body_bytes <n>",
    description: "largest request body accepted (413 above)",
    parse: intValue(1),
    default: DEFAULT_MAX_BODY_BYTES,
  },
  request_timeout: {
    flags: "--request_timeout <s>",
    description: "seconds a client has to send a whole request, headers and body (408 after; 0: no limit)",
    parse: floatValue(0, 86_400),
    default: DEFAULT_REQUEST_TIMEOUT_MS / 1000,
  },
  grace_period: {
    flags: "--grace_period <s>",
    description: "on SIGINT/SIGTERM, seconds to let requests in flight finish",
    parse: floatValue(0),
    default: 10,
  },
  ...COMPUTE_FLAGS,
});

export function registerServe(program: Command): void {
  const serve = program
    .command("serve")
    .description("Serve an engine over an OpenAI-compatible HTTP API (completions, chat, models, health).");
  addFlags(serve, SERVE_FLAGS).action(async (flags: FlagValues<typeof SERVE_FLAGS>, cmd: Command) => {
    // Chunked context is on unless disabled (no YAML here to set it otherwise).
    const chunked = chunkedContext(flags) ?? true;
    let root = cmd;
    while (root.parent) root = root.parent;
    const global = root.opts<{
      model?: string;
      model_path?: string;
      workspace: string;
      revision?: string;
    }>();
    await runServe({
      engineDir: flags.engine_dir,
      model: global.model,
      modelPath: global.model_path,
      workspace: global.workspace,
      revision: global.revision,
      maxSeqLen: flags.max_seq_len,
      runtime: {
        maxBatchSize: flags.max_batch_size,
        maxNumTokens: flags.max_num_tokens,
        kvCacheFreeGpuMemFraction: flags.kv_cache_free_gpu_mem_fraction,
        schedulerPolicy: flags.scheduler_policy,
        enableChunkedContext: chunked,
        ...computeOptions(flags),
      },
      host: flags.host,
      port: flags.port,
      apiKey: flags.api_key ?? process.env["LLM_BENCH_API_KEY"],
      servedModelName: flags.served_model_name,
      maxBodyBytes: flags.max_body_bytes,
      requestTimeoutS: flags.request_timeout,
      // Read before the engine loads, like every other flag (src/cli/flag-coverage.test.ts checks it).
      gracePeriodS: flags.grace_period,
      out: (text) => process.stdout.write(text),
    });
  });
}
