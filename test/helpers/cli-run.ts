/**
 * Running the real CLI (dist/src/cli/main.js, or the sources under tsx) as a child process, for e2e tests that
 * check how it fails: exit code, a typed one-line error, no stack, no raw control characters.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
// Compiled to dist/test/helpers; the CLI is dist/src/cli/main.js. Under tsx, the sources.
const CLI = here.includes(join("dist", "test"))
  ? resolve(here, "../../src/cli/main.js")
  : resolve(here, "../../src/cli/main.ts");
const NODE_ARGS = CLI.endsWith(".ts") ? ["--import", "tsx"] : [];
export const MODEL = ["--model", "llm-bench/tiny-llama"];
export const NOWHERE = ["--backend", "openai", "--base_url", "http://127.0.0.1:1"];

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Started {
  done: Promise<Run>;
  stderr: () => string;
  kill: (signal: NodeJS.Signals) => void;
}

/** `env` replaces the child's environment (default: this process's). */
export function start(args: string[], timeoutMs = 60_000, env?: NodeJS.ProcessEnv): Started {
  const child = spawn(process.execPath, [...NODE_ARGS, CLI, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    ...(env ? { env } : {}),
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => {
    stdout += b.toString();
  });
  child.stderr.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const done = once(child, "exit").then(([code, signal]) => {
    clearTimeout(timer);
    return { code: code as number | null, signal: signal as NodeJS.Signals | null, stdout, stderr };
  });
  return { done, stderr: () => stderr, kill: (s) => child.kill(s) };
}

export const cli = (args: string[]) => start(args).done;

/** Runs `jobs` two at a time (the machine running the suite may have two cores). */
export async function pool<T>(jobs: Array<() => Promise<T>>): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]!();
    }
  };
  await Promise.all([worker(), worker()]);
  return out;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: asserting their absence
export const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

/** A typed, one-line-per-issue error: no internal error, no stack, no raw control characters. */
export function assertTypedError(r: Run, code: number, pattern: RegExp, label: string): void {
  assert.equal(r.code, code, `${label}: exit ${r.code}\n${r.stderr}`);
  assert.match(r.stderr, /llm-bench: error: /, label);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, `${label}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, RAW_CONTROL, label);
  assert.match(r.stderr, pattern, `${label}: ${r.stderr}`);
}

export const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
