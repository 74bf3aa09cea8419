import type { Command } from "commander";
import { runLatency } from "../../benchmarks/latency.ts";
import { defineFlags, type FlagValues, intValue } from "../../util/flag-table.ts";
import { addBackendFlags, backendOptions, type RunFailureFlags } from "../backend-flags.ts";
import { benchEnv } from "../env.ts";
import {
  COMPUTE_FLAGS,
  computeOptions,
  ENGINE_FLAGS,
  OUTPUT_FLAGS,
  outputOptions,
  sharedRunOptions,
  TELEMETRY_FLAGS,
  telemetryOptions,
} from "../flag-groups.ts";
import { addFlags } from "../flag-table.ts";
import { createProgress } from "../progress.ts";
import { commandLineValue, withInterrupt } from "../run-support.ts";

const LATENCY_FLAGS = defineFlags({
  ...ENGINE_FLAGS,
  warmup: {
    flags: "--warmup <n>",
    description: "warmup requests (drawn with replacement, not streamed, not measured)",
    parse: intValue(0),
    default: 2,
  },
  concurrency: {
    flags: "--concurrency <n>",
    description: "max requests in flight (the runtime batch stays 1)",
    parse: intValue(1),
    default: 1,
  },
  medusa_choices: {
    flags: "--medusa_choices <yaml>",
    description:
      "draft tree as a YAML list of index paths (validated; its depth sets the draft length, see docs/latency.md)",
  },
  draft_engine_dir: {
    flags: "--draft_engine_dir <path>",
    description: "draft engine (engine directory or .gguf) with the target's vocabulary",
  },
  speculative: {
    flags: "--speculative <mode>",
    description:
      "speculative decoding: draft engine, prompt n-gram lookup, or none (default: draft with --draft_engine_dir)",
    choices: ["draft", "ngram", "none"],
  },
  max_draft_len: {
    flags: "--max_draft_len <n>",
    description: "drafts verified per step (default 4)",
    parse: intValue(1),
  },
  ngram_size: {
    flags: "--ngram_size <n>",
    description: "--speculative ngram: longest n-gram looked up (default 3)",
    parse: intValue(1),
  },
  ...TELEMETRY_FLAGS,
  ...OUTPUT_FLAGS,
  ...COMPUTE_FLAGS,
});

type LatencyFlags = FlagValues<typeof LATENCY_FLAGS> & RunFailureFlags;

export function registerLatency(program: Command): void {
  const cmd = program
    .command("latency")
    .description(
      "Low-latency benchmark: one request at a time (runtime batch 1), always streaming; optional speculative decoding.",
    );
  addBackendFlags(addFlags(cmd, LATENCY_FLAGS)).action(async (flags: LatencyFlags, cmd: Command) => {
    const env = benchEnv(cmd);
    await withInterrupt((signal) =>
      runLatency({
        ...sharedRunOptions(env, flags),
        concurrency: flags.concurrency,
        maxSeqLen: commandLineValue(cmd, flags, "max_seq_len"),
        kvCacheFreeGpuMemFraction: commandLineValue(cmd, flags, "kv_cache_free_gpu_mem_fraction"),
        ...outputOptions(flags),
        ...computeOptions(flags),
        speculation: {
          mode: flags.speculative,
          draftEngineDir: flags.draft_engine_dir,
          maxDraftLen: flags.max_draft_len,
          ngramSize: flags.ngram_size,
          medusaChoices: flags.medusa_choices,
        },
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
