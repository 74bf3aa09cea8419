/**
 * The flag groups `throughput`, `latency`, `sweep` and `serve` share, each defined once as a flag table
 * (src/util/flag-table.ts) with the one function that turns its parsed values into the benchmark's options.
 * A command spreads the groups it takes (and its own flags) into one table, adds it with `addFlags`, and its
 * action's argument type is `FlagValues<typeof table>`: nothing restates a flag. A command that words a shared
 * flag differently (sweep's shorter help) overrides that entry's text, not its type.
 */
import type { Command } from "commander";
import type { TelemetryOptions } from "../benchmarks/run-telemetry.ts";
import { BACKEND_NAMES, type BackendName, DEFAULT_BACKEND } from "../engine/registry.ts";
import { DEVICE_CHOICES, SCHEDULER_POLICIES } from "../engine/runtime-knobs.ts";
import { UsageError } from "../errors.ts";
import { parseSlo } from "../metrics/goodput.ts";
import { defineFlags, FlagValueError, type FlagValues, floatValue, intValue } from "../util/flag-table.ts";
import type { BenchEnv } from "./env.ts";

/** The engine, dataset and memory flags (brief §1.3/§1.4). */
export const ENGINE_FLAGS = defineFlags({
  engine_dir: {
    flags: "--engine_dir <dir>",
    description: "engine directory written by `build` (without it: build from --model)",
  },
  backend: {
    flags: "--backend <name>",
    description: "engine backend ('pytorch' is accepted as trtllm-bench's name for it)",
    choices: BACKEND_NAMES as readonly BackendName[],
    default: DEFAULT_BACKEND,
  },
  // commander names an option with two long flags after the last one: `config`.
  config: {
    flags: "--extra_llm_api_options, --config <yaml>",
    description: "YAML of LLM-API options (CLI flags win on conflicts)",
  },
  max_seq_len: {
    flags: "--max_seq_len <n>",
    description: "max ISL+OSL of a request (default: the dataset's longest)",
    parse: intValue(1),
  },
  kv_cache_free_gpu_mem_fraction: {
    flags: "--kv_cache_free_gpu_mem_fraction <f>",
    description: "fraction of free memory the KV cache may take (default 0.90)",
    parse: floatValue(0, 1),
  },
  dataset: {
    flags: "--dataset <path>",
    description: "JSONL dataset (prepare-dataset's format)",
    required: true,
  },
  eos_id: {
    flags: "--eos_id <id>",
    description: "stop at this token id; -1 ignores EOS (exactly output_tokens per request)",
    parse: intValue(-1),
    default: -1,
  },
  num_requests: {
    flags: "--num_requests <n>",
    description: "benchmark at most this many requests; 0 = the whole dataset",
    parse: intValue(0),
    default: 0,
  },
});

/** Runtime limits a benchmark may lower; undefined unless typed (the YAML may set them otherwise). */
export const BATCH_FLAGS = defineFlags({
  max_batch_size: {
    flags: "--max_batch_size <n>",
    description: "runtime max batch size (default: the engine's)",
    parse: intValue(1),
  },
  max_num_tokens: {
    flags: "--max_num_tokens <n>",
    description: "runtime max tokens per step (default: the engine's)",
    parse: intValue(1),
  },
});

/** Chunked context and the KV admission policy. */
export const SCHEDULING_FLAGS = defineFlags({
  enable_chunked_context: {
    flags: "--enable_chunked_context",
    description: "split long prompts over several steps (default on)",
  },
  disable_chunked_context: {
    flags: "--disable_chunked_context",
    description: "a prompt must fit whole in one step",
  },
  scheduler_policy: {
    flags: "--scheduler_policy <policy>",
    description: "KV admission policy (default guaranteed_no_evict)",
    choices: SCHEDULER_POLICIES,
  },
});

/** The result files both benchmarks write, and the goodput SLOs. */
export const OUTPUT_FLAGS = defineFlags({
  report_json: { flags: "--report_json <path>", description: "write the statistics as JSON" },
  iteration_log: { flags: "--iteration_log <path>", description: "write one JSON line per engine step" },
  request_log: {
    flags: "--request_log <path>",
    description: "write every request's timestamps as JSONL or CSV (by extension)",
  },
  goodput: {
    flags: "--goodput <slo...>",
    description: "SLOs in ms (ttft:MS tpot:MS e2el:MS): report requests/s meeting all",
  },
});

