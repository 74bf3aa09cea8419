import { type Command, Option } from "commander";
import { BACKEND_NAMES, type BackendName, DEFAULT_BACKEND } from "../engine/registry.ts";
import { DEVICE_CHOICES, type DeviceFlag } from "../engine/runtime-knobs.ts";
import type { BenchEnv } from "./env.ts";
import { floatArg, intArg } from "./parsers.ts";

/** The engine, dataset and memory flags `throughput` and `latency` share (brief §1.3/§1.4). */
export function addEngineAndDatasetFlags(cmd: Command): Command {
  return cmd
    .option("--engine_dir <dir>", "engine directory written by `build` (without it: build from --model)")
    .addOption(
      new Option("--backend <name>", "engine backend ('pytorch' is accepted as trtllm-bench's name for it)")
        .choices(BACKEND_NAMES)
        .default(DEFAULT_BACKEND),
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
    .option(
      "--num_requests <n>",
      "benchmark at most this many requests; 0 = the whole dataset",
      intArg(0),
      0,
    );
}

/** The result files both benchmarks write, and llama.cpp's thread count. */
export function addOutputFlags(cmd: Command): Command {
  return cmd
    .option("--report_json <path>", "write the statistics as JSON")
    .option("--iteration_log <path>", "write one JSON line per engine step")
    .option("--request_log <path>", "write every request's timestamps as JSONL or CSV (by extension)")
    .option("--goodput <slo...>", "SLOs in ms (ttft:MS tpot:MS e2el:MS): report requests/s meeting all");
}

/** Where and how the embedded engine computes: threads, device, GPU layers (throughput, latency, sweep, serve). */
export function addComputeFlags(cmd: Command): Command {
  return cmd
    .option("--threads <n>", "llama.cpp compute threads (default: cores - 1, or 1 on 2 cores)", intArg(1))
    .addOption(
      new Option(
        "--device <device>",
        "where llama.cpp runs: auto (a GPU backend when one works here, else the CPU), cpu, or one GPU backend; CUDA_VISIBLE_DEVICES selects GPUs",
      )
        .choices([...DEVICE_CHOICES])
        .default("auto"),
    )
    .option("--gpu_layers <n>", "model layers to offload to the GPU (default: all)", intArg(0));
}

/** What addComputeFlags adds, after parsing. */
export interface ComputeFlags {
  threads?: number;
  device: DeviceFlag;
  gpu_layers?: number;
}

/** The compute flags in the shape the benchmark functions and backends take. */
export function computeOptions(flags: ComputeFlags) {
  return { threads: flags.threads, device: flags.device, gpuLayers: flags.gpu_layers };
}

/** The flags every benchmark command shares (see addEngineAndDatasetFlags), as they appear after parsing. */
export interface SharedRunFlags {
  backend: BackendName;
  engine_dir?: string;
  dataset: string;
  num_requests: number;
  warmup: number;
  eos_id: number;
  /**
   * `--extra_llm_api_options, --config`: commander names an option with two long flags after the last one.
   * src/cli/flag-coverage.test.ts fails for any option whose parsed name no action reads.
   */
  config?: string;
}

/** Everything addEngineAndDatasetFlags adds (with each command's --warmup), as it appears after parsing. */
export interface EngineAndDatasetFlags extends SharedRunFlags {
  max_seq_len?: number;
  kv_cache_free_gpu_mem_fraction?: number;
}

/** What addOutputFlags adds, after parsing. */
export interface OutputFlags extends ComputeFlags {
  report_json?: string;
  iteration_log?: string;
  request_log?: string;
  goodput?: string[];
}

/** Global options plus the shared flags, in the shape the benchmark functions take. */
export function sharedRunOptions(env: BenchEnv, flags: SharedRunFlags) {
  return {
    backend: flags.backend,
    model: env.model,
    modelPath: env.modelPath,
    workspace: env.workspace,
    revision: env.revision,
    dataset: flags.dataset,
    engineDir: flags.engine_dir,
    numRequests: flags.num_requests,
    warmup: flags.warmup,
    eosId: flags.eos_id,
    compat: env.compat,
    extraLlmApiOptions: flags.config,
  };
}
