/**
 * Hostile and wrong input through the real CLI (dist/src/cli/main.js): each case must end quickly with a typed
 * error (`llm-bench: error: …`, never `internal error` or a stack), the right exit code, the flag, file and line
 * named, no raw control characters on the terminal, and nothing written. Runs needing no model use
 * `--backend openai` against a port nothing listens on: the inputs are checked before any connection.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { createProgram } from "../../src/cli/program.ts";
import { buildEngine } from "../../src/engine/embedded/build.ts";
import { writeGguf } from "../../src/engine/embedded/gguf/index.ts";
import { tinyConfig } from "../../src/engine/embedded/gguf/test-support.ts";
import { setLogSink } from "../../src/util/log.ts";
import { type FixtureServer, startFixtureServer } from "../fixtures/openai-server.ts";
import { patchGgufU32 } from "../helpers/gguf-patch.ts";
import { writeSmallVocabTokenizer } from "../helpers/small-vocab.ts";

const here = dirname(fileURLToPath(import.meta.url));
const CLI = here.includes(join("dist", "test"))
  ? resolve(here, "../../src/cli/main.js")
  : resolve(here, "../../src/cli/main.ts");
const NODE_ARGS = CLI.endsWith(".ts") ? ["--import", "tsx"] : [];
const MODEL = ["--model", "llm-bench/tiny-llama"];
const NOWHERE = ["--backend", "openai", "--base_url", "http://127.0.0.1:1"];

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Started {
  done: Promise<Run>;
  stderr: () => string;
  kill: (signal: NodeJS.Signals) => void;
}

function start(args: string[], timeoutMs = 60_000): Started {
  const child = spawn(process.execPath, [...NODE_ARGS, CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
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

const cli = (args: string[]) => start(args).done;

/** Runs `jobs` two at a time (the machine running the suite may have two cores). */
async function pool<T>(jobs: Array<() => Promise<T>>): Promise<T[]> {
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
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

/** A typed, one-line-per-issue error: no internal error, no stack, no raw control characters. */
function assertTypedError(r: Run, code: number, pattern: RegExp, label: string): void {
  assert.equal(r.code, code, `${label}: exit ${r.code}\n${r.stderr}`);
  assert.match(r.stderr, /llm-bench: error: /, label);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, `${label}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, RAW_CONTROL, label);
  assert.match(r.stderr, pattern, `${label}: ${r.stderr}`);
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

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
      [
        [
          "latency",
          "--dataset",
          dataset,
          ...NOWHERE,
          "--speculative",
          "ngram",
          "--medusa_choices",
          join(dir, "none.yaml"),
        ],
        1,
        /none\.yaml: cannot read medusa_choices/,
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

// Before the check, llama.cpp met these on a GGML_ASSERT and aborted the process (exit 134, no message).
describe("a GGUF llama.cpp would abort on", { timeout: 300_000 }, () => {
  let ws = "";
  let ckpt = "";
  let engineDir = "";
  let dataset = "";
  before(async () => {
    ws = await mkdtemp(join(tmpdir(), "llm-bench-bad-gguf-"));
    ckpt = join(ws, "ckpt");
    await mkdir(ckpt);
    const tok = await writeSmallVocabTokenizer(ckpt);
    const c = tinyConfig({ tieWordEmbeddings: false, vocabSize: tok.vocabSize });
    await writeGguf({
      config: c,
      tokenizerJsonPath: tok.tokenizerJson,
      tokenizerConfigPath: tok.tokenizerConfig,
      weightType: "F32",
      source: { kind: "dummy", seed: 5 },
      contextLength: 128,
      outPath: join(ckpt, "model.gguf"),
    });
    await writeFile(
      join(ckpt, "config.json"),
      JSON.stringify({
        architectures: ["LlamaForCausalLM"],
        model_type: "llama",
        hidden_size: c.hiddenSize,
        num_hidden_layers: c.numHiddenLayers,
        num_attention_heads: c.numAttentionHeads,
        num_key_value_heads: c.numKeyValueHeads,
        head_dim: c.headSize,
        intermediate_size: c.intermediateSize,
        vocab_size: c.vocabSize,
        max_position_embeddings: c.maxPositionEmbeddings,
        tie_word_embeddings: false,
        rope_theta: c.ropeTheta,
        rms_norm_eps: c.rmsNormEps,
        torch_dtype: "float32",
      }),
    );
    dataset = join(ws, "d.jsonl");
    await writeFile(dataset, '{"task_id":0,"input_ids":[10,20,30],"output_tokens":2}\n');
    const prev = setLogSink(() => {});
    try {
      const built = await buildEngine({
        model: "test/tiny-bad-gguf",
        modelPath: ckpt,
        workspace: ws,
        maxSeqLen: 64,
        deviceProbe: async () => undefined,
        out: () => {},
      });
      engineDir = built.engineDir;
      // A copy for the engine: the checkpoint's file is patched separately below.
      const gguf = join(
        engineDir,
        JSON.parse(await readFile(join(engineDir, "config.json"), "utf8")).llm_bench.gguf_file,
      );
      await copyFile(gguf, `${gguf}.copy`);
      await rm(gguf);
      await rename(`${gguf}.copy`, gguf);
      await patchGgufU32(gguf, { "llama.attention.head_count": 0 });
    } finally {
      setLogSink(prev);
    }
  });
  after(() => rm(ws, { recursive: true, force: true }));

  it("throughput on an engine whose GGUF has head_count = 0: an EngineError naming the file and key", async () => {
    const r = await cli([
      "--model",
      "test/tiny-bad-gguf",
      "throughput",
      "--engine_dir",
      engineDir,
      "--dataset",
      dataset,
    ]);
    assertTypedError(
      r,
      1,
      /\.gguf: llama\.attention\.head_count = 0: an attention model needs at least one head/,
      "throughput",
    );
  });

  it("build reusing a GGUF with block_count = 0 fails before writing anything", async () => {
    await patchGgufU32(join(ckpt, "model.gguf"), { "llama.block_count": 0 });
    const out = join(ws, "ws2");
    const r = await cli([
      "--model",
      "test/tiny-bad-gguf",
      "--model_path",
      ckpt,
      "-w",
      out,
      "build",
      "--max_seq_len",
      "64",
    ]);
    assertTypedError(r, 1, new RegExp(`${esc(join(ckpt, "model.gguf"))}: llama\\.block_count = 0`), "build");
    await assert.rejects(readdir(join(out, "test")), /ENOENT/, "no engine directory was written");
  });
});
