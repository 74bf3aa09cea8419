import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { CommanderError } from "commander";
import { runToLines } from "../../../test/fixtures/datasets/run-to-lines.ts";
import { UsageError } from "../../errors.ts";
import { packageRoot } from "../../model/known-models.ts";
import { resolveTokenizer } from "../../model/tokenizer-resolve.ts";
import { setLogSink } from "../../util/log.ts";
import { bigIntArg } from "../parsers.ts";
import { createProgram } from "../program.ts";

describe("llm-bench prepare-dataset", () => {
  it("the seed command prints 3000 valid lines on stdout and logs only on stderr", () => {
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "src/cli/main.ts",
        "--model",
        "meta-llama/Llama-3.1-8B",
        "prepare-dataset",
        "--stdout",
        "token-norm-dist",
        "--num-requests",
        "3000",
        "--input-mean",
        "128",
        "--output-mean",
        "128",
        "--input-stdev",
        "0",
        "--output-stdev",
        "0",
      ],
      { encoding: "utf8", maxBuffer: 64 << 20 },
    );
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split("\n");
    assert.equal(lines.pop(), "");
    assert.equal(lines.length, 3000);
    for (const [i, l] of lines.entries()) {
      const d = JSON.parse(l) as { task_id: number; input_ids: number[]; output_tokens: number };
      assert.equal(d.task_id, i);
      assert.equal(d.input_ids.length, 128);
      assert.equal(d.output_tokens, 128);
    }
    // seed 420, vocab 128000: CPython's random.sample gives these first ids (trtllm-bench writes the same line).
    assert.ok(lines[0]!.startsWith('{"task_id":0,"input_ids":[3452,88226,102415,47775,35731,'));
    assert.match(r.stderr, /Dataset: 3000 requests/);
  });

  it("writes --output atomically; --rand-task-id MIN MAX (two values) with --lora-dir", async () => {
    const dir = await mkdtemp(join(tmpdir(), "prep-cli-"));
    const prev = setLogSink(() => {});
    try {
      const out = join(dir, "sub", "data.jsonl");
      await createProgram()
        .exitOverride()
        .parseAsync(
          [
            "--model",
            "meta-llama/Llama-3.1-8B",
            "prepare-dataset",
            "--output",
            out,
            "--rand-task-id",
            "1",
            "3",
            "--lora-dir",
            "/adapters",
            "token-unif-dist",
            "--num-requests",
            "20",
            "--input-min",
            "2",
            "--input-max",
            "4",
            "--output-min",
            "1",
            "--output-max",
            "2",
          ],
          { from: "user" },
        );
      const rows = (await readFile(out, "utf8"))
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l) as { lora_request: { lora_int_id: number; lora_path: string } });
      assert.equal(rows.length, 20);
      const ids = new Set(rows.map((r) => r.lora_request.lora_int_id));
      for (const id of ids) assert.ok(id >= 1 && id <= 3);
      assert.ok(ids.size > 1);
      assert.equal(rows[0]!.lora_request.lora_path, `/adapters/${rows[0]!.lora_request.lora_int_id}`);
    } finally {
      setLogSink(prev);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("--random-seed takes any integer; each generator's limit is a usage error that names it", async () => {
    assert.equal(bigIntArg("420"), 420);
    assert.equal(bigIntArg("18446744073709551621"), 18446744073709551621n);
    assert.equal(bigIntArg("-9007199254740991"), -9007199254740991);
    assert.throws(() => bigIntArg("1e3"), /not an integer/);
    const parse = (args: string[]) =>
      createProgram()
        .exitOverride()
        .parseAsync(["--model", "meta-llama/Llama-3.1-8B", "prepare-dataset", "--stdout", ...args], {
          from: "user",
        });
    const norm = ["--num-requests", "1", "--input-mean", "5", "--input-stdev", "0", "--output-mean", "5"];
    const unif = ["--num-requests", "1", "--input-min", "1", "--output-min", "1", "--output-max", "2"];
    const cases: Array<[string[], RegExp]> = [
      [["--random-seed", "4294967296", "token-norm-dist", ...norm, "--output-stdev", "0"], /4294967295/],
      [["--random-seed", "-1", "token-unif-dist", ...unif, "--input-max", "3"], /integers ≥ 0/],
      [["token-unif-dist", ...unif, "--input-max", "5000000000"], /limit of 16777216 per request/],
      [
        ["token-norm-dist", ...norm.slice(0, 6), "--output-mean", "3000000000", "--output-stdev", "0"],
        /draws 3000000000 output tokens .* at most 2147483647 output tokens/,
      ],
    ];
    const prev = setLogSink(() => {});
    try {
      for (const [args, re] of cases) {
        await assert.rejects(parse(args), (e: unknown) => e instanceof UsageError && re.test(e.message));
      }
      // Past what random.randint can draw here: refused while parsing (commander's usage error, exit 2).
      await assert.rejects(
        parse([
          "--rand-task-id",
          "0",
          "99999999999999999999",
          "token-unif-dist",
          ...unif,
          "--input-max",
          "3",
        ]),
        (e: unknown) => e instanceof CommanderError && /within ±9007199254740991/.test(e.message),
      );
    } finally {
      setLogSink(prev);
    }
  });

  it("a seed above 2**32 draws what 0.17's Python draws (default_rng and random.seed take it)", async () => {
    const tokenizer = await resolveTokenizer({ model: "meta-llama/Llama-3.1-8B" });
    const { text } = await runToLines({
      tokenizer,
      randomSeed: 18446744073709551621n,
      workload: {
        kind: "token-unif-dist",
        numRequests: 4,
        inputMin: 1,
        inputMax: 6,
        outputMin: 1,
        outputMax: 2 ** 31 - 1,
      },
    });
    const golden = join(await packageRoot(), "test/fixtures/trtllm-0.17/unif-seed-2pow64plus5.jsonl");
    assert.equal(text, await readFile(golden, "utf8"));
  });

  it("documents the text prompt mode in the subcommand help", () => {
    const pd = createProgram().commands.find((c) => c.name() === "prepare-dataset")!;
    const names = pd.commands.map((c) => c.name());
    assert.deepEqual(names, ["token-norm-dist", "token-unif-dist", "real-dataset", "prefix-shared"]);
    const help = pd.commands.find((c) => c.name() === "token-norm-dist")!.helpInformation();
    assert.match(help, /--prompt-mode <mode>/);
    assert.match(help, /re-encoding to have exactly the sampled\s+number of tokens/);
  });
});
