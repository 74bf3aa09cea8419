/**
 * Hostile and wrong input through the real CLI (dist/src/cli/main.js): each case must end quickly with a typed
 * error (`llm-bench: error: …`, never `internal error` or a stack), the right exit code, the flag, file and line
 * named, no raw control characters on the terminal, and nothing written. Runs needing no model use
 * `--backend openai` against a port nothing listens on: the inputs are checked before any connection.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Command } from "commander";
import { createProgram } from "../../src/cli/program.ts";
import { type FixtureServer, startFixtureServer } from "../fixtures/openai-server.ts";
import { assertTypedError, cli, esc, MODEL, NOWHERE, pool, start } from "../helpers/cli-run.ts";

describe("hostile input through the CLI", { timeout: 300_000 }, () => {
  let dir = "";
  let dataset = "";
  let file = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "llm-bench-hostile-"));
    dataset = join(dir, "ok.jsonl");
    await writeFile(dataset, '{"task_id":0,"input_ids":[1,2,3],"output_tokens":2}\n');
    // A regular file: any path under it cannot be created, even by root.
    file = join(dir, "a-file");
    await writeFile(file, "x");
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("--extra_llm_api_options / --config: read by throughput, latency and sweep (missing, bomb, bad value)", async () => {
    const missing = join(dir, "missing.yaml");
    const bomb = join(dir, "bomb.yaml");
    const levels = ["a: &a [x, x, x, x, x, x, x, x, x]"];
    for (const [i, c] of [..."bcdefghi"].entries()) {
      levels.push(`${c}: &${c} [${Array(9).fill(`*${"abcdefghi"[i]}`).join(", ")}]`);
    }
    await writeFile(bomb, `${levels.join("\n")}\n`);
    const bad = join(dir, "bad.yaml");
    await writeFile(bad, "kv_cache_config:\n  free_gpu_memory_fraction: 2\n");
    const sweepArgs = ["--concurrency", "1", "--output_dir", join(dir, "sweep-out")];
    const cases: Array<[string, string[], RegExp]> = [
      ["throughput", ["--extra_llm_api_options", missing], new RegExp(`${esc(missing)}: cannot read`)],
      ["latency", ["--config", missing], new RegExp(`${esc(missing)}: cannot read`)],
      [
        "sweep",
        ["--extra_llm_api_options", missing, ...sweepArgs],
        new RegExp(`${esc(missing)}: cannot read`),
      ],
      ["throughput", ["--config", bomb], new RegExp(`${esc(bomb)}: .*alias`, "i")],
      [
        "latency",
        ["--extra_llm_api_options", bad],
        /bad\.yaml: line 2, column \d+: kv_cache_config\.free_gpu_memory_fraction/,
      ],
      ["sweep", ["--config", bad, ...sweepArgs], /bad\.yaml: line 2/],
    ];
    const runs = await pool(
      cases.map(
        ([cmd, args]) =>
          () =>
            cli([...MODEL, cmd, "--dataset", dataset, ...(cmd === "sweep" ? [] : NOWHERE), ...args]),
      ),
    );
    runs.forEach((r, i) => {
      assertTypedError(r, 1, cases[i]![2], `${cases[i]![0]} ${cases[i]![1].join(" ")}`);
    });
  });

  it("datasets: 100k-deep ids, a line past the limit, duplicate task_ids, control characters", async () => {
    const deep = join(dir, "deep.jsonl");
    await writeFile(
      deep,
      `{"task_id":0,"input_ids":[1],"output_tokens":1}\n{"task_id":1,"input_ids":${"[".repeat(100_000)}${"]".repeat(100_000)},"output_tokens":1}\n`,
    );
    const dup = join(dir, "dup.jsonl");
    await writeFile(
      dup,
      '{"task_id":"x","input_ids":[1],"output_tokens":1}\n{"task_id":2,"input_ids":[1],"output_tokens":1}\n{"task_id":"x","input_ids":[1],"output_tokens":1}\n',
    );
    const ansi = join(dir, "ansi.jsonl");
    await writeFile(ansi, '{"task_id":0,"input_ids":[1],"output_tokens":1}\n\u001b[2J\u001b]0;pwned\u0007\n');
    // One line of 33 MiB (the limit is 32 MiB), written in pieces.
    const long = join(dir, "long.jsonl");
    const ws = createWriteStream(long);
    ws.write('{"task_id":0,"input_ids":[1],"output_tokens":1}\n{"task_id":1,"input_ids":[');
    const piece = "1,".repeat(512 * 1024);
    for (let i = 0; i < 33; i++) ws.write(piece);
    ws.end('1],"output_tokens":1}\n');
    await once(ws, "close");
    const cases: Array<[string, RegExp]> = [
      [deep, new RegExp(`${esc(deep)}:2: input_ids\\[0\\]: an array is not a non-negative integer token id`)],
      [long, new RegExp(`${esc(long)}:2: \\(line\\): longer than 33554432 bytes \\(32 MiB\\)`)],
      [dup, new RegExp(`${esc(dup)}:3: task_id: "x" duplicates the task_id of line 1`)],
      [ansi, new RegExp(`${esc(ansi)}:2: \\(line\\): not valid JSON .*\\\\x1b\\[2J`)],
    ];
    const runs = await pool(
      cases.map(
        ([path]) =>
          () =>
            cli([...MODEL, "throughput", "--dataset", path, ...NOWHERE]),
      ),
    );
    runs.forEach((r, i) => {
      assertTypedError(r, 1, cases[i]![1], cases[i]![0]);
    });
  });

  // Every option whose name says it writes a file or folder, of every command, found in commander's table: a
  // new output flag is covered (and must be checked before the run) without touching this test.
  it("every output path is checked before the run: a UsageError naming the flag, nothing written", async () => {
    const OUTPUT = /(_json|_log|^html|^output|^output_dir|^workspace)$/;
    const args: Record<string, (flagArgs: string[]) => string[]> = {
      throughput: (f) => [...MODEL, "throughput", "--dataset", dataset, ...NOWHERE, ...f],
      latency: (f) => [...MODEL, "latency", "--dataset", dataset, ...NOWHERE, ...f],
      sweep: (f) => [...MODEL, "sweep", "--dataset", dataset, "--concurrency", "1", ...f],
      report: (f) => [...MODEL, "report", join(dir, "run.json"), ...f],
      "prepare-dataset": (f) => [
        ...MODEL,
        "prepare-dataset",
        ...f,
        "token-unif-dist",
        ...[
          "--num-requests",
          "1",
          "--input-min",
          "1",
          "--input-max",
          "1",
          "--output-min",
          "1",
          "--output-max",
          "1",
        ],
      ],
      build: (f) => [...f.slice(0, 2), ...MODEL, "build", "--max_seq_len", "64"],
    };
    const cases: Array<{ label: string; argv: string[]; flag: string; path: string }> = [];
    const program = createProgram();
    const walk = (cmd: Command) => {
      for (const o of cmd.options) {
        if (!o.long || !OUTPUT.test(o.attributeName())) continue;
        const ext = o.attributeName().endsWith("_log") ? "jsonl" : "json";
        const path = join(file, `out.${ext}`);
        const commands = cmd === program ? ["build"] : [cmd.name()];
        for (const c of commands) {
          const build = args[c];
          assert.ok(build, `no arguments for '${c}' (output option ${o.long}): add them above`);
          cases.push({ label: `${c} ${o.long}`, argv: build([o.long, path]), flag: o.long, path });
        }
      }
      for (const sub of cmd.commands) walk(sub);
    };
    walk(program);
    const flags = new Set(cases.map((c) => c.label));
    for (const expected of [
      "throughput --report_json",
      "throughput --iteration_log",
      "sweep --output_dir",
      "build --workspace",
    ]) {
      assert.ok(flags.has(expected), `the walk missed ${expected}`);
    }
    const before = await readdir(dir);
    const runs = await pool(cases.map((c) => () => cli(c.argv)));
    runs.forEach((r, i) => {
      const c = cases[i]!;
      const pattern =
        c.flag === "--workspace"
          ? new RegExp(`--workspace ${esc(file)}/.*: ${esc(file)} is not a directory`)
          : new RegExp(`${c.flag} ${esc(c.path)}: ${esc(file)} is not a directory`);
      assertTypedError(r, 2, pattern, c.label);
    });
    assert.deepEqual((await readdir(dir)).sort(), before.sort(), "a failed check wrote something");
  });

  it("one wrong value per flag group fails with the flag named", async () => {
    const cases: Array<[string[], number, RegExp]> = [
      // global options
      [["--model_path", join(dir, "none"), "throughput", "--dataset", dataset, ...NOWHERE], 1, /none/],
      // engine and dataset
      [
        ["throughput", "--dataset", join(dir, "none.jsonl"), ...NOWHERE],
        1,
        /none\.jsonl:0: \(file\): file not found/,
      ],
      [["throughput", "--dataset", dataset, "--engine_dir", join(dir, "no-engine")], 1, /no-engine/],
      // outputs and SLOs
      [
        ["throughput", "--dataset", dataset, ...NOWHERE, "--request_log", join(dir, "r.txt")],
        2,
        /--request_log .*\.jsonl or \.csv/,
      ],
      [["latency", "--dataset", dataset, ...NOWHERE, "--goodput", "ttft:abc"], 2, /--goodput: .ttft:abc./],
      // load shape
      [["throughput", "--dataset", dataset, ...NOWHERE, "--burstiness", "0"], 2, /--burstiness must be > 0/],
      [
        [
          "throughput",
          "--dataset",
          dataset,
          ...NOWHERE,
          "--enable_chunked_context",
          "--disable_chunked_context",
        ],
        2,
        /conflict/,
      ],
      // speculative decoding
      [
        ["latency", "--dataset", dataset, ...NOWHERE, "--speculative", "draft"],
        2,
        /--speculative draft needs --draft_engine_dir/,
      ],
      // (the embedded engine reads the tree before anything loads; the openai backend refuses speculation first)
      [
        [
          "latency",
          "--dataset",
          dataset,
          "--speculative",
          "ngram",
          "--medusa_choices",
          join(dir, "none.yaml"),
        ],
        1,
        /none\.yaml: cannot read medusa_choices/,
      ],
      [
        ["latency", "--dataset", dataset, ...NOWHERE, "--speculative", "ngram"],
        1,
        /the openai backend does not run speculative decoding/,
      ],
      // sweep axes
      [["sweep", "--dataset", dataset], 2, /give --concurrency 1,4,16 or --request_rate 1,2,4/],
      // report inputs
      [["report", join(dir, "none.json"), "--html", join(dir, "r.html")], 1, /none\.json/],
      // the OpenAI backend
      [
        ["throughput", "--dataset", dataset, "--backend", "openai", "--base_url", "ftp://x"],
        2,
        /--base_url 'ftp:\/\/x' must be http/,
      ],
      // build modes
      [
        ["build", "--max_batch_size", "4", "--dry_run"],
        2,
        /--max_batch_size and --max_num_tokens must be given together/,
      ],
      // serve
      [["serve", "--engine_dir", join(dir, "no-engine")], 1, /no-engine\/config\.json: not found/],
      // prepare-dataset
      [
        [
          "prepare-dataset",
          "--output",
          join(dir, "pd.jsonl"),
          "real-dataset",
          "--dataset-path",
          join(dir, "none.txt"),
          "--output-len-dist",
          "4,0",
        ],
        2,
        /none\.txt/,
      ],
    ];
    const runs = await pool(
      cases.map(
        ([argv]) =>
          () =>
            cli([...MODEL, ...argv]),
      ),
    );
    runs.forEach((r, i) => {
      assertTypedError(r, cases[i]![1], cases[i]![2], cases[i]![0].join(" "));
    });
  });

  // 300k requests: before lazy submission, the interrupt woke every waiting request one by one (quadratic:
  // about a minute here), so the timeout below is what this test asserts.
  it("SIGINT on a 300k-request offline run exits 130 at once with a valid partial report", async () => {
    let srv: FixtureServer | undefined;
    try {
      srv = await startFixtureServer({ chunkDelayMs: 20 });
      const big = join(dir, "big.jsonl");
      const ws = createWriteStream(big);
      for (let i = 0; i < 300_000; i += 10_000) {
        let chunk = "";
        for (let j = i; j < i + 10_000; j++)
          chunk += `{"task_id":${j},"input_ids":[1,2],"output_tokens":50}\n`;
        if (!ws.write(chunk)) await once(ws, "drain");
      }
      ws.end();
      await once(ws, "close");
      const reportJson = join(dir, "partial.json");
      const p = start(
        [
          ...MODEL,
          "throughput",
          "--dataset",
          big,
          "--backend",
          "openai",
          "--base_url",
          srv.url,
          "--concurrency",
          "8",
          "--warmup",
          "0",
          "--streaming",
          "--report_json",
          reportJson,
        ],
        45_000,
      );
      const t = Date.now();
      while (!/Request submission|Starting benchmark/.test(p.stderr()) && Date.now() - t < 40_000) {
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 300));
      p.kill("SIGINT");
      const r = await p.done;
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stderr, /interrupted by SIGINT/);
      const report = JSON.parse(await readFile(reportJson, "utf8"));
      assert.equal(report.llm_bench.load.partial, true);
      assert.ok(report.llm_bench.load.not_issued > 250_000);
    } finally {
      await srv?.close();
    }
  });
});
