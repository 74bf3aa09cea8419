import type { Command } from "commander";
import type { CompatVersion } from "../compat.ts";
import { UsageError } from "../errors.ts";
import type { LogLevel } from "../util/log.ts";

/** What the global options (before the subcommand) give every command, as trtllm-bench's BenchmarkEnvironment. */
export interface BenchEnv {
  model: string;
  modelPath: string | undefined;
  workspace: string;
  logLevel: LogLevel;
  revision: string | undefined;
  /** `--compat`: the trtllm-bench release whose heuristic, report layout and dataset file are reproduced. */
  compat: CompatVersion;
}

/** Reads the root program's options from inside a subcommand action. */
export function benchEnv(cmd: Command): BenchEnv {
  let root = cmd;
  while (root.parent) root = root.parent;
  const o = root.opts<{
    model?: string;
    model_path?: string;
    workspace: string;
    log_level: LogLevel;
    revision?: string;
    compat: CompatVersion;
  }>();
  if (!o.model)
    throw new UsageError("missing required global option '--model <name>' (give it before the subcommand)");
  return {
    model: o.model,
    modelPath: o.model_path,
    workspace: o.workspace,
    logLevel: o.log_level,
    revision: o.revision,
    compat: o.compat,
  };
}
