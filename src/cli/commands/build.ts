import { Command, Option } from "commander";
import { buildEngine } from "../../engine/embedded/index.ts";
import { type QuantAlgo, VALID_QUANT_ALGOS } from "../../model/quantization.ts";
import { benchEnv } from "../env.ts";
import { floatArg, intArg } from "../parsers.ts";

interface BuildCliOptions {
  tp_size: number;
  pp_size: number;
  quantization?: QuantAlgo;
  max_seq_len?: number;
  no_weights_loading?: boolean;
  dataset?: string;
  max_batch_size?: number;
  max_num_tokens?: number;
  target_input_len?: number;
  target_output_len?: number;
  dry_run?: boolean;
  device_memory?: number;
  heuristic_version?: "A" | "B";
}

/** trtllm-bench's two-letter short flags; commander only knows one-letter ones, so they are spelled out here. */
const SHORT_ALIASES: Record<string, string> = { "-tp": "--tp_size", "-pp": "--pp_size" };

/** Rewrites `-tp N` / `-pp N` (and `-tp=N`) before commander parses the options. */
class BuildCommand extends Command {
  override parseOptions(args: string[]) {
    return super.parseOptions(
      args.map((a) => {
        const [flag, value] = a.split(/=(.*)/s, 2) as [string, string | undefined];
        const long = SHORT_ALIASES[flag];
        if (!long) return a;
        return value === undefined ? long : `${long}=${value}`;
      }),
    );
  }
}

export function registerBuild(program: Command): void {
  const cmd = new BuildCommand("build")
    .description(
      "Plan and build an engine (GGUF + config.json) for the embedded llama.cpp engine under <workspace>/<org>/<model>/tp_X_pp_Y.",
    )
    .option("--tp_size <n>", "tensor-parallel shards (short: -tp)", intArg(1), 1)
    .option("--pp_size <n>", "pipeline-parallel stages (short: -pp)", intArg(1), 1)
    .addOption(
      new Option(
        "-q, --quantization <algo>",
        "quantization (see docs/heuristic.md for the llama.cpp types)",
      ).choices(VALID_QUANT_ALGOS),
    )
    .option("--max_seq_len <n>", "maximum ISL+OSL (required unless --dataset is given)", intArg(1))
    .option("--no_weights_loading", "dummy weights even when --model_path has a checkpoint")
    .option("--dataset <path>", "build mode 1: tune from this dataset's statistics")
    .option("--max_batch_size <n>", "build mode 2 (with --max_num_tokens): the scheduler limits", intArg(1))
    .option("--max_num_tokens <n>", "build mode 2 (with --max_batch_size): the scheduler limits", intArg(1))
    .option("--target_input_len <n>", "build mode 3 (with --target_output_len): heuristic hints", intArg(1))
    .option("--target_output_len <n>", "build mode 3 (with --target_input_len): heuristic hints", intArg(1))
    .option("--dry_run", "read the dataset, run the heuristic and print the plan; write nothing")
    .option(
      "--device_memory <GiB>",
      "plan for devices with this much memory each, instead of probing",
      floatArg(Number.MIN_VALUE),
    )
    .addOption(
      new Option(
        "--heuristic_version <v>",
        "tuning heuristic: B (newer trtllm-bench) or A (0.16/0.17); default: A with --compat 0.17, else B",
      ).choices(["A", "B"]),
    )
    .action(async (o: BuildCliOptions, command: Command) => {
      const env = benchEnv(command);
      await buildEngine({
        model: env.model,
        modelPath: env.modelPath,
        workspace: env.workspace,
        revision: env.revision,
        tpSize: o.tp_size,
        ppSize: o.pp_size,
        quantization: o.quantization,
        maxSeqLen: o.max_seq_len,
        dataset: o.dataset,
        maxBatchSize: o.max_batch_size,
        maxNumTokens: o.max_num_tokens,
        targetInputLen: o.target_input_len,
        targetOutputLen: o.target_output_len,
        noWeightsLoading: o.no_weights_loading === true,
        dryRun: o.dry_run === true,
        deviceMemoryGb: o.device_memory,
        heuristicVersion: o.heuristic_version,
        compat: env.compat,
      });
    });
  // exitOverride: usage errors reach the CLI's error boundary (exit code 2) instead of exiting here.
  program.addCommand(cmd.copyInheritedSettings(program).exitOverride());
}
