/**
 * `--compat 0.17` end to end through the real CLI (each spawn costs seconds, so the default layout and the
 * edge cases are tested in process elsewhere): the dataset file 0.17 writes (byte for byte), `build`'s heuristic
 * on a dataset whose averages are not whole numbers, and the throughput/latency reports and request JSON
 * against a local OpenAI fixture server, reading that 0.17 file back as the dataset.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { packageRoot } from "../../src/model/known-models.ts";
import { type FixtureServer, startFixtureServer } from "../fixtures/openai-server.ts";

const here = dirname(fileURLToPath(import.meta.url));
// Compiled to dist/test/e2e; the CLI is dist/src/cli/main.js. Under tsx, the sources.
const CLI = here.includes(`${join("dist", "test")}`)
  ? resolve(here, "../../src/cli/main.js")
  : resolve(here, "../../src/cli/main.ts");
const NODE_ARGS = CLI.endsWith(".ts") ? ["--import", "tsx"] : [];
const MODEL = ["--model", "meta-llama/Llama-3.1-8B"];

/** Runs the CLI without blocking this process (the fixture server answers meanwhile). */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [...NODE_ARGS, CLI, ...args],
      { encoding: "utf8", timeout: 60_000, maxBuffer: 32 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}

describe("--compat through the CLI", { timeout: 240_000 }, () => {
  let dir = "";
  let fixtures = "";
  let server: FixtureServer | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "llm-bench-compat-"));
    fixtures = join(await packageRoot(), "test/fixtures/trtllm-0.17");
    server = await startFixtureServer();
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("prepare-dataset --compat 0.17 --output writes 0.17's {metadata, samples} file byte for byte", async () => {
    const out = join(dir, "doc.json");
    const r = await cli([
      "--compat",
      "0.17",
      ...MODEL,
      "prepare-dataset",
      "--output",
      out,
      "--rand-task-id",
      "3",
      "9",
      "token-unif-dist",
      "--num-requests",
      "5",
      "--input-min",
      "1",
      "--input-max",
      "8",
      "--output-min",
      "2",
      "--output-max",
      "9",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(out, "utf8"), await readFile(join(fixtures, "dataset-unif.json"), "utf8"));
    // No 'Task IDs require LoRA directory' warning: the document records them.
    assert.doesNotMatch(r.stderr, /LoRA directory/);
  });

  test("build --dry_run --compat 0.17 tunes NVFP4 for the rounded-up dataset averages", async () => {
    // ISL 114/115 and OSL 128/129: averages 114.5 / 128.5. 0.17 (Python, one H100) gives 4096 / 7680.
    const d = join(dir, "half.jsonl");
    const line = (i: number, isl: number, osl: number) =>
      JSON.stringify({ task_id: i, input_ids: new Array(isl).fill(7), output_tokens: osl });
    await writeFile(d, `${line(0, 114, 128)}\n${line(1, 115, 129)}\n`);
    const old = await cli([
      "--compat",
      "0.17",
      ...MODEL,
      "--workspace",
      dir,
      "build",
      "--dry_run",
      "--dataset",
      d,
      "-q",
      "NVFP4",
      "--device_memory",
      String(81559 / 1024),
    ]);
    assert.equal(old.code, 0, old.stderr);
    const log = old.stdout + old.stderr;
    assert.match(log, /Target \(Average\) Input Sequence Length:\t115/);
    assert.match(log, /Target \(Average\) Output Sequence Length:\t129/);
    assert.match(log, /Estimated max batch size \(after fine-tune\): 4096/);
    assert.match(log, /Estimated max num tokens \(after fine-tune\): 7680/);
    assert.doesNotMatch(log, /Estimated engine size/); // version B's line
  });

  const run = (compat: string, cmd: string, extra: string[] = []) =>
    cli([
      "--compat",
      compat,
      ...MODEL,
      cmd,
      "--backend",
      "openai",
      "--base_url",
      server!.url,
      "--dataset",
      join(fixtures, "dataset-unif.json"),
      "--warmup",
      "0",
      ...extra,
    ]);

  test("throughput --compat 0.17 prints 0.17's report (streaming section) and 0.17's request JSON names", async () => {
    const rj = join(dir, "req.json");
    const r = await run("0.17", "throughput", ["--streaming", "--request_json", rj]);
    assert.equal(r.code, 0, r.stderr);
    const titles = r.stdout.split("\n").filter((l) => l.startsWith("= "));
    assert.deepEqual(titles, [
      "= openai backend",
      "= WORLD + RUNTIME INFORMATION ",
      "= PERFORMANCE OVERVIEW ",
      "= STREAMING STATISTICS ",
    ]);
    assert.match(r.stdout, /^Number of requests:\t\t5$/m);
    assert.match(r.stdout, /^Token Throughput \(tokens\/sec\):\t\d+\.\d{4}$/m);
    assert.match(r.stdout, /^Average inter-token latency \(ms\):\t\d+\.\d{4}$/m);
    const entries = JSON.parse(await readFile(rj, "utf8")) as Array<Record<string, number>>;
    assert.equal(entries.length, 5);
    const e = entries[0]!;
    assert.ok("total_token_throughput" in e && "output_token_throughput" in e);
    // tokens/ns from the report's tokens/s: equal up to floating-point rounding of the unit change.
    const expected = e["num_output_tokens"]! / e["end_to_end_latency"]!;
    assert.ok(
      Math.abs(e["total_token_throughput"]! - expected) <= 1e-12 * expected,
      `${e["total_token_throughput"]}`,
    );
  });

  test("latency --compat 0.17 prints 0.17's latency report", async () => {
    const r = await run("0.17", "latency");
    assert.equal(r.code, 0, r.stderr);
    const titles = r.stdout.split("\n").filter((l) => l.startsWith("= "));
    assert.deepEqual(titles, [
      "= openai backend",
      "= WORLD + RUNTIME INFORMATION ",
      "= GENERAL OVERVIEW ",
      "= THROUGHPUT OVERVIEW ",
      "= LATENCY OVERVIEW ",
      "= GENERATION LATENCY BREAKDOWN ",
      "= ACCEPTANCE BREAKDOWN ",
    ]);
    assert.match(r.stdout, /^Generation Token Throughput \(tokens\/sec\): \d+\.\d{4}$/m);
  });
});
