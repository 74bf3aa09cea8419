/**
 * Every backend's own flags (each plugin's table, src/engine/<backend>/index.ts), shared by `throughput`,
 * `latency` and `sweep`: add them with `addBackendFlags(cmd)`, turn the parsed values into the selected
 * backend's options with `backendOptions(flags, backend)`. Flags of a backend that is not selected are refused.
 */
import type { Command } from "commander";
import { BACKEND_PLUGINS, type BackendOwnOptions, backendPlugin } from "../engine/registry.ts";
import { UsageError } from "../errors.ts";
import { defineFlags, type FlagTable, type FlagValues, flagsGiven } from "../util/flag-table.ts";
import { addFlags } from "./flag-table.ts";

/** Added after the backends' flags. */
export const RUN_FAILURE_FLAGS = defineFlags({
  allow_failures: {
    flags: "--allow_failures",
    description: "exit 0 even when requests failed (they are still reported)",
    default: false,
  },
});

export function addBackendFlags(cmd: Command): Command {
  for (const p of BACKEND_PLUGINS) addFlags(cmd, p.flags.table);
  return addFlags(cmd, RUN_FAILURE_FLAGS);
}

/** The selected backend's options from its flags; another backend's flags are a usage error. */
export function backendOptions(
  flags: object,
  backend: string,
  env: NodeJS.ProcessEnv = process.env,
): BackendOwnOptions {
  const selected = backendPlugin(backend);
  for (const p of BACKEND_PLUGINS) {
    if (p === selected) continue;
    // Defaults are indistinguishable from typed values here: a flag differing from its default was given.
    const given = flagsGiven(p.flags.table, flags);
    if (given.length > 0) {
      throw new UsageError(
        `${given.join(", ")} ${given.length === 1 ? "needs" : "need"} --backend ${p.names[0]}`,
      );
    }
  }
  // The command added every plugin's table (addBackendFlags), so the values hold the selected one's.
  return selected.flags.read(flags as FlagValues<FlagTable>, env) as BackendOwnOptions;
}

export type RunFailureFlags = FlagValues<typeof RUN_FAILURE_FLAGS>;
