/**
 * `--server_metrics [URL]`, `--server_metrics_interval`, `--gpu_metrics [ids]` / `--no-gpu_metrics`, shared by
 * `throughput`, `latency` and `sweep`: add them with `addTelemetryFlags(cmd)`, read them with `telemetryOptions`.
 */
import { type Command, InvalidArgumentError } from "commander";
import type { TelemetryOptions } from "../benchmarks/run-telemetry.ts";
import { UsageError } from "../errors.ts";
import { floatArg } from "./parsers.ts";

export interface TelemetryFlags {
  server_metrics?: boolean | string;
  server_metrics_interval: number;
  gpu_metrics?: boolean | string;
}

/** nvidia-smi's `-i`: GPU indexes, UUIDs (GPU-…) or MIG ids, comma-separated. */
function gpuList(raw: string): string {
  if (!/^[A-Za-z0-9/-]+(,[A-Za-z0-9/-]+)*$/.test(raw.trim())) {
    throw new InvalidArgumentError(`'${raw}' is not a comma-separated list of GPU indexes or UUIDs.`);
  }
  return raw.trim();
}

export function addTelemetryFlags(cmd: Command): Command {
  return cmd
    .option(
      "--server_metrics [url]",
      "scrape the server's Prometheus metrics through the run (default URL: <base_url>/metrics)",
    )
    .option(
      "--server_metrics_interval <s>",
      "seconds between two scrapes of --server_metrics",
      floatArg(0.01, 3600),
      1,
    )
    .option(
      "--gpu_metrics [gpus]",
      "sample NVIDIA GPU power, utilization, memory and clocks (nvidia-smi, 4 Hz): all GPUs, or these indexes/UUIDs " +
        "(on by itself for the embedded engine on CUDA)",
      gpuList,
    )
    .option("--no-gpu_metrics", "no GPU telemetry, not even for the embedded engine on CUDA");
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
