/**
 * `llm-bench serve --engine_dir E`: parses the flags and calls `runServe` (src/server/run-serve.ts). Prints the
 * bound address on stdout once it is listening.
 */
import { type Command, Option } from "commander";
import { UsageError } from "../../errors.ts";
import { runServe } from "../../server/run-serve.ts";
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_REQUEST_TIMEOUT_MS } from "../../server/server.ts";
import { addComputeFlags, type ComputeFlags, computeOptions } from "../benchmark-flags.ts";
import { floatArg, intArg } from "../parsers.ts";

interface ServeFlags {
  engine_dir: string;
  host: string;
  port: number;
  api_key?: string;
  served_model_name?: string;
  max_batch_size?: number;
  max_num_tokens?: number;
  max_seq_len?: number;
  kv_cache_free_gpu_mem_fraction: number;
  scheduler_policy: "guaranteed_no_evict" | "max_utilization";
  enable_chunked_context?: boolean;
  disable_chunked_context?: boolean;
  max_body_bytes: number;
  request_timeout: number;
  grace_period: number;
}

export function registerServe(program: Command): void {
  const serve = program
    .command("serve")
    .description("Serve an engine over an OpenAI-compatible HTTP API (completions, chat, models, health).")
    .requiredOption("--engine_dir <dir>", "engine directory written by `build`")
    .option("--host <addr>", "address to bind", "127.0.0.1")
    .option(
      "--port <n>",
      "port to bind; 0 picks a free one (the bound address is printed)",
      intArg(0, 65535),
      8000,
    )
    .option(
      "--api_key <key>",
      "require `Authorization: Bearer <key>` on /v1 routes (default: $LLM_BENCH_API_KEY)",
    )
    .option("--served_model_name <name>", "model name in the API (default: --model, else the engine's model)")
    .option("--max_batch_size <n>", "runtime max batch size (default: the engine's)", intArg(1))
    .option("--max_num_tokens <n>", "runtime max tokens per step (default: the engine's)", intArg(1))
    .option(
      "--max_seq_len <n>",
      "max prompt + completion tokens per request (default: the engine's)",
      intArg(2),
    )
    .option(
      "--kv_cache_free_gpu_mem_fraction <f>",
      "fraction of free memory the KV cache may take",
      floatArg(0, 1),
      0.9,
    )
    .addOption(
      new Option("--scheduler_policy <policy>", "KV admission policy")
        .choices(["guaranteed_no_evict", "max_utilization"])
        .default("guaranteed_no_evict"),
    )
    .option("--enable_chunked_context", "split long prompts over several steps (default on)")
    .option("--disable_chunked_context", "a prompt must fit whole in one step")
    .option(
      "--max_body_bytes <n>",
      "largest request body accepted (413 above)",
      intArg(1),
      DEFAULT_MAX_BODY_BYTES,
    )
    .option(
      "--request_timeout <s>",
      "seconds a client has to send a whole request, headers and body (408 after; 0: no limit)",
      floatArg(0, 86_400),
      DEFAULT_REQUEST_TIMEOUT_MS / 1000,
    )
    .option(
      "--grace_period <s>",
      "on SIGINT/SIGTERM, seconds to let requests in flight finish",
      floatArg(0),
      10,
    );
  addComputeFlags(serve).action(async (flags: ServeFlags & ComputeFlags, cmd: Command) => {
    if (flags.enable_chunked_context && flags.disable_chunked_context) {
      throw new UsageError("--enable_chunked_context and --disable_chunked_context conflict");
    }
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
        enableChunkedContext: !flags.disable_chunked_context,
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
