/**
 * Logging in trtllm-bench's shape (`[date] [LLM-BENCH] [I] message`) on stderr, so stdout stays clean for
 * `--stdout` datasets and reports.
 */
import { escapeControls } from "./terminal-text.ts";

export const LOG_LEVELS = [
  "internal_error",
  "error",
  "warning",
  "info",
  "verbose",
  "debug",
  "trace",
] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const LETTER: Record<LogLevel, string> = {
  internal_error: "F",
  error: "E",
  warning: "W",
  info: "I",
  verbose: "V",
  debug: "D",
  trace: "T",
};

let current: LogLevel = "info";
let sink: (line: string) => void = (line) => process.stderr.write(`${line}\n`);

export function setLogLevel(level: LogLevel): void {
  current = level;
}
export function getLogLevel(): LogLevel {
  return current;
}
/** Tests capture log lines by replacing the sink. Returns the previous one. */
export function setLogSink(fn: (line: string) => void): (line: string) => void {
  const prev = sink;
  sink = fn;
  return prev;
}

export function enabled(level: LogLevel): boolean {
  return LOG_LEVELS.indexOf(level) <= LOG_LEVELS.indexOf(current);
}

function stamp(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getMonth() + 1)}/${p(d.getDate())}/${d.getFullYear()}-${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function emit(level: LogLevel, msg: string): void {
  if (enabled(level)) sink(`[${stamp()}] [LLM-BENCH] [${LETTER[level]}] ${escapeControls(msg)}`);
}

export const log = {
  error: (m: string) => emit("error", m),
  warn: (m: string) => emit("warning", m),
  info: (m: string) => emit("info", m),
  verbose: (m: string) => emit("verbose", m),
  debug: (m: string) => emit("debug", m),
};
