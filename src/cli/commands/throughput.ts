import type { Command } from "commander";
import { runThroughput } from "../../benchmarks/throughput.ts";
import { UsageError } from "../../errors.ts";
import { defineFlags, type FlagValues, floatValue, intValue } from "../../util/flag-table.ts";
import { addBackendFlags, backendOptions, type RunFailureFlags } from "../backend-flags.ts";
import { benchEnv } from "../env.ts";
import {
  BATCH_FLAGS,
  COMPUTE_FLAGS,
  chunkedContext,
  computeOptions,
  ENGINE_FLAGS,
  OUTPUT_FLAGS,
  outputOptions,
  SCHEDULING_FLAGS,
  sharedRunOptions,
  TELEMETRY_FLAGS,
  telemetryOptions,
} from "../flag-groups.ts";
import { addFlags } from "../flag-table.ts";
import { createProgress } from "../progress.ts";
import { commandLineValue, withInterrupt } from "../run-support.ts";

const THROUGHPUT_FLAGS = defineFlags({
  ...ENGINE_FLAGS,
  ...BATCH_FLAGS,
  warmup: {
    flags: "--warmup <n>",
    description: "warmup requests (drawn with replacement, not measured)",
    parse: intValue(0),
    default: 2,
  },
  concurrency: {
    flags: "--concurrency <n>",
    description: "max requests in flight; -1 = unlimited",
    parse: intValue(-1),
    default: -1,
  },
  request_rate: {
    flags: "--request_rate <r>",
    description: "send requests at this rate (req/s) with gamma arrivals; -1 = offline (everything at once)",
    parse: floatValue(),
    default: -1,
  },
  burstiness: {
    flags: "--burstiness <k>",
    description: "gamma shape of the arrivals with --request_rate (1 = Poisson)",
    parse: floatValue(0),
    default: 1,
  },
  duration: {
    flags: "--duration <s>",
    description: "stop sending requests after this many seconds",
    parse: floatValue(0),
  },
  streaming: {
    flags: "--streaming",
    description: "stream tokens: enables TTFT / TPOT / GTPS",
    default: false,
  },
  request_json: { flags: "--request_json <path>", description: "write one record per request as JSON" },
  output_json: { flags: "--output_json <path>", description: "write {request_id: decoded output} as JSON" },
  ...SCHEDULING_FLAGS,
  ...TELEMETRY_FLAGS,
  ...OUTPUT_FLAGS,
  ...COMPUTE_FLAGS,
});

type ThroughputFlags = FlagValues<typeof THROUGHPUT_FLAGS> & RunFailureFlags;

export function registerThroughput(program: Command): void {
  const cmd = program
    .command("throughput")
    .description("Max-throughput benchmark: submit the whole dataset at once under in-flight batching.");
  addBackendFlags(addFlags(cmd, THROUGHPUT_FLAGS)).action(async (flags: ThroughputFlags, cmd: Command) => {
    const env = benchEnv(cmd);
    const chunked = chunkedContext(flags);
    if (!(flags.burstiness > 0)) throw new UsageError("--burstiness must be > 0");
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
        requestJson: flags.request_json,
        outputJson: flags.output_json,
        ...outputOptions(flags),
        ...computeOptions(flags),
        backendOptions: backendOptions(flags, flags.backend),
        telemetry: telemetryOptions(flags, cmd),
        allowFailures: flags.allow_failures,
        out: (text) => process.stdout.write(text),
        progress: createProgress(),
        signal,
      }),
    );
  });
}
