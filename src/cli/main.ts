#!/usr/bin/env node
import { CommanderError } from "commander";
import { BenchError } from "../errors.ts";
import { enabled, type LogLevel, setLogLevel } from "../util/log.ts";
import { escapeControls } from "../util/terminal-text.ts";
import { createProgram } from "./program.ts";

/** The one error boundary: typed errors print one clear message and map to their exit codes. */
async function main(argv: string[]): Promise<number> {
  const program = createProgram();
  const level = argv[argv.indexOf("--log_level") + 1];
  if (argv.includes("--log_level") && level) setLogLevel(level as LogLevel);
  program.hook("preAction", (cmd) => {
    let root = cmd;
    while (root.parent) root = root.parent;
    setLogLevel(root.opts<{ log_level: LogLevel }>().log_level);
  });
  try {
    await program.parseAsync(argv, { from: "user" });
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed the message (and help on request).
      return err.exitCode === 0 ? 0 : err.code === "commander.helpDisplayed" ? 0 : 2;
    }
    // Messages may quote user input: escaped again here, since BenchError subclasses may rewrite `message`.
    if (err instanceof BenchError) {
      process.stderr.write(`llm-bench: error: ${escapeControls(err.message)}\n`);
      if (enabled("debug") && err.stack) process.stderr.write(`${escapeControls(err.stack)}\n`);
      return err.exitCode;
    }
    process.stderr.write(
      `llm-bench: internal error: ${escapeControls(err instanceof Error ? (err.stack ?? err.message) : String(err))}\n`,
    );
    return 1;
  }
}

/**
 * Exits as soon as the command is done and the console is flushed, instead of when the event loop runs dry:
 * letting Node tear the heap down took ~1 s after a million-request run (a 3M-object heap: 1.0 s against 0.2 s
 * for exit(), docs/performance.md), time a Ctrl-C or a duration bound must not cost. Every command awaits its
 * own work (files written, engine and servers stopped) before it returns.
 */
async function exitWith(code: number): Promise<never> {
  for (const s of [process.stdout, process.stderr]) {
    if (s.writableLength === 0 || s.destroyed) continue;
    // A reader that went away (EPIPE) closes the stream instead of draining it.
    await new Promise<void>((resolve) => {
      s.once("drain", resolve);
      s.once("close", resolve);
      s.once("error", () => resolve());
    });
  }
  process.exit(code);
}

main(process.argv.slice(2)).then(exitWith, (err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  return exitWith(1);
});
