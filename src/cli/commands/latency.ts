import { type Command, Option } from "commander";
import { runLatency } from "../../benchmarks/latency.ts";
import type { SpeculativeMode } from "../../engine/embedded/speculative/speculator.ts";
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
import { intArg } from "../parsers.ts";
import { createProgress } from "../progress.ts";
import { commandLineValue, withInterrupt } from "../run-support.ts";
import { addTelemetryFlags, type TelemetryFlags, telemetryOptions } from "../telemetry-flags.ts";

interface LatencyFlags extends EngineAndDatasetFlags, OutputFlags, TelemetryFlags {
  concurrency: number;
  medusa_choices?: string;
  draft_engine_dir?: string;
  speculative?: SpeculativeMode | "none";
  max_draft_len?: number;
  ngram_size?: number;
}

export function registerLatency(program: Command): void {
  const cmd = addEngineAndDatasetFlags(program.command("latency"));
  cmd
    .description(
      "Low-latency benchmark: one request at a time (runtime batch 1), always streaming; optional speculative decoding.",
    )
    .option(
      "--warmup <n>",
      "warmup requests (drawn with replacement, not streamed, not measured)",
      intArg(0),
      2,
    )
    .option("--concurrency <n>", "max requests in flight (the runtime batch stays 1)", intArg(1), 1)
    .option(
      "--medusa_choices <yaml>",
      "draft tree as a YAML list of index paths (validated; its depth sets the draft length, see docs/latency.md)",
    )
    .option(
      "--draft_engine_dir <path>",
      "draft engine (engine directory or .gguf) with the target's vocabulary",
    )
    .addOption(
      new Option(
        "--speculative <mode>",
        "speculative decoding: draft engine, prompt n-gram lookup, or none (default: draft with --draft_engine_dir)",
      ).choices(["draft", "ngram", "none"]),
    )
    .option("--max_draft_len <n>", "drafts verified per step (default 4)", intArg(1))
    .option("--ngram_size <n>", "--speculative ngram: longest n-gram looked up (default 3)", intArg(1));
  addTelemetryFlags(cmd);
  addOpenAiFlags(addComputeFlags(addOutputFlags(cmd))).action(
    async (flags: LatencyFlags & OpenAiFlags, cmd: Command) => {
      const env = benchEnv(cmd);
      await withInterrupt((signal) =>
        runLatency({
          ...sharedRunOptions(env, flags),
          concurrency: flags.concurrency,
          maxSeqLen: commandLineValue(cmd, flags, "max_seq_len"),
          kvCacheFreeGpuMemFraction: commandLineValue(cmd, flags, "kv_cache_free_gpu_mem_fraction"),
          reportJson: flags.report_json,
          iterationLog: flags.iteration_log,
          requestLog: flags.request_log,
          goodput: flags.goodput ? parseSlo(flags.goodput) : undefined,
          ...computeOptions(flags),
          speculation: {
            mode: flags.speculative,
            draftEngineDir: flags.draft_engine_dir,
            maxDraftLen: flags.max_draft_len,
            ngramSize: flags.ngram_size,
            medusaChoices: flags.medusa_choices,
          },
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
