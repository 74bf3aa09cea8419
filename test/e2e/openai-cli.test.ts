/**
 * `--backend openai` through the real CLI against the fault-injecting fixture server (in this process, so the CLI
 * runs as an async child): hostile responses end as counted failures with a written report, secrets never reach
 * the console or the files, and `sweep` takes the same openai flags as `throughput`.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type FixtureMode, startFixtureServer } from "../fixtures/openai-server.ts";

const here = dirname(fileURLToPath(import.meta.url));
const CLI = here.includes(join("dist", "test"))
  ? resolve(here, "../../src/cli/main.js")
  : resolve(here, "../../src/cli/main.ts");
const NODE_ARGS = CLI.endsWith(".ts") ? ["--import", "tsx"] : [];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI as a child process (asynchronous: the fixture server answers from this process's event loop). */
function cli(args: string[], nodeArgs: string[] = []): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      [...nodeArgs, ...NODE_ARGS, CLI, "--model", "llm-bench/tiny-llama", ...args],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, OPENAI_API_KEY: "" },
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
    child.on("error", fail);
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

/** The probe (max_tokens 1) is answered normally; the run's requests meet `mode`. */
const runIn = (mode: FixtureMode) => (b: Record<string, unknown>) => (b["max_tokens"] === 1 ? "ok" : mode);

interface ReportJson {
  llm_bench: {
    failure_reasons?: Array<{ message: string; count: number }>;
    failures: { num_failed: number; errors: Array<{ message: string; count: number }> };
  };
}

