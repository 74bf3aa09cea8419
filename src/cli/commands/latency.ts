import { type Command, Option } from "commander";
import { runLatency } from "../../benchmarks/latency.ts";
import type { SpeculativeMode } from "../../engine/embedded/speculative/speculator.ts";
import { BACKENDS } from "../../engine/registry.ts";
import { parseSlo } from "../../metrics/goodput.ts";
import { benchEnv } from "../env.ts";
import { addOpenAiFlags, type OpenAiFlags, openAiOptions } from "../openai-flags.ts";
import { floatArg, intArg } from "../parsers.ts";
import { createProgress } from "../progress.ts";
import { given, withInterrupt } from "../run-support.ts";

interface LatencyFlags {
  engine_dir?: string;
  backend: string;
  extra_llm_api_options?: string;
  max_seq_len?: number;
  kv_cache_free_gpu_mem_fraction?: number;
  dataset: string;
  eos_id: number;
  num_requests: number;
  warmup: number;
  concurrency: number;
  report_json?: string;
  iteration_log?: string;
  request_log?: string;
  goodput?: string[];
  medusa_choices?: string;
  draft_engine_dir?: string;
  speculative?: SpeculativeMode | "none";
  max_draft_len?: number;
  ngram_size?: number;
  threads?: number;
}

export function registerLatency(program: Command): void {
  addOpenAiFlags(program.command("latency"))
    .description(
      "Low-latency benchmark: one request at a time (runtime batch 1), always streaming; optional speculative decoding.",
    )
    .option("--engine_dir <dir>", "engine directory written by `build` (without it: build from --model)")
    .addOption(
      new Option("--backend <name>", "engine backend ('pytorch' is accepted as trtllm-bench's name for it)")
        .choices(Object.keys(BACKENDS))
        .default("embedded"),
    )
    .option(
      "--extra_llm_api_options, --config <yaml>",
      "YAML of LLM-API options (CLI flags win on conflicts)",
    )
    .option("--max_seq_len <n>", "max ISL+OSL of a request (default: the dataset's longest)", intArg(1))
    .option(
      "--kv_cache_free_gpu_mem_fraction <f>",
      "fraction of free memory the KV cache may take (default 0.90)",
      floatArg(0, 1),
    )
    .requiredOption("--dataset <path>", "JSONL dataset (prepare-dataset's format)")
    .option(
      "--eos_id <id>",
      "stop at this token id; -1 ignores EOS (exactly output_tokens per request)",
      intArg(-1),
      -1,
    )
    .option("--num_requests <n>", "benchmark at most this many requests; 0 = the whole dataset", intArg(0), 0)
    .option(
      "--warmup <n>",
      "warmup requests (drawn with replacement, not streamed, not measured)",
      intArg(0),
      2,
    )
    .option("--concurrency <n>", "max requests in flight (the runtime batch stays 1)", intArg(1), 1)
    .option("--report_json <path>", "write the statistics as JSON")
    .option("--iteration_log <path>", "write one JSON line per engine step")
    .option("--request_log <path>", "write every request's timestamps as JSONL or CSV (by extension)")
    .option("--goodput <slo...>", "SLOs in ms (ttft:MS tpot:MS e2el:MS): report requests/s meeting all")
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
    .option("--ngram_size <n>", "--speculative ngram: longest n-gram looked up (default 3)", intArg(1))
    .option("--threads <n>", "llama.cpp compute threads (default: cores - 1, or 1 on 2 cores)", intArg(1))
    .action(async (flags: LatencyFlags & OpenAiFlags, cmd: Command) => {
      const env = benchEnv(cmd);
      await withInterrupt((signal) =>
        runLatency({
          backend: flags.backend,
          model: env.model,
          modelPath: env.modelPath,
          workspace: env.workspace,
          revision: env.revision,
          dataset: flags.dataset,
          engineDir: flags.engine_dir,
          numRequests: flags.num_requests,
          warmup: flags.warmup,
          concurrency: flags.concurrency,
          maxSeqLen: given(cmd, flags, "max_seq_len"),
          kvCacheFreeGpuMemFraction: given(cmd, flags, "kv_cache_free_gpu_mem_fraction"),
          eosId: flags.eos_id,
          extraLlmApiOptions: flags.extra_llm_api_options,
          reportJson: flags.report_json,
          iterationLog: flags.iteration_log,
          requestLog: flags.request_log,
          goodput: flags.goodput ? parseSlo(flags.goodput) : undefined,
          threads: flags.threads,
          speculation: {
            mode: flags.speculative,
            draftEngineDir: flags.draft_engine_dir,
            maxDraftLen: flags.max_draft_len,
            ngramSize: flags.ngram_size,
            medusaChoices: flags.medusa_choices,
          },
          openai: openAiOptions(flags, flags.backend),
          allowFailures: flags.allow_failures,
          out: (text) => process.stdout.write(text),
          progress: createProgress(),
          signal,
        }),
      );
    });
}
