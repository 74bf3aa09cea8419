import { setMaxListeners } from "node:events";
import type { Command } from "commander";
import { InterruptedError } from "../errors.ts";
import { log } from "../util/log.ts";

/**
 * The flag's value when the user typed it on the command line, else undefined (a default does not count): the
 * YAML may set the rest (CLI wins on conflicts).
 */
export function commandLineValue<F extends object, K extends keyof F>(
  cmd: Command,
  flags: F,
  key: K,
): F[K] | undefined {
  return cmd.getOptionValueSource(key as string) === "cli" ? flags[key] : undefined;
}

/**
 * Runs a benchmark with SIGINT wired to an AbortSignal: the first Ctrl-C stops issuing and cancels in-flight
 * requests (the benchmark then writes its partial report), a second one exits at once. Ends with exit 130.
 */
export async function withInterrupt(run: (signal: AbortSignal) => Promise<unknown>): Promise<void> {
  const abort = new AbortController();
  // Every in-flight request listens on this one signal.
  setMaxListeners(0, abort.signal);
  const onSigint = () => {
    if (abort.signal.aborted) process.exit(130);
    log.warn("Interrupted: cancelling in-flight requests.");
    abort.abort();
  };
  // `on`, not `once`: a dependency's signal-exit handler re-raises SIGINT (killing the process) when it finds
  // no other listener left, which `once` would arrange before the partial report is written.
  process.on("SIGINT", onSigint);
  try {
    await run(abort.signal);
    if (abort.signal.aborted)
      throw new InterruptedError("interrupted by SIGINT; the report covers finished requests");
  } finally {
    process.off("SIGINT", onSigint);
  }
}
