import { type Command, Option } from "commander";
import { runThroughput } from "../../benchmarks/throughput.ts";
import { UsageError } from "../../errors.ts";
import { parseSlo } from "../../metrics/goodput.ts";
import {
  addComputeFlags,
  addEngineAndDatasetFlags,
  addOutputFlags,
  computeOptions,
  type EngineAndDatasetFlags,
  type OutputFlags,
  sharedRunOptions,
} from "../benchmark-flags.ts";
import { benchEnv } from "../env.ts";
import { addOpenAiFlags, type OpenAiFlags, openAiOptions } from "../openai-flags.ts";
import { floatArg, intArg } from "../parsers.ts";
import { createProgress } from "../progress.ts";
import { commandLineValue, withInterrupt } from "../run-support.ts";
import { addTelemetryFlags, type TelemetryFlags, telemetryOptions } from "../telemetry-flags.ts";

interface ThroughputFlags extends OpenAiFlags, EngineAndDatasetFlags, OutputFlags, TelemetryFlags {
  max_batch_size?: number;
  max_num_tokens?: number;
  concurrency: number;
  request_rate: number;
  burstiness: number;
  duration?: number;
  streaming: boolean;
  request_json?: string;
  output_json?: string;
  enable_chunked_context?: boolean;
  scheduler_policy?: "guaranteed_no_evict" | "max_utilization";
}

export function registerThroughput(program: Command): void {
  const cmd = addEngineAndDatasetFlags(program.command("throughput"));
  cmd
    .description("Max-throughput benchmark: submit the whole dataset at once under in-flight batching.")
    .option("--max_batch_size <n>", "runtime max batch size (default: the engine's)", intArg(1))
    .option("--max_num_tokens <n>", "runtime max tokens per step (default: the engine's)", intArg(1))
    .option("--warmup <n>", "warmup requests (drawn with replacement, not measured)", intArg(0), 2)
    .option("--concurrency <n>", "max requests in flight; -1 = unlimited", intArg(-1), -1)
    .option(
      "--request_rate <r>",
      "send requests at this rate (req/s) with gamma arrivals; -1 = offline (everything at once)",
      floatArg(),
      -1,
    )
    .option(
      "--burstiness <k>",
      "gamma shape of the arrivals with --request_rate (1 = Poisson)",
      floatArg(0),
      1,
    )
    .option("--duration <s>", "stop sending requests after this many seconds", floatArg(0))
    .option("--streaming", "stream tokens: enables TTFT / TPOT / GTPS", false)
    .option("--request_json <path>", "write one record per request as JSON")
    .option("--output_json <path>", "write {request_id: decoded output} as JSON")
    .option("--enable_chunked_context", "split long prompts over several steps (default on)")
    .option("--disable_chunked_context", "a prompt must fit whole in one step")
    .addOption(
      new Option("--scheduler_policy <policy>", "KV admission policy (default guaranteed_no_evict)").choices([
        "guaranteed_no_evict",
        "max_utilization",
      ]),
    );
  addTelemetryFlags(cmd);
  addOpenAiFlags(addComputeFlags(addOutputFlags(cmd))).action(
    async (flags: ThroughputFlags & { disable_chunked_context?: boolean }, cmd: Command) => {
      const env = benchEnv(cmd);
      if (flags.enable_chunked_context && flags.disable_chunked_context) {
        throw new UsageError("--enable_chunked_context and --disable_chunked_context conflict");
      }
      if (!(flags.burstiness > 0)) throw new UsageError("--burstiness must be > 0");
      const chunked = flags.disable_chunked_context ? false : flags.enable_chunked_context ? true : undefined;
      await withInterrupt((signal) =>
        runThroughput({
          ...sharedRunOptions(env, flags),
          concurrency: flags.concurrency,
          requestRate: flags.request_rate > 0 ? flags.request_rate : undefined,
          burstiness: flags.burstiness,
          durationS: flags.duration,
          maxBatchSize: commandLineValue(cmd, flags, "max_batch_size"),
          maxNumTokens: commandLineValue(cmd, flags, "max_num_tokens"),
          maxSeqLen: commandLineValue(cmd, flags, "max_seq_len"),
          kvCacheFreeGpuMemFraction: commandLineValue(cmd, flags, "kv_cache_free_gpu_mem_fraction"),
          schedulerPolicy: commandLineValue(cmd, flags, "scheduler_policy"),
          enableChunkedContext: chunked,
          streaming: flags.streaming,
          reportJson: flags.report_json,
          requestJson: flags.request_json,
          outputJson: flags.output_json,
          iterationLog: flags.iteration_log,
          requestLog: flags.request_log,
          goodput: flags.goodput ? parseSlo(flags.goodput) : undefined,
          ...computeOptions(flags),
          openai: openAiOptions(flags, flags.backend),
          telemetry: telemetryOptions(flags, cmd),
          allowFailures: flags.allow_failures,
          out: (text) => process.stdout.write(text),
          progress: createProgress(),
          signal,
        }),
      );
    },
  );
}
