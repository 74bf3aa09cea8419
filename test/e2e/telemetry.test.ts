/**
 * Issue #12 through the real CLI: `throughput --backend openai` against a server that behaves as llama-server
 * (test/fixtures/llamacpp-server.ts) with `--server_metrics` and `--gpu_metrics` (a fake nvidia-smi first on
 * PATH): server-side accounting, the probe's findings, the SERVER METRICS and GPU TELEMETRY sections, the report
 * JSON (validated strictly against the schema) and the HTML report's telemetry; then the flags' usage errors.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { reportSchema } from "../../src/report/report-schema.ts";
import { installFakeNvidiaSmi } from "../fixtures/fake-nvidia-smi.ts";
import { startLlamaCppFixture } from "../fixtures/llamacpp-server.ts";

const here = dirname(fileURLToPath(import.meta.url));
const CLI = here.includes(join("dist", "test"))
  ? resolve(here, "../../src/cli/main.js")
  : resolve(here, "../../src/cli/main.ts");
const NODE_ARGS = CLI.endsWith(".ts") ? ["--import", "tsx"] : [];

/** The CLI in a child process, asynchronously: the fixture server answers from this process meanwhile. */
function cli(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolvePromise, reject) => {
    const child = spawn(process.execPath, [...NODE_ARGS, CLI, "--model", "llm-bench/tiny-llama", ...args], {
      env,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

let ws: string;
let ids: string;
let fake: Awaited<ReturnType<typeof installFakeNvidiaSmi>>;
let withFake: NodeJS.ProcessEnv;

before(async () => {
  ws = await mkdtemp(join(tmpdir(), "llm-bench-telemetry-"));
  ids = join(ws, "ids.jsonl");
  // 6 requests of 3 prompt tokens ("Hello world," in Llama-3 ids) and 8 output tokens.
  const lines = Array.from({ length: 6 }, (_, i) =>
    JSON.stringify({ task_id: i, input_ids: [9906, 1917, 11], output_tokens: 8 }),
  );
  await writeFile(ids, `${lines.join("\n")}\n`);
  fake = await installFakeNvidiaSmi();
  withFake = { ...process.env, PATH: `${fake.dir}${delimiter}${process.env["PATH"]}` };
});
after(async () => {
  await fake.remove();
  await rm(ws, { recursive: true, force: true });
});

const base = (url: string) => [
  "throughput",
  "--backend",
  "openai",
  "--base_url",
  url,
  "--dataset",
  ids,
  "--warmup",
  "0",
  "--concurrency",
  "3",
  "--streaming",
];

describe("issue #12 through the CLI", { timeout: 300_000 }, () => {
  test("llama-server behaviour: server accounting, --server_metrics, --gpu_metrics, JSON and HTML", async () => {
    const srv = await startLlamaCppFixture({ chunkDelayMs: 15, slots: 2, kvGauges: true, eosId: 128009 });
    try {
      const json = join(ws, "run.json");
      const r = await cli(
        [
          ...base(srv.url),
          "--server_metrics",
          "--server_metrics_interval",
          "0.05",
          "--gpu_metrics",
          "--report_json",
          json,
          "--request_log",
          join(ws, "run.requests.jsonl"),
        ],
        withFake,
      );
      assert.equal(r.code, 0, r.stderr);
      // The probe says what the server ignores and what the run relies on instead.
      assert.match(r.stderr, /Server probe: chunks carry no usage \(continuous_usage_stats ignored\)/);
      assert.match(r.stderr, /Server probe: chunks carry no token ids \(return_token_ids ignored\)/);
      // One chunk per token: the final usage event is not counted as a chunk.
      assert.match(r.stdout, /Streamed chunks: +48\n/);
      assert.match(r.stdout, /Average tokens per chunk: +1\.0000 \(n \/ chunks\)/);
      assert.match(r.stdout, /Input tokens by server usage \(requests\): +18 \(6\)/);
      assert.match(r.stdout, /Server − dataset tokens \(requests differing\): +0 \(0 of 6\)/);
      assert.match(r.stdout, /= SERVER METRICS \(llama\.cpp\)/);
      assert.match(r.stdout, /Source: +http:\/\/127\.0\.0\.1:\d+\/metrics every 0\.05 s/);
      assert.match(r.stdout, /Server generation \/ client output tokens: +48 \/ 48 \(0\)/);
      assert.match(r.stdout, /Server prompt \/ client input \(usage\) tokens: +18 \/ 18 \(0\)/);
      assert.match(r.stdout, /Running requests avg \/ max: +[\d.]+ \/ 2\n/);
      assert.match(r.stdout, /= GPU TELEMETRY \(nvidia-smi, 2 GPUs, every 250 ms\)/);
      assert.match(r.stdout, /Average power \(W\): +300\.00/);
      assert.match(
        r.stdout,
        /GPU 1 NVIDIA H100 80GB HBM3: +200\.00 W, 51\.0 % util, 2000 MiB max, 1980 MHz SM/,
      );
      // The sections come after LLM-BENCH DETAILS and before DATASET DETAILS.
      const at = (s: string) => r.stdout.indexOf(s);
      assert.ok(
        at("= LLM-BENCH DETAILS") < at("= SERVER METRICS") && at("= GPU TELEMETRY") < at("= DATASET DETAILS"),
      );

      const report = reportSchema.parse(JSON.parse(await readFile(json, "utf8")));
      const sm = report.llm_bench.server_metrics!;
      assert.equal(sm.server, "llama.cpp");
      assert.equal(sm.failed_scrapes, 0);
      assert.deepEqual(sm.cross_check.generation_tokens, { server: 48, client: 48, server_minus_client: 0 });
      assert.equal(sm.running!.maximum, 2);
      assert.ok(sm.waiting!.maximum >= 1, "requests beyond the 2 slots were deferred");
      assert.ok(sm.timeline.t_s.length >= 3);
      assert.deepEqual(report.llm_bench.input_token_counts, {
        server_counted_requests: 6,
        server_input_tokens: 18,
        dataset_input_tokens: 18,
        server_minus_dataset_tokens: 0,
        differing_requests: 0,
      });
      const g = report.llm_bench.gpu_metrics!;
      assert.equal(g.power_field, "power.draw.instant");
      assert.match(g.command, /^nvidia-smi --query-gpu=timestamp,index,power\.draw\.instant,.* -lms 250$/);
      assert.ok(Math.abs(g.avg_power_w! - 300) < 1);
      assert.ok(Math.abs(g.energy_j! - 300 * g.window_s) < 1);
      assert.ok(Math.abs(g.energy_per_output_token_j! - g.energy_j! / 48) < 1e-9);
      assert.ok(Math.abs(g.output_tokens_per_j! - 48 / g.energy_j!) < 1e-9);
      assert.deepEqual(
        g.gpus.map((x) => x.coverage),
        [1, 1],
      );

      const html = join(ws, "run.html");
      const h = await cli(["report", json, "--html", html]);
      assert.equal(h.code, 0, h.stderr);
      const page = await readFile(html, "utf8");
      for (const id of ["server-requests", "server-kv", "gpu-power", "gpu-util"]) {
        assert.match(page, new RegExp(`data-chart="${id}"><svg`), id);
      }
      assert.match(page, /GPU energy per output token \(J\/token\)/);
    } finally {
      await srv.close();
    }
  });

  test("chat with an ids-only dataset: the template's tokens are counted and warned about", async () => {
    const srv = await startLlamaCppFixture({ templateTokens: 9 });
    try {
      const r = await cli([...base(srv.url), "--endpoint", "chat"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stderr,
        /The server counted other input lengths than the dataset: 6 of 6 requests differ/,
      );
      assert.match(r.stdout, /Server − dataset tokens \(requests differing\): +\+\d+ \(6 of 6\)/);
    } finally {
      await srv.close();
    }
  });

  test("a server without metrics: scrapes fail, are counted, and the run goes on", async () => {
    const srv = await startLlamaCppFixture({ metricsDisabled: true });
    try {
      const json = join(ws, "nometrics.json");
      const r = await cli([...base(srv.url), "--server_metrics", "--report_json", json]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /Server metrics: scraping .* failed \(HTTP 501\)/);
      assert.match(r.stdout, /First scrape error: +HTTP 501/);
      const sm = reportSchema.parse(JSON.parse(await readFile(json, "utf8"))).llm_bench.server_metrics!;
      assert.equal(sm.scrapes, 0);
      assert.ok(sm.failed_scrapes >= 2);
      assert.equal(sm.server, null);
    } finally {
      await srv.close();
    }
  });

  test("the embedded engine under sweep: --gpu_metrics per point, a J/tok column", async () => {
    const b = await cli(["-w", ws, "build", "--dataset", ids, "--quantization", "FP8"]);
    assert.equal(b.code, 0, b.stderr);
    const engine = join(ws, "llm-bench", "tiny-llama", "tp_1_pp_1");
    const out = join(ws, "sweep");
    const s = await cli(
      [
        "sweep",
        "--engine_dir",
        engine,
        "--dataset",
        ids,
        "--warmup",
        "0",
        "--max_batch_size",
        "4",
        "--max_num_tokens",
        "256",
        "--concurrency",
        "1,3",
        "--gpu_metrics",
        "1",
        "--output_dir",
        out,
      ],
      withFake,
    );
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout.split("\n")[0]!, /Failed +J\/tok$/);
    for (const point of ["concurrency-1.json", "concurrency-3.json"]) {
      const g = reportSchema.parse(JSON.parse(await readFile(join(out, point), "utf8"))).llm_bench
        .gpu_metrics!;
      assert.deepEqual(
        g.gpus.map((x) => x.index),
        [1],
      );
      assert.ok(Math.abs(g.avg_power_w! - 200) < 1, point);
    }
  });

  test("usage errors stop before anything runs or is written", async () => {
    const json = join(ws, "never.json");
    const cases: Array<[string[], RegExp, number, NodeJS.ProcessEnv?]> = [
      [["--server_metrics_interval", "2"], /--server_metrics_interval needs --server_metrics/, 2],
      [["--server_metrics", "ftp://x/metrics"], /--server_metrics 'ftp:\/\/x\/metrics' must be http/, 2],
      [["--gpu_metrics", "0;1"], /'0;1' is not a comma-separated list/, 2],
      // No nvidia-smi on this PATH.
      [["--gpu_metrics"], /GPU telemetry needs nvidia-smi/, 1, { ...process.env, PATH: "/nonexistent" }],
    ];
    for (const [flags, re, code, env] of cases) {
      const r = await cli([...base("http://127.0.0.1:9"), ...flags, "--report_json", json], env);
      assert.equal(r.code, code, `${flags.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
    const embedded = await cli(["throughput", "--dataset", ids, "--server_metrics", "--report_json", json]);
    assert.equal(embedded.code, 2);
    assert.match(embedded.stderr, /--server_metrics needs a URL unless --backend openai/);
    assert.equal(existsSync(json), false);
  });
});
