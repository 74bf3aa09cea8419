import { type Command, InvalidArgumentError, Option } from "commander";
import { runSweep, type SweepAxis } from "../../benchmarks/sweep.ts";
import { BACKEND_NAMES, type BackendName, DEFAULT_BACKEND } from "../../engine/registry.ts";
import { UsageError } from "../../errors.ts";
import { checkSloStreaming, parseSlo } from "../../metrics/goodput.ts";
import { addBackendFlags, backendOptions, type RunFailureFlags } from "../backend-flags.ts";
import { addComputeFlags, type ComputeFlags, computeOptions, sharedRunOptions } from "../benchmark-flags.ts";
import { benchEnv } from "../env.ts";
import { floatArg, intArg } from "../parsers.ts";
import { withInterrupt } from "../run-support.ts";
import { addTelemetryFlags, type TelemetryFlags, telemetryOptions } from "../telemetry-flags.ts";

interface SweepFlags extends RunFailureFlags, TelemetryFlags {
  engine_dir?: string;
  backend: BackendName;
  config?: string;
  dataset: string;
  num_requests: number;
  warmup: number;
  concurrency?: number[];
  request_rate?: number[];
  burstiness: number;
  eos_id: number;
  slo?: string[];
  slo_attainment: number;
  max_probes: number;
  output_dir: string;
  html?: string;
  max_batch_size?: number;
  max_num_tokens?: number;
}

/** "1,4,16,64" → [1, 4, 16, 64]; each value checked by `one`. */
export function listArg(one: (raw: string) => number) {
  return (raw: string): number[] => {
    const parts = raw.split(",").map((p) => p.trim());
    if (parts.some((p) => p === ""))
      throw new InvalidArgumentError(`'${raw}' is not a comma-separated list.`);
    const values = parts.map(one);
    if (new Set(values).size !== values.length) throw new InvalidArgumentError(`'${raw}' repeats a value.`);
    return values;
  };
}

export function registerSweep(program: Command): void {
  const sweep = program.command("sweep");
  addTelemetryFlags(sweep);
  sweep
    .description(
      "Run the benchmark once per concurrency or request-rate value: a table, one JSON per point, an HTML Pareto chart.",
    )
    .option("--engine_dir <dir>", "engine directory written by `build` (without it: build from --model)")
    .addOption(
      new Option("--backend <name>", "engine backend").choices(BACKEND_NAMES).default(DEFAULT_BACKEND),
    )
    .option("--extra_llm_api_options, --config <yaml>", "YAML of LLM-API options")
    .requiredOption("--dataset <path>", "JSONL dataset (prepare-dataset's format)")
    .option("--num_requests <n>", "requests per point; 0 = the whole dataset", intArg(0), 0)
    .option("--warmup <n>", "warmup requests per point", intArg(0), 2)
    .option(
      "--concurrency <list>",
      "concurrency values (e.g. 1,4,16,64), or one cap for a rate sweep",
      listArg(intArg(-1)),
    )
    .option("--request_rate <list>", "request rates in req/s (e.g. 1,2,4)", listArg(floatArg(0)))
    .option("--burstiness <f>", "gamma shape of the arrivals for a rate sweep (1 = Poisson)", floatArg(0), 1)
    .option("--eos_id <id>", "stop at this token id; -1 ignores EOS", intArg(-1), -1)
    .option(
      "--slo <slos...>",
      "SLOs in ms (ttft:MS,tpot:MS,e2el:MS): goodput per point; with --request_rate, search the highest passing rate",
    )
    .option("--slo_attainment <f>", "share of all requests that must meet every SLO", floatArg(0, 1), 0.95)
    .option("--max_probes <n>", "extra rates the SLO search may try", intArg(0, 20), 4)
    .option("--output_dir <dir>", "where each point's JSON and request log go", "sweep")
    .option("--html <path>", "write the HTML report with the Pareto chart")
    .option("--max_batch_size <n>", "runtime max batch size", intArg(1))
    .option("--max_num_tokens <n>", "runtime max tokens per step", intArg(1));
  addBackendFlags(addComputeFlags(sweep)).action(async (flags: SweepFlags & ComputeFlags, cmd: Command) => {
    const env = benchEnv(cmd);
    const rates = flags.request_rate;
    const conc = flags.concurrency;
    let axis: SweepAxis;
    let values: number[];
    let cap = -1;
    if (rates) {
      if (conc && conc.length > 1) {
        throw new UsageError("sweep: give several values to --concurrency or to --request_rate, not both");
      }
      if (rates.some((r) => r <= 0)) throw new UsageError("sweep: --request_rate values must be > 0");
      axis = "request_rate";
      values = rates;
      cap = conc?.[0] ?? -1;
    } else if (conc) {
      axis = "concurrency";
      values = conc;
    } else {
      throw new UsageError("sweep: give --concurrency 1,4,16 or --request_rate 1,2,4");
    }
    const slo = flags.slo ? parseSlo(flags.slo, "--slo") : undefined;
    const own = backendOptions(flags, flags.backend);
    // Sweeps always stream: the table and the SLOs need TTFT and TPOT.
    if (slo) checkSloStreaming(slo, true, "--slo");
    await withInterrupt((signal) =>
      runSweep({
        base: {
          ...sharedRunOptions(env, flags),
          concurrency: cap,
          burstiness: flags.burstiness,
          maxBatchSize: flags.max_batch_size,
          maxNumTokens: flags.max_num_tokens,
          streaming: true,
          ...computeOptions(flags),
          backendOptions: own,
          telemetry: telemetryOptions(flags, cmd),
          signal,
        },
        axis,
        values,
        slo,
        attainment: flags.slo_attainment,
        maxProbes: flags.max_probes,
        outputDir: flags.output_dir,
        html: flags.html,
        allowFailures: flags.allow_failures,
        out: (text) => process.stdout.write(text),
      }),
    );
  });
}
