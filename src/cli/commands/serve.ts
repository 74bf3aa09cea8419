/**
 * `llm-bench serve --engine_dir E`: the embedded engine behind an OpenAI-compatible HTTP server, with the same
 * runtime knobs and scheduler as `throughput`. Prints the bound address on stdout once it is listening.
 */
import { join } from "node:path";
import { type Command, Option } from "commander";
import type { DatasetMetadata, PercentileStats } from "../../dataset/types.ts";
import type { RuntimeKnobs } from "../../engine/backend.ts";
import { readEngineConfig } from "../../engine/embedded/engine-dir.ts";
import { prepareEmbedded } from "../../engine/embedded/prepare.ts";
import { BenchError, UsageError } from "../../errors.ts";
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_REQUEST_TIMEOUT_MS, startServer } from "../../server/server.ts";
import { log } from "../../util/log.ts";
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

function flatStats(v: number): PercentileStats {
  return { p50: v, p90: v, p95: v, p99: v, minimum: v, maximum: v, average: v };
}

/**
 * The embedded backend sizes the engine from a dataset's longest request; a server has no dataset, so it
 * gets one whose longest request is the longest the engine can take.
 */
export function serverMetadata(maxInputLen: number, maxSeqLen: number): DatasetMetadata {
  return {
    dataset_path: "(serve)",
    num_requests: 0,
    isl_stats: flatStats(maxInputLen),
    osl_stats: flatStats(maxSeqLen - maxInputLen),
    seq_len_stats: flatStats(maxSeqLen),
    max_isl: maxInputLen,
    max_osl: Math.max(1, maxSeqLen - maxInputLen),
    max_sequence_length: maxSeqLen,
    avg_isl: maxInputLen,
    avg_osl: maxSeqLen - maxInputLen,
    avg_sequence_length: maxSeqLen,
  };
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
    // Read before the engine loads, like every other flag (src/cli/flag-coverage.test.ts checks it).
    const graceS = flags.grace_period;
    let root = cmd;
    while (root.parent) root = root.parent;
    const global = root.opts<{
      model?: string;
      model_path?: string;
      workspace: string;
      revision?: string;
    }>();
    const config = await readEngineConfig(flags.engine_dir);
    const build = config.build_config;
    const maxSeqLen = flags.max_seq_len ?? build.max_seq_len;
    if (maxSeqLen > build.max_seq_len) {
      throw new UsageError(
        `--max_seq_len ${maxSeqLen} exceeds the engine's build max_seq_len ${build.max_seq_len}`,
      );
    }
    const maxInputLen = Math.min(build.max_input_len, maxSeqLen - 1);
    const model = global.model ?? config.llm_bench.model_name;
    const runtime: RuntimeKnobs = {
      maxBatchSize: flags.max_batch_size,
      maxNumTokens: flags.max_num_tokens,
      maxSeqLen,
      kvCacheFreeGpuMemFraction: flags.kv_cache_free_gpu_mem_fraction,
      schedulerPolicy: flags.scheduler_policy,
      enableChunkedContext: !flags.disable_chunked_context,
      ...computeOptions(flags),
    };
    const backend = await prepareEmbedded({
      model,
      modelPath: global.model_path,
      workspace: global.workspace,
      revision: global.revision,
      dataset: join(flags.engine_dir, "config.json"),
      engineDir: flags.engine_dir,
      runtime,
      yaml: {},
    });
    const { engine } = await backend.start(serverMetadata(maxInputLen, maxSeqLen));
    let server: Awaited<ReturnType<typeof startServer>>;
    try {
      server = await startServer({
        engine,
        tokenizer: backend.tokenizer,
        vocabSize: backend.vocabSize,
        servedModelName: flags.served_model_name ?? model,
        maxSeqLen,
        maxInputLen,
        host: flags.host,
        port: flags.port,
        apiKey: flags.api_key ?? process.env["LLM_BENCH_API_KEY"],
        maxBodyBytes: flags.max_body_bytes,
        // 0 means no limit to node:http, so a positive value never rounds down to it.
        requestTimeoutMs:
          flags.request_timeout === 0 ? 0 : Math.max(1, Math.round(flags.request_timeout * 1000)),
      });
    } catch (err) {
      await engine.stop();
      if (err instanceof BenchError) throw err;
      throw new UsageError(`cannot listen on ${flags.host}:${flags.port}: ${(err as Error).message}`);
    }
    process.stdout.write(
      `llm-bench serve: listening on ${server.url} (model '${flags.served_model_name ?? model}')\n`,
    );
    await new Promise<void>((resolve) => {
      let signals = 0;
      const onSignal = (sig: NodeJS.Signals) => {
        signals++;
        if (signals > 1) {
          log.warn(`${sig} again: exiting at once.`);
          process.exit(130);
        }
        log.info(`${sig}: shutting down (grace period ${graceS}s).`);
        server
          .shutdown(graceS * 1000)
          .then(() => engine.stop())
          .then(
            () => log.info("Server stopped."),
            (err: unknown) => {
              log.error(`Shutdown failed: ${(err as Error).message}`);
              process.exitCode = 1;
            },
          )
          .finally(() => {
            process.off("SIGINT", onSignal);
            process.off("SIGTERM", onSignal);
            resolve();
          });
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
    });
  });
}
