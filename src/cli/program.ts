import { Command, Option } from "commander";
import { COMPAT_VERSIONS, DEFAULT_COMPAT } from "../compat.ts";
import { LOG_LEVELS } from "../util/log.ts";
import { registerBuild } from "./commands/build.ts";
import { registerLatency } from "./commands/latency.ts";
import { registerPrepareDataset } from "./commands/prepare-dataset.ts";
import { registerReport } from "./commands/report.ts";
import { registerServe } from "./commands/serve.ts";
import { registerSweep } from "./commands/sweep.ts";
import { registerThroughput } from "./commands/throughput.ts";

/** The whole command tree. Global options come before the subcommand, as with trtllm-bench. */
export function createProgram(): Command {
  const program = new Command("llm-bench")
    .description("Benchmark LLM inference engines (trtllm-bench's workflow for any engine).")
    .enablePositionalOptions()
    .showHelpAfterError()
    .configureHelp({ showGlobalOptions: true })
    .option("-m, --model <name>", "Hugging Face model name (required except for --help)")
    .option("--model_path <dir>", "local Hugging Face checkpoint directory (weights, tokenizer, config)")
    .option("-w, --workspace <dir>", "directory for intermediate files and built engines", "/tmp")
    .addOption(new Option("--log_level <level>", "logging level").choices(LOG_LEVELS).default("info"))
    .option("--revision <rev>", "Hugging Face revision (branch, tag or commit) for downloads")
    .addOption(
      new Option(
        "--compat <version>",
        "trtllm-bench release to reproduce: heuristic, console report, dataset file (docs/reports.md)",
      )
        .choices(COMPAT_VERSIONS)
        .default(DEFAULT_COMPAT),
    )
    // Set before the subcommands are added so they inherit it: usage errors throw instead of exiting.
    .exitOverride();
  registerPrepareDataset(program);
  registerBuild(program);
  registerThroughput(program);
  registerLatency(program);
  registerServe(program);
  registerReport(program);
  registerSweep(program);
  return program;
}
