/**
 * Opt-in: issue #12 against a real llama.cpp `llama-server`. Runs only when LLAMA_SERVER names the binary
 * (skipped otherwise; nothing here can run it on a machine without one):
 *
 *   LLAMA_SERVER=/path/to/llama-server [LLAMA_SERVER_GPU=1] npm run build && node scripts/test.mjs e2e/llama-server
 *
 * It builds tiny-llama for a dataset of 256-token requests, serves the engine's GGUF with llama-server as is (no
 * --override-kv), and benchmarks longer requests than the build's max_seq_len through it: they fit because the
 * GGUF records the model's context length. Then it checks the accounting against the server's (one chunk per
 * token, input tokens as llama-server counts them, the probe's findings), --server_metrics' cross-check, and with
 * LLAMA_SERVER_GPU=1 (llama-server on this host's NVIDIA GPU) --gpu_metrics. See docs/openai-backend.md.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { reportSchema } from "../../src/report/report-schema.ts";

const BIN = process.env["LLAMA_SERVER"];
const GPU = process.env["LLAMA_SERVER_GPU"] === "1";
const here = dirname(fileURLToPath(import.meta.url));
const CLI = here.includes(join("dist", "test"))
  ? resolve(here, "../../src/cli/main.js")
  : resolve(here, "../../src/cli/main.ts");
const NODE_ARGS = CLI.endsWith(".ts") ? ["--import", "tsx"] : [];

function cli(args: string[]) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done, reject) => {
    const child = spawn(process.execPath, [...NODE_ARGS, CLI, "--model", "llm-bench/tiny-llama", ...args]);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 300_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((done, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => done(port));
    });
  });
}

async function dataset(path: string, isl: number, osl: number, n: number): Promise<void> {
  const lines = Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      task_id: i,
      input_ids: Array.from({ length: isl }, (_, j) => 1000 + ((i * 131 + j * 7) % 5000)),
      output_tokens: osl,
    }),
  );
  await writeFile(path, `${lines.join("\n")}\n`);
}

// Each test is skipped with its reason, so the runner counts them under "# skipped" (a skipped describe() alone
// counts as no test at all), never as a pass.
const SKIP =
  BIN === undefined
    ? "LLAMA_SERVER is not set: build llama.cpp's llama-server (docs/openai-backend.md) and set LLAMA_SERVER=/path/to/llama-server"
    : false;

describe("against a real llama-server (LLAMA_SERVER)", { timeout: 900_000 }, () => {
  let ws = "";
  let server: ChildProcess | undefined;
  let url: string;
  let serverLog = "";

  before(async () => {
    if (SKIP) return;
    ws = await mkdtemp(join(tmpdir(), "llm-bench-llama-server-"));
    const short = join(ws, "short.jsonl");
    await dataset(short, 192, 64, 8);
    const b = await cli(["-w", ws, "build", "--dataset", short, "--quantization", "FP8"]);
    assert.equal(b.code, 0, b.stderr);
    const dir = join(ws, "llm-bench", "tiny-llama", "tp_1_pp_1");
    const cfg = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as {
      build_config: { max_seq_len: number };
      llm_bench: { gguf_file: string };
    };
    assert.equal(cfg.build_config.max_seq_len, 256);
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    // No --override-kv and no -c: llama-server sizes its context from the GGUF's context length.
    server = spawn(
      BIN!,
      [
        "-m",
        join(dir, cfg.llm_bench.gguf_file),
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
        "--metrics",
        "-np",
        "4",
        ...(GPU ? ["-ngl", "99"] : ["-ngl", "0"]),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    server.stdout!.on("data", (d) => (serverLog = (serverLog + d).slice(-20_000)));
    server.stderr!.on("data", (d) => (serverLog = (serverLog + d).slice(-20_000)));
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (server.exitCode !== null) assert.fail(`llama-server exited: ${serverLog}`);
      try {
        if ((await fetch(`${url}/health`)).status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) assert.fail(`llama-server not healthy after 120 s: ${serverLog}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  });

  after(async () => {
    if (server && server.exitCode === null) {
      server.kill("SIGTERM");
      await new Promise((r) => server!.once("close", r));
    }
    if (ws !== "") await rm(ws, { recursive: true, force: true });
  });

  test("requests longer than the build's max_seq_len, accounting agreeing with the server's", {
    skip: SKIP,
  }, async (t) => {
    const long = join(ws, "long.jsonl");
    await dataset(long, 400, 100, 8);
    const json = join(ws, "long.json");
    const r = await cli([
      "throughput",
      "--backend",
      "openai",
      "--base_url",
      url,
      "--dataset",
      long,
      "--streaming",
      "--concurrency",
      "4",
      "--warmup",
      "0",
      "--server_metrics",
      "--server_metrics_interval",
      "0.25",
      ...(GPU ? ["--gpu_metrics"] : []),
      "--report_json",
      json,
    ]);
    assert.equal(r.code, 0, `${r.stderr}\n--- llama-server ---\n${serverLog}`);
    assert.match(r.stderr, /Server probe: chunks carry no usage \(continuous_usage_stats ignored\)/);
    assert.match(r.stderr, /Server probe: chunks carry no token ids \(return_token_ids ignored\)/);
    assert.doesNotMatch(r.stderr, /output lengths are not forced/);
    const report = reportSchema.parse(JSON.parse(await readFile(json, "utf8")));
    const lb = report.llm_bench;
    assert.equal(lb.failures.num_failed, 0);
    assert.equal(lb.token_accounting.total_output_tokens, 800);
    // One chunk per token: the usage-only final event is not an output chunk.
    assert.equal(lb.chunks!.num_chunks, 800);
    assert.equal(lb.chunks!.tokens_per_chunk_percentiles.average, 1);
    assert.deepEqual(lb.input_token_counts, {
      server_counted_requests: 8,
      server_input_tokens: 3200,
      dataset_input_tokens: 3200,
      server_minus_dataset_tokens: 0,
      differing_requests: 0,
    });
    const sm = lb.server_metrics!;
    assert.equal(sm.server, "llama.cpp");
    assert.equal(sm.failed_scrapes, 0);
    assert.deepEqual(sm.cross_check.generation_tokens, { server: 800, client: 800, server_minus_client: 0 });
    assert.ok(sm.running!.maximum >= 1);
    // What docs/openai-backend.md records of this run.
    t.diagnostic(
      `completions: ${lb.chunks!.num_chunks} chunks, server input ${lb.input_token_counts!.server_input_tokens}, ` +
        `server_metrics ${JSON.stringify(sm.cross_check)}, running max ${sm.running!.maximum}, scrapes ${sm.scrapes}`,
    );
    if (GPU) {
      const g = lb.gpu_metrics!;
      assert.ok(g.energy_j! > 0 && g.energy_per_output_token_j! > 0);
      assert.ok(g.gpus.every((x) => x.coverage > 0.9));
    }
  });

  test("chat: exact output counts, one chunk per token; llama-server's template tokens reported and warned about", {
    skip: SKIP,
  }, async (t) => {
    const short = join(ws, "short.jsonl");
    const json = join(ws, "chat.json");
    const r = await cli([
      "throughput",
      "--backend",
      "openai",
      "--base_url",
      url,
      "--endpoint",
      "chat",
      "--dataset",
      short,
      "--streaming",
      "--concurrency",
      "4",
      "--warmup",
      "0",
      "--server_metrics",
      "--server_metrics_interval",
      "0.25",
      "--report_json",
      json,
    ]);
    assert.equal(r.code, 0, `${r.stderr}\n--- llama-server ---\n${serverLog}`);
    assert.match(r.stderr, /The server counted other input lengths than the dataset/);
    assert.match(r.stdout, /Server − dataset tokens \(requests differing\): +\+\d+ \(8 of 8\)/);
    const lb = reportSchema.parse(JSON.parse(await readFile(json, "utf8"))).llm_bench;
    assert.equal(lb.failures.num_failed, 0);
    assert.equal(lb.token_accounting.total_output_tokens, 8 * 64);
    assert.equal(lb.token_accounting.mismatched_requests, 0);
    assert.equal(
      lb.chunks!.num_chunks,
      8 * 64,
      "one chunk per token: no role prelude or usage-only event counted",
    );
    // The report's input tokens are the server's own: every request carried usage.prompt_tokens.
    const inputs = lb.input_token_counts!;
    assert.equal(inputs.server_counted_requests, 8);
    assert.equal(inputs.dataset_input_tokens, 8 * 192);
    assert.ok(inputs.server_input_tokens > 0);
    const sm = lb.server_metrics!;
    assert.deepEqual(sm.cross_check.generation_tokens, { server: 512, client: 512, server_minus_client: 0 });
    assert.equal(sm.cross_check.prompt_tokens!.client, inputs.server_input_tokens);
    assert.equal(sm.cross_check.prompt_tokens!.client_source, "server_usage");
    t.diagnostic(
      `chat: ${lb.chunks!.num_chunks} chunks, input server ${inputs.server_input_tokens} / dataset ${inputs.dataset_input_tokens}, ` +
        `server_metrics ${JSON.stringify(sm.cross_check)}`,
    );
  });
});
