/**
 * The seed's workflow end to end through the real CLI: prepare-dataset -> build -> throughput on a tiny
 * engine, with assertions on the printed report, the JSON report, the per-request records and the
 * iteration log.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
// Compiled to dist/test/e2e; the CLI is dist/src/cli/main.js. Under tsx, the sources.
const CLI = here.includes(`${join("dist", "test")}`)
  ? resolve(here, "../../src/cli/main.js")
  : resolve(here, "../../src/cli/main.ts");
const NODE_ARGS = CLI.endsWith(".ts") ? ["--import", "tsx"] : [];

function cli(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, [...NODE_ARGS, CLI, ...args], {
    encoding: "utf8",
    timeout: 120_000,
    env,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `Label:   value` from the printed report. */
function reportValue(report: string, label: string): string {
  const line = report.split("\n").find((l) => l.startsWith(label));
  assert.ok(line, `report has no '${label}' line`);
  return line.slice(label.length).trim();
}

describe("quickstart workflow (tiny-llama)", () => {
  let ws: string;
  let dataset: string;
  let engineDir: string;
  // Every test uses the dataset and the engine: made here, once, so any test runs alone and in any order; the
  // first two tests check these two commands' results.
  let prepared: ReturnType<typeof cli>;
  let built: ReturnType<typeof cli>;
  before(() => {
    ws = mkdtempSync(join(tmpdir(), "llm-bench-e2e-"));
    dataset = join(ws, "synthetic.jsonl");
    engineDir = join(ws, "llm-bench", "tiny-llama", "tp_1_pp_1");
    prepared = cli([
      "--model",
      "llm-bench/tiny-llama",
      "prepare-dataset",
      "--output",
      dataset,
      "token-norm-dist",
      "--num-requests",
      "6",
      "--input-mean",
      "24",
      "--output-mean",
      "6",
      "--input-stdev",
      "0",
      "--output-stdev",
      "0",
    ]);
    assert.equal(prepared.code, 0, prepared.stderr);
    built = cli([
      "--model",
      "llm-bench/tiny-llama",
      "--workspace",
      ws,
      "build",
      "--dataset",
      dataset,
      "--quantization",
      "FP8",
    ]);
    assert.equal(built.code, 0, built.stderr);
  });
  after(() => rmSync(ws, { recursive: true, force: true }));

  it("prepare-dataset writes the seed's JSONL schema", () => {
    const r = prepared;
    assert.equal(r.code, 0, r.stderr);
    const lines = readFileSync(dataset, "utf8").trim().split("\n");
    assert.equal(lines.length, 6);
    const first = JSON.parse(lines[0]!) as { task_id: number; input_ids: number[]; output_tokens: number };
    assert.equal(first.task_id, 0);
    assert.equal(first.input_ids.length, 24);
    assert.equal(first.output_tokens, 6);
  });

  it("build writes a loadable engine directory with the heuristic's limits", () => {
    const r = built;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout + r.stderr, /Estimated max batch size \(after fine-tune\)/);
    assert.match(
      r.stdout + r.stderr,
      new RegExp(`ENGINE SAVED: ${engineDir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`),
    );
    const cfg = JSON.parse(readFileSync(join(engineDir, "config.json"), "utf8"));
    assert.equal(cfg.build_config.max_seq_len, 30);
    assert.equal(cfg.pretrained_config.quantization.quant_algo, "FP8");
    assert.equal(cfg.pretrained_config.quantization.kv_cache_quant_algo, "FP8");
  });

  it("throughput runs and reports trtllm-bench's sections with consistent numbers", () => {
    const reportJson = join(ws, "report.json");
    const requestJson = join(ws, "requests.json");
    const iterLog = join(ws, "iter.jsonl");
    const r = cli([
      "--model",
      "llm-bench/tiny-llama",
      "--workspace",
      ws,
      "throughput",
      "--dataset",
      dataset,
      "--engine_dir",
      engineDir,
      "--streaming",
      "--warmup",
      "1",
      "--max_batch_size",
      "4",
      "--max_num_tokens",
      "40",
      "--report_json",
      reportJson,
      "--request_json",
      requestJson,
      "--iteration_log",
      iterLog,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout;
    for (const section of [
      "= ENGINE DETAILS",
      "= WORLD + RUNTIME INFORMATION",
      "= PERFORMANCE OVERVIEW",
      "= DATASET DETAILS",
    ]) {
      assert.ok(out.includes(section), `missing ${section}`);
    }
    assert.equal(reportValue(out, "Number of requests:"), "6");
    assert.equal(reportValue(out, "Average Output Length (tokens):"), "6.0000");
    assert.equal(reportValue(out, "Max Runtime Batch Size:"), "4");
    assert.equal(reportValue(out, "Max Runtime Tokens:"), "40");
    assert.match(out, /\[TTFT\] P50/);

    const report = JSON.parse(readFileSync(reportJson, "utf8"));
    const perf = report.performance;
    const lat = perf.total_latency_ms;
    assert.ok(lat > 0);
    // Total Output Throughput = sum(output tokens) / total latency.
    assert.ok(
      Math.abs(perf.system_output_throughput_tok_s - (6 * 6) / (lat / 1000)) <
        1e-6 * perf.system_output_throughput_tok_s,
    );
    assert.equal(report.request_info.num_requests, 6);

    const records = JSON.parse(readFileSync(requestJson, "utf8")) as Array<{ output_tokens: number }>;
    assert.equal(records.length, 6);
    for (const rec of records) assert.equal(rec.output_tokens, 6, "exact OSL with EOS ignored");

    // The iteration log is strict JSONL and every step respects the runtime limits.
    const steps = readFileSync(iterLog, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.ok(steps.length >= 6);
    let decoded = 0;
    for (const s of steps) {
      assert.ok(s.batch_size <= 4);
      assert.ok(s.prefill_tokens + s.decode_tokens <= 40);
      decoded += s.decode_tokens;
    }
    // 6 requests x 6 tokens: the first of each comes from prefill, the other 5 from decode steps.
    assert.equal(decoded, 6 * 5);
  });

  it("names the device that ran; the native greedy sampler and node-llama-cpp's agree token for token", () => {
    const run = (tag: string, env: NodeJS.ProcessEnv) => {
      const reportJson = join(ws, `device-${tag}.json`);
      const outputJson = join(ws, `outputs-${tag}.json`);
      const r = cli(
        [
          "--model",
          "llm-bench/tiny-llama",
          "throughput",
          "--dataset",
          dataset,
          "--engine_dir",
          engineDir,
          "--device",
          "cpu",
          "--threads",
          "1",
          "--warmup",
          "0",
          "--report_json",
          reportJson,
          "--output_json",
          outputJson,
        ],
        env,
      );
      assert.equal(r.code, 0, r.stderr);
      return {
        out: r.stdout,
        report: JSON.parse(readFileSync(reportJson, "utf8")),
        outputs: readFileSync(outputJson, "utf8"),
      };
    };
    const fast = run("native", process.env);
    const slow = run("nlc", { ...process.env, LLM_BENCH_NATIVE_SAMPLER: "0" });
    assert.equal(fast.outputs, slow.outputs);
    for (const { out, report } of [fast, slow]) {
      assert.match(out, /= MACHINE DETAILS/);
      assert.match(out, /^Compute: +cpu, flash attention on, 1 threads, sampling: /m);
      assert.match(out, /^Host: +.+ \(\d+ cores\), [\d.]+ GiB RAM/m);
      assert.equal(report.machine.compute.backend, "cpu");
      assert.equal(report.machine.compute.threads, 1);
      assert.ok(report.machine.host.cpu_cores >= 1);
    }
    assert.equal(slow.report.machine.compute.sampling, "node-llama-cpp per-position");
    // `npm run build` compiles the native sampler wherever a C++ compiler exists (CI has one).
    const built = existsSync(
      resolve(here, CLI.endsWith(".ts") ? "../../dist" : "../..", "native", "greedy.node"),
    );
    const hasCompiler = spawnSync("c++", ["--version"]).status === 0;
    if (hasCompiler) assert.ok(built, "a C++ compiler exists but dist/native/greedy.node was not built");
    assert.equal(
      fast.report.machine.compute.sampling,
      built ? "native batched argmax" : "node-llama-cpp per-position",
    );
  });

  it("two CPU threads: the persistent thread pool and ggml's per-graph threads agree token for token", () => {
    const run = (tag: string, env: NodeJS.ProcessEnv) => {
      const outputJson = join(ws, `outputs-threads2-${tag}.json`);
      const r = cli(
        [
          "--model",
          "llm-bench/tiny-llama",
          "throughput",
          "--dataset",
          dataset,
          "--engine_dir",
          engineDir,
          "--device",
          "cpu",
          "--threads",
          "2",
          "--warmup",
          "0",
          "--output_json",
          outputJson,
        ],
        env,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Compute: +cpu, flash attention on, 2 threads/m);
      return readFileSync(outputJson, "utf8");
    };
    assert.equal(
      run("pool", process.env),
      run("per-graph", { ...process.env, LLM_BENCH_CPU_THREADPOOL: "0" }),
    );
  });

  it("--device names a backend that cannot load here: one clear error, no stack", () => {
    const r = cli([
      "--model",
      "llm-bench/tiny-llama",
      "throughput",
      "--dataset",
      dataset,
      "--engine_dir",
      engineDir,
      "--device",
      "metal",
    ]);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /llm-bench: error: (--device metal: llama\.cpp cannot run on METAL|no llama\.cpp binary for METAL)/,
    );
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it("--extra_llm_api_options sets the runtime limits; a CLI flag wins over it with a warning", () => {
    const yaml = join(ws, "llm-api.yaml");
    writeFileSync(
      yaml,
      "max_batch_size: 3\nmax_num_tokens: 33\nkv_cache_config:\n  free_gpu_memory_fraction: 0.5\n",
    );
    const reportJson = join(ws, "report-yaml.json");
    const r = cli([
      "--model",
      "llm-bench/tiny-llama",
      "throughput",
      "--dataset",
      dataset,
      "--engine_dir",
      engineDir,
      "--warmup",
      "0",
      "--extra_llm_api_options",
      yaml,
      "--max_num_tokens",
      "36",
      "--report_json",
      reportJson,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(reportValue(r.stdout, "Max Runtime Batch Size:"), "3");
    assert.equal(reportValue(r.stdout, "Max Runtime Tokens:"), "36");
    assert.match(r.stderr, /Explicit CLI flag\(s\) \[--max_num_tokens\] override/);
    const report = JSON.parse(readFileSync(reportJson, "utf8"));
    assert.equal(report.world_info.kv_cache_percentage, 0.5);
  });

  it("a bad dataset line fails with file:line: field and a non-zero exit", () => {
    const bad = join(ws, "bad.jsonl");
    writeFileSync(
      bad,
      '{"task_id":0,"input_ids":[1,2,3],"output_tokens":4}\n{"task_id":1,"input_ids":[1,2],"output_tokens":0}\n',
    );
    const r = cli([
      "--model",
      "llm-bench/tiny-llama",
      "throughput",
      "--dataset",
      bad,
      "--engine_dir",
      engineDir,
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:2: output_tokens`));
  });

  it("unknown options fail with a usage error", () => {
    const r = cli([
      "--model",
      "llm-bench/tiny-llama",
      "throughput",
      "--dataset",
      dataset,
      "--max_batch_sze",
      "4",
    ]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option '--max_batch_sze'/);
  });
});
