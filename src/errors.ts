import { escapeControls } from "./util/terminal-text.ts";

/**
 * Error classes carry the user's context (file, line, option) so the CLI can print one clear line.
 * The CLI's single error boundary (src/cli/main.ts) maps them to exit codes.
 */
export class BenchError extends Error {
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    // Messages quote user input (file names, dataset text, YAML keys): never let it reach a terminal raw.
    super(escapeControls(message), options);
    this.name = new.target.name;
  }
}

/** A bad flag, a missing or conflicting option. Exit code 2 like commander's own usage errors. */
export class UsageError extends BenchError {
  override readonly exitCode = 2;
}

/** A bad config file (YAML, config.json, tokenizer files). */
export class ConfigError extends BenchError {
  constructor(
    message: string,
    readonly file?: string,
    options?: { cause?: unknown },
  ) {
    super(file ? `${file}: ${message}` : message, options);
  }
}

export interface DatasetIssue {
  file: string;
  line: number;
  field: string;
  reason: string;
}

/** One or more bad dataset lines; the message lists every `file:line: field: reason`. */
export class DatasetError extends BenchError {
  constructor(readonly issues: DatasetIssue[]) {
    super(issues.map((i) => `${i.file}:${i.line}: ${i.field}: ${i.reason}`).join("\n"));
  }
}

/** An output file could not be written after the run's preflight passed (disk full, folder removed). */
export class OutputError extends BenchError {}

/** The engine failed to load or run. */
export class EngineError extends BenchError {}

/** Something valid that this machine or engine cannot do (e.g. TP>1 without several GPUs). */
export class UnsupportedError extends BenchError {}

/** The user asked to stop (SIGINT). */
export class InterruptedError extends BenchError {
  override readonly exitCode = 130;
}
