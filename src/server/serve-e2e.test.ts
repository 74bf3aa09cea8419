/**
 * The tiny real engine end to end: `serve` as a process (endpoints, exact lengths, SIGTERM), and `throughput`
 * interrupted by SIGINT (partial report, exit 130). One engine is built for the file.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

// biome-ignore lint/suspicious/noExplicitAny: parsed JSON responses, checked field by field
type Json = any;

const CLI = ["--import", "tsx", "src/cli/main.ts", "--model", "llm-bench/tiny-llama"];

interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function run(args: string[]): Proc {
  const child = spawn(process.execPath, [...CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (b: Buffer) => {
    out += b.toString();
  });
  child.stderr!.on("data", (b: Buffer) => {
    err += b.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

// 180 s by default: under tsx, starting `serve` (compile, tokenizer, engine) took up to 60 s in a full run on the
// loaded 2-core machine; the suite's own timeout still bounds the whole.
async function waitFor(what: () => boolean, label: string, timeoutMs = 180_000): Promise<void> {
  const t = Date.now();
  while (!what()) {
    if (Date.now() - t > timeoutMs) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("tiny real engine", { timeout: 600_000 }, () => {
  let dir: string;
  let engineDir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "llm-bench-serve-"));
    const b = spawnSync(
      process.execPath,
      [
        ...CLI,
        "-w",
        dir,
        "build",
        "--max_seq_len",
        "256",
        "--max_batch_size",
        "8",
        "--max_num_tokens",
        "512",
        "--quantization",
        "FP8",
      ],
      { encoding: "utf8" },
    );
    assert.equal(b.status, 0, b.stderr);
    engineDir = join(dir, "llm-bench", "tiny-llama", "tp_1_pp_1");
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("serve: completions and chat on the real engine; SIGTERM shuts down cleanly", async () => {
    const p = run(["serve", "--engine_dir", engineDir, "--port", "0", "--api_key", "k"]);
    try {
      await waitFor(() => /listening on (http:\S+)/.test(p.stdout()), "the listening line");
      const url = /listening on (http:\S+)/.exec(p.stdout())![1]!;
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const headers = { "content-type": "application/json", authorization: "Bearer k" };
      const post = (path: string, body: unknown) =>
        fetch(`${url}${path}`, { method: "POST", headers, body: JSON.stringify(body) });

      const res = await post("/v1/completions", {
        prompt: [128000, 9906, 1917],
        max_tokens: 12,
        ignore_eos: true,
        stream: true,
        stream_options: { include_usage: true },
      });
      const events = (await res.text())
        .split("\n\n")
        .filter((e) => e.startsWith("data: {"))
        .map((e) => JSON.parse(e.slice(6)));
      const ids = events.flatMap((e) => e.choices[0]?.token_ids ?? []);
      assert.equal(ids.length, 12);
      assert.deepEqual(events.at(-1).usage, { prompt_tokens: 3, completion_tokens: 12, total_tokens: 15 });

      const chat = (await (
        await post("/v1/chat/completions", {
          messages: [{ role: "user", content: "Hi" }],
          max_tokens: 5,
          min_tokens: 5,
        })
      ).json()) as Json;
      assert.equal(chat.choices[0].token_ids.length, 5);
      assert.equal(chat.usage.completion_tokens, 5);

      const tooLong = await post("/v1/completions", { prompt: Array(300).fill(9906), max_tokens: 1 });
      assert.equal(tooLong.status, 400);
    } finally {
      p.child.kill("SIGTERM");
    }
    assert.equal(await p.exited, 0, p.stderr());
    assert.match(p.stderr(), /Server stopped/);
  });

  it("serve --request_timeout cuts a slow client off with 408; a one-word 8 MB prompt is refused at once", async () => {
    const p = run(["serve", "--engine_dir", engineDir, "--port", "0", "--request_timeout", "1"]);
    try {
      await waitFor(() => /listening on (http:\S+)/.test(p.stdout()), "the listening line");
      const url = /listening on (http:\S+)/.exec(p.stdout())![1]!;
      // A body dribbled a byte every 200 ms: the default (30 s) would keep it far longer than this wait.
      const socket = connect(Number(new URL(url).port), "127.0.0.1");
      let received = "";
      socket.on("data", (b: Buffer) => {
        received += b.toString();
      });
      socket.on("error", () => {});
      const closed = new Promise<void>((r) => socket.on("close", () => r()));
      socket.write("POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n{");
      const drip = setInterval(() => socket.write(" "), 200);
      try {
        await waitFor(() => socket.destroyed || received !== "", "the slow client to be cut off", 10_000);
        await closed;
      } finally {
        clearInterval(drip);
        socket.destroy();
      }
      assert.match(received, /^HTTP\/1\.1 408 /);
      assert.match(received, /"code":"request_timeout"/);

      // The engine takes 255 tokens, and a Llama-3 token is at most 128 characters.
      const res = await fetch(`${url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ prompt: "a".repeat(8_000_000), max_tokens: 1 }),
      });
      assert.equal(res.status, 400);
      const body = (await res.json()) as Json;
      assert.equal(body.error.code, "context_length_exceeded");
      assert.match(body.error.message, /8000000 characters/);
      assert.equal((await fetch(`${url}/health`)).status, 200);
    } finally {
      p.child.kill("SIGTERM");
    }
    assert.equal(await p.exited, 0, p.stderr());
  });

  it("throughput: SIGINT stops issuing, cancels in-flight requests, writes a partial report, exits 130", async () => {
    const dataset = join(dir, "d.jsonl");
    const lines = Array.from({ length: 8 }, (_, i) =>
      JSON.stringify({
        task_id: i,
        input_ids: Array.from({ length: 16 }, (_, j) => 1000 + i + j),
        output_tokens: 200,
      }),
    );
    await writeFile(dataset, `${lines.join("\n")}\n`);
    const report = join(dir, "report.json");
    const p = run([
      "throughput",
      "--engine_dir",
      engineDir,
      "--dataset",
      dataset,
      "--concurrency",
      "1",
      "--warmup",
      "0",
      "--streaming",
      "--report_json",
      report,
    ]);
    await waitFor(() => p.stderr().includes("Starting benchmark"), "the benchmark to start");
    // With one request at a time, ~200 decode steps each: after a moment one is in flight, most unsent.
    await new Promise((r) => setTimeout(r, 1500));
    p.child.kill("SIGINT");
    const code = await p.exited;
    assert.equal(code, 130, p.stderr());
    assert.match(p.stdout(), /PARTIAL REPORT \(interrupted\)/);
    assert.match(p.stdout(), /= PERFORMANCE OVERVIEW/);
    const json = JSON.parse(await readFile(report, "utf8"));
    const load = json.llm_bench.load;
    assert.equal(load.partial, true);
    assert.equal(load.cancelled, 1);
    assert.equal(load.completed + load.cancelled + load.not_issued, 8);
    assert.ok(load.not_issued >= 1);
    assert.equal(json.request_info.num_requests, load.completed);
    assert.equal(json.llm_bench.failures.num_failed, 0, "cancelled requests are not failures");
  });
});