/** Where and how an in-process engine computes (throughput, latency, sweep, serve). */
export const COMPUTE_FLAGS = defineFlags({
  threads: {
    flags: "--threads <n>",
    description:
      "llama.cpp compute threads (default: every core; with a runtime batch of 1, cores - 1, or 1 on 2 cores)",
    parse: intValue(1),
  },
  device: {
    flags: "--device <device>",
    description:
      "where llama.cpp runs: auto (a GPU backend when one works here, else the CPU), cpu, or one GPU backend; CUDA_VISIBLE_DEVICES selects GPUs",
    choices: DEVICE_CHOICES,
    default: "auto",
  },
  gpu_layers: {
    flags: "--gpu_layers <n>",
    description: "model layers to offload to the GPU (default: all)",
    parse: intValue(0),
  },
});

/** nvidia-smi's `-i`: GPU indexes, UUIDs (GPU-…) or MIG ids, comma-separated. */
function gpuList(raw: string): string {
  if (!/^[A-Za-z0-9/-]+(,[A-Za-z0-9/-]+)*$/.test(raw.trim())) {
    throw new FlagValueError(`'${raw}' is not a comma-separated list of GPU indexes or UUIDs.`);
  }
  return raw.trim();
}

/** `--server_metrics [URL]`, `--server_metrics_interval`, `--gpu_metrics [ids]` / `--no-gpu_metrics`. */
export const TELEMETRY_FLAGS = defineFlags({
  server_metrics: {
    flags: "--server_metrics [url]",
    description: "scrape the server's Prometheus metrics through the run (default URL: <base_url>/metrics)",
  },
  server_metrics_interval: {
    flags: "--server_metrics_interval <s>",
    description: "seconds between two scrapes of --server_metrics",
    parse: floatValue(0.01, 3600),
    default: 1,
  },
  gpu_metrics: {
    flags: "--gpu_metrics [gpus]",
    description:
      "sample NVIDIA GPU power, utilization, memory and clocks (nvidia-smi, 4 Hz): all GPUs, or these indexes/UUIDs " +
      "(on by itself for the embedded engine on CUDA)",
    parse: gpuList,
    negate: "no GPU telemetry, not even for the embedded engine on CUDA",
  },
});

export type EngineFlags = FlagValues<typeof ENGINE_FLAGS>;
export type OutputFlags = FlagValues<typeof OUTPUT_FLAGS>;
export type ComputeFlags = FlagValues<typeof COMPUTE_FLAGS>;
export type TelemetryFlags = FlagValues<typeof TELEMETRY_FLAGS>;

/** The compute flags in the shape the benchmark functions and backends take. */
export function computeOptions(flags: ComputeFlags) {
  return { threads: flags.threads, device: flags.device, gpuLayers: flags.gpu_layers };
}

/** Global options plus the shared engine flags (and the command's --warmup), as the benchmark functions take them. */
export function sharedRunOptions(
  env: BenchEnv,
  flags: Pick<EngineFlags, "backend" | "engine_dir" | "dataset" | "num_requests" | "eos_id" | "config"> & {
    warmup: number;
  },
) {
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

/** The output flags as the benchmark functions take them. */
export function outputOptions(flags: OutputFlags) {
  return {
    reportJson: flags.report_json,
    iterationLog: flags.iteration_log,
    requestLog: flags.request_log,
    goodput: flags.goodput ? parseSlo(flags.goodput) : undefined,
  };
}

/** `--enable_chunked_context` / `--disable_chunked_context`: undefined when neither was given. */
export function chunkedContext(flags: FlagValues<typeof SCHEDULING_FLAGS>): boolean | undefined {
  if (flags.enable_chunked_context && flags.disable_chunked_context) {
    throw new UsageError("--enable_chunked_context and --disable_chunked_context conflict");
  }
  return flags.disable_chunked_context ? false : flags.enable_chunked_context ? true : undefined;
}

/** The pipeline's telemetry options; a --server_metrics_interval without --server_metrics is refused. */
export function telemetryOptions(flags: TelemetryFlags, cmd: Command): TelemetryOptions {
  // Read whether or not it applies, like every flag (src/cli/flag-coverage.test.ts checks that each is read).
  const intervalS = flags.server_metrics_interval;
  const intervalGiven = cmd.getOptionValueSource("server_metrics_interval") === "cli";
  if (intervalGiven && flags.server_metrics === undefined) {
    throw new UsageError("--server_metrics_interval needs --server_metrics");
  }
  const sm = flags.server_metrics;
  return {
    serverMetrics: sm === undefined ? undefined : { url: typeof sm === "string" ? sm : undefined, intervalS },
    gpuMetrics: flags.gpu_metrics,
  };
}
