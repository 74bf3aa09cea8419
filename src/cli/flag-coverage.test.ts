/**
 * A documented flag that no code reads is a bug that no value test notices (`--extra_llm_api_options` was
 * stored by commander as `config` while the commands read `extra_llm_api_options`: the file was never opened).
 * This walks commander's option table of every command and runs each command's real action with every
 * option's parsed value wrapped in a getter: each option of the command and of its parents must be read.
 * The runs stop early (a dataset that does not exist, a port nothing listens on) or do tiny real work, but
 * every command reads its flags before the first expensive step, so the reads are complete.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Command } from "commander";
import { setLogSink } from "../util/log.ts";
import { createProgram } from "./program.ts";

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(" ") || "(global)";
}

function allCommands(cmd: Command, out: Command[] = []): Command[] {
  out.push(cmd);
  for (const sub of cmd.commands) allCommands(sub, out);
  return out;
}

/** Every option of `cmd`, as "path attribute". */
function optionKeys(cmd: Command): string[] {
  return cmd.options.map((o) => `${commandPath(cmd)} ${o.attributeName()}`);
}

/** Wraps each parsed option value of `cmd` (present or not) in a getter that records the read. */
function instrument(cmd: Command, reads: Set<string>): void {
  const values = cmd.opts() as Record<string, unknown>;
  for (const opt of cmd.options) {
    const key = opt.attributeName();
    let value = values[key];
    Object.defineProperty(values, key, {
      configurable: true,
      enumerable: value !== undefined,
      get() {
        reads.add(`${commandPath(cmd)} ${key}`);
        return value;
      },
      set(v: unknown) {
        value = v;
      },
    });
  }
}

/** Runs the real CLI program in-process on `argv`; returns the options read (whatever the run's outcome). */
async function readsOf(argv: string[]): Promise<{ reads: Set<string>; ran: string; error: unknown }> {
  const reads = new Set<string>();
  let ran = "";
  const program = createProgram();
  program.hook("preAction", (_root, action) => {
    ran = commandPath(action);
    for (let c: Command | null = action; c; c = c.parent) instrument(c, reads);
  });
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  let error: unknown;
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    error = err;
  } finally {
    process.stdout.write = write;
  }
  return { reads, ran, error };
}

// 105-161 s on the 2-core machine under load (a real build and engine load among the scenarios).
describe("every option of every command is read by its action", { timeout: 400_000 }, () => {
  let dir = "";
  let restoreLog: ((l: string) => void) | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "llm-bench-flags-"));
    restoreLog = setLogSink(() => {});
    await writeFile(join(dir, "prompts.txt"), "hello world\nanother prompt\n");
  });
  after(async () => {
    if (restoreLog) setLogSink(restoreLog);
    await rm(dir, { recursive: true, force: true });
  });

  it("covers every command's option table", async () => {
    const none = () => join(dir, "does-not-exist.jsonl");
    const g = ["--model", "llm-bench/tiny-llama", "--workspace", dir, "--log_level", "error"];
    const openai = ["--backend", "openai", "--base_url", "http://127.0.0.1:1"];
    const engine = join(dir, "llm-bench", "tiny-llama", "tp_1_pp_1");
    // Values read only when given on the command line (so the YAML can set them otherwise): given here.
    const runtime = ["--max_seq_len", "64", "--kv_cache_free_gpu_mem_fraction", "0.5"];
    const scenarios: string[][] = [
      [
        ...g,
        "throughput",
        "--dataset",
        none(),
        ...openai,
        ...runtime,
        ...["--max_batch_size", "2", "--max_num_tokens", "64", "--scheduler_policy", "max_utilization"],
      ],
      [...g, "latency", "--dataset", none(), ...openai, ...runtime],
      [...g, "sweep", "--dataset", none(), "--concurrency", "1", "--engine_dir", join(dir, "no-engine")],
      // A real (tiny) build: serve below needs its engine directory.
      [...g, "build", "--max_seq_len", "64", "--max_batch_size", "2", "--max_num_tokens", "64"],
      // Loads the engine, then fails to listen on an address that cannot exist.
      [...g, "serve", "--engine_dir", engine, "--host", "256.256.256.256", "--port", "1"],
      [...g, "report", join(dir, "none.json"), "--html", join(dir, "r.html")],
      ...[
        [
          "token-norm-dist",
          "--input-mean",
          "4",
          "--input-stdev",
          "0",
          "--output-mean",
          "2",
          "--output-stdev",
          "0",
        ],
        ["token-unif-dist", "--input-min", "2", "--input-max", "3", "--output-min", "1", "--output-max", "2"],
        ["real-dataset", "--dataset-path", join(dir, "prompts.txt"), "--output-len-dist", "4,0"],
        ["prefix-shared", "--num-groups", "1", "--prompts-per-group", "1", "--prefix-len", "2"],
      ].map((sub) => [
        ...g,
        "prepare-dataset",
        "--output",
        join(dir, `${sub[0]}.jsonl`),
        ...sub,
        ...(sub[0] === "prefix-shared" ? ["--suffix-mean", "2", "--output-mean", "2"] : []),
        ...(sub[0] === "token-norm-dist" || sub[0] === "token-unif-dist" ? ["--num-requests", "1"] : []),
      ]),
    ];
    const read = new Set<string>();
    const ran = new Set<string>();
    for (const argv of scenarios) {
      const { reads, ran: path, error } = await readsOf(argv);
      for (const r of reads) read.add(r);
      ran.add(path);
      // Only the scenarios meant to fail may fail (a failure before the action would read nothing).
      if (argv.includes("build") || argv.includes("prepare-dataset"))
        assert.equal(error, undefined, String(error));
    }
    const program = createProgram();
    for (const cmd of allCommands(program)) {
      // Commands with subcommands (prepare-dataset) have no action of their own: their subcommands run.
      if (cmd !== program && cmd.commands.length === 0 && !ran.has(commandPath(cmd))) {
        assert.fail(`no scenario runs '${commandPath(cmd)}': add one`);
      }
    }
    const unread = allCommands(program)
      .flatMap(optionKeys)
      .filter((k) => !read.has(k));
    assert.deepEqual(unread, [], `options no action reads: ${unread.join(", ")}`);
  });
});