describe("--backend openai through the CLI", { timeout: 180_000 }, () => {
  let dir = "";
  let dataset = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "llm-bench-openai-cli-"));
    dataset = join(dir, "d.jsonl");
    const lines = Array.from({ length: 12 }, (_, i) =>
      JSON.stringify({ task_id: i, input_ids: [9906, 1917, 11], output_tokens: 4 }),
    );
    writeFileSync(dataset, `${lines.join("\n")}\n`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const throughput = (url: string, report: string, extra: string[] = []) => [
    "throughput",
    "--backend",
    "openai",
    "--base_url",
    url,
    "--dataset",
    dataset,
    "--warmup",
    "0",
    "--streaming",
    "--concurrency",
    "4",
    "--report_json",
    report,
    ...extra,
  ];

  test("twelve 10 MB one-word events: twelve counted failures, a written report, a small heap", async () => {
    const srv = await startFixtureServer({ modeFor: runIn("huge_event") });
    try {
      const report = join(dir, "huge-event.json");
      // A 256 MB heap: holding or tokenizing even one such event whole needs several times that.
      const r = await cli(throughput(srv.url, report), ["--max-old-space-size=256"]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /12 of 12 requests failed \(response_too_large 12\)/);
      const j = JSON.parse(readFileSync(report, "utf8")) as ReportJson;
      assert.deepEqual(j.llm_bench.failure_reasons, [{ message: "response_too_large", count: 12 }]);
      assert.match(
        j.llm_bench.failures.errors[0]!.message,
        /^response_too_large: an SSE event exceeded 1048576 characters \(\d+ received without its end\)$/,
      );
    } finally {
      await srv.close();
    }
  });

  test("output beyond what max_tokens can hold fails the request; the rest of the run is measured", async () => {
    // Every third request streams 4,000 characters per requested token.
    let n = 0;
    const srv = await startFixtureServer({
      modeFor: (b) => (b["max_tokens"] === 1 ? "ok" : n++ % 3 === 0 ? "long_output" : "ok"),
    });
    try {
      const report = join(dir, "long-output.json");
      const r = await cli(throughput(srv.url, report, ["--allow_failures"]));
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(readFileSync(report, "utf8")) as ReportJson;
      assert.deepEqual(j.llm_bench.failure_reasons, [{ message: "response_too_large", count: 4 }]);
      assert.match(
        j.llm_bench.failures.errors[0]!.message,
        /^response_too_large: more than 5120 characters of output text for max_tokens 4 /,
      );
    } finally {
      await srv.close();
    }
  });

  test("100 KB of response headers: the failure names the 64 KiB limit and what was received", async () => {
    const srv = await startFixtureServer({ modeFor: runIn("huge_headers") });
    try {
      const report = join(dir, "huge-headers.json");
      const r = await cli(throughput(srv.url, report, ["--num_requests", "2"]));
      assert.equal(r.code, 1, r.stderr);
      const j = JSON.parse(readFileSync(report, "utf8")) as ReportJson;
      assert.equal(j.llm_bench.failures.num_failed, 2);
      const m = /response head exceeds the 64 KiB \(65536 bytes\) limit: (\d+) bytes received so far/.exec(
        j.llm_bench.failures.errors[0]!.message,
      );
      assert.ok(m, j.llm_bench.failures.errors[0]!.message);
      assert.ok(Number(m[1]) > 65_536);
    } finally {
      await srv.close();
    }
  });

  test("secrets: header values and URL credentials reach the server, never the console or the files", async () => {
    const srv = await startFixtureServer();
    const secrets = ["hdr-SECRET-1", "url-SECRET-2"];
    try {
      const out = join(dir, "secret");
      const files = [
        "--request_log",
        `${out}.requests.jsonl`,
        "--request_json",
        `${out}.requests.json`,
        "--output_json",
        `${out}.output.json`,
      ];
      const url = srv.url.replace("http://", "http://bench-user:url-SECRET-2@");
      const ok = await cli([
        "--log_level",
        "debug",
        ...throughput(url, `${out}.json`, [
          "--header",
          "X-Api-Key: hdr-SECRET-1",
          "--num_requests",
          "2",
          ...files,
        ]),
      ]);
      assert.equal(ok.code, 0, ok.stderr);
      const last = srv.headers.at(-1)!;
      assert.equal(last["x-api-key"], "hdr-SECRET-1");
      assert.equal(last.authorization, `Basic ${Buffer.from("bench-user:url-SECRET-2").toString("base64")}`);
      // A server that quotes the credentials back: the probe's error is printed masked.
      const echo = await startFixtureServer({ defaultMode: "echo_auth" });
      const refused = await cli(
        throughput(echo.url, `${out}-echo.json`, ["--header", "Authorization: Bearer hdr-SECRET-1"]),
      );
      await echo.close();
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /HTTP 401 .*invalid credentials '\*\*\*'/);
      // Usage errors about a header or the URL do not quote them.
      const badHeader = await cli(
        throughput(srv.url, `${out}-x.json`, ["--header", "Authorization hdr-SECRET-1"]),
      );
      assert.equal(badHeader.code, 2);
      assert.match(badHeader.stderr, /--header #1: not 'name=value' or 'Name: value'/);
      const printed = [ok, refused, badHeader].flatMap((r) => [r.stdout, r.stderr]);
      const written = readdirSync(dir)
        .filter((f) => f.startsWith("secret"))
        .map((f) => readFileSync(join(dir, f), "utf8"));
      assert.ok(written.length >= 4, "the run wrote its report and request files");
      for (const text of [...printed, ...written])
        for (const s of secrets)
          assert.ok(!text.includes(s), `'${s}' printed or written:\n${text.slice(0, 2000)}`);
    } finally {
      await srv.close();
    }
  });

  test("sweep --backend openai: the openai flags are read, each point runs against the server", async () => {
    const srv = await startFixtureServer({ tokensPerChunk: 2 });
    try {
      const outDir = join(dir, "sweep");
      const r = await cli([
        "sweep",
        "--backend",
        "openai",
        "--base_url",
        srv.url,
        "--served_model_name",
        "served-x",
        "--header",
        "x-sweep=1",
        "--dataset",
        dataset,
        "--num_requests",
        "4",
        "--warmup",
        "0",
        "--concurrency",
        "1,2",
        "--output_dir",
        outDir,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Concurrency/);
      for (const c of [1, 2]) {
        const j = JSON.parse(readFileSync(join(outDir, `concurrency-${c}.json`), "utf8")) as {
          llm_bench: { failures: { num_failed: number } };
          request_info: { num_requests: number };
        };
        assert.equal(j.llm_bench.failures.num_failed, 0);
      }
      // 4 requests per point besides the probes (1 token, and the length probe's EOS bias), all with the served
      // name and the header.
      const posts = srv.bodies.filter((b) => b["max_tokens"] !== 1 && b["logit_bias"] === undefined);
      assert.equal(posts.length, 8);
      assert.ok(srv.bodies.every((b) => b["model"] === "served-x"));
      assert.ok(
        srv.headers
          .filter((h) => h["content-type"] === "application/json")
          .every((h) => h["x-sweep"] === "1"),
      );
      // Failed requests make the sweep exit 1 after writing every point (sweep.test.ts), unless --allow_failures.
      const failing = await startFixtureServer({ modeFor: runIn("http_503") });
      const lenient = await cli([
        "sweep",
        "--backend",
        "openai",
        "--base_url",
        failing.url,
        "--dataset",
        dataset,
        "--num_requests",
        "2",
        "--warmup",
        "0",
        "--concurrency",
        "1",
        "--output_dir",
        join(dir, "sw2"),
        "--allow_failures",
      ]);
      await failing.close();
      assert.equal(lenient.code, 0, lenient.stderr);
      assert.match(lenient.stdout, /\n +1 .* 2\n/);
    } finally {
      await srv.close();
    }
  });
});
