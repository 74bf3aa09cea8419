import type { Command } from "commander";
import { runSweep, type SweepAxis } from "../../benchmarks/sweep.ts";
import { UsageError } from "../../errors.ts";
import { checkSloStreaming, parseSlo } from "../../metrics/goodput.ts";
import { defineFlags, FlagValueError, type FlagValues, floatValue, intValue } from "../../util/flag-table.ts";
import { addBackendFlags, backendOptions, type RunFailureFlags } from "../backend-flags.ts";
import { benchEnv } from "../env.ts";
import {
  BATCH_FLAGS,
  COMPUTE_FLAGS,
  computeOptions,
  ENGINE_FLAGS,
  sharedRunOptions,
  TELEMETRY_FLAGS,
  telemetryOptions,
} from "../flag-groups.ts";
import { addFlags } from "../flag-table.ts";
import { withInterrupt } from "../run-support.ts";

/** "1,4,16,64" → [1, 4, 16, 64]; each value checked by `one`. */
export function listArg(one: (raw: string) => number) {
  return (raw: string): number[] => {
    const parts = raw.split(",").map((p) => p.trim());
    if (parts.some((p) => p === "")) throw new FlagValueError(`'${raw}' is not a comma-separated list.`);
    const values = parts.map(one);
    if (new Set(values).size !== values.length) throw new FlagValueError(`'${raw}' repeats a value.`);
    return values;
  };
}

const SWEEP_FLAGS = defineFlags({
  ...TELEMETRY_FLAGS,
  engine_dir: ENGINE_FLAGS.engine_dir,
  backend: { ...ENGINE_FLAGS.backend, description: "engine backend" },
  config: { ...ENGINE_FLAGS.config, description: "YAML of LLM-API options" },
  dataset: ENGINE_FLAGS.dataset,
  num_requests: { ...ENGINE_FLAGS.num_requests, description: "requests per point; 0 = the whole dataset" },
  warmup: { flags: "--warmup <n>", description: "warmup requests per point", parse: intValue(0), default: 2 },
  concurrency: {
    flags: "--concurrency <list>",
    description: "concurrency values (e.g. 1,4,16,64), or one cap for a rate sweep",
    parse: listArg(intValue(-1)),
  },
  request_rate: {
    flags: "--request_rate <list>",
    description: "request rates in req/s (e.g. 1,2,4)",
    parse: listArg(floatValue(0)),
  },
  burstiness: {
    flags: "--burstiness <f>",
    description: "gamma shape of the arrivals for a rate sweep (1 = Poisson)",
    parse: floatValue(0),
    default: 1,
  },
  eos_id: { ...ENGINE_FLAGS.eos_id, description: "stop at this token id; -1 ignores EOS" },
  slo: {
    flags: "--slo <slos...>",
    description:
      "SLOs in ms (ttft:MS,tpot:MS,e2el:MS): goodput per point; with --request_rate, search the highest passing rate",
  },
  slo_attainment: {
    flags: "--slo_attainment <f>",
    description: "share of all requests that must meet every SLO",
    parse: floatValue(0, 1),
    default: 0.95,
  },
  max_probes: {
    flags: "--max_probes <n>",
    description: "extra rates the SLO search may try",
    parse: intValue(0, 20),
    default: 4,
  },
  output_dir: {
    flags: "--output_dir <dir>",
    description: "where each point's JSON and request log go",
    default: "sweep",
  },
  html: { flags: "--html <path>", description: "write the HTML report with the Pareto chart" },
  max_batch_size: { ...BATCH_FLAGS.max_batch_size, description: "runtime max batch size" },
  max_num_tokens: { ...BATCH_FLAGS.max_num_tokens, description: "runtime max tokens per step" },
  ...COMPUTE_FLAGS,
});

type SweepFlags = FlagValues<typeof SWEEP_FLAGS> & RunFailureFlags;

export function registerSweep(program: Command): void {
  const sweep = program
    .command("sweep")
    .description(
      "Run the benchmark once per concurrency or request-rate value: a table, one JSON per point, an HTML Pareto chart.",
    );
  addBackendFlags(addFlags(sweep, SWEEP_FLAGS)).action(async (flags: SweepFlags, cmd: Command) => {
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
