import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type FixtureMode, startFixtureServer } from "../../../test/fixtures/openai-server.ts";
import {
  type BenchmarkOptions,
  type BenchmarkResult,
  RequestFailuresError,
  runBenchmark,
} from "../../benchmarks/pipeline.ts";
import { setLogSink } from "../../util/log.ts";

let dir = "";
const logs: string[] = [];
let restore: ((l: string) => void) | undefined;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "llm-bench-openai-"));
  restore = setLogSink((l) => logs.push(l));
});
after(async () => {
  if (restore) setLogSink(restore);
  await rm(dir, { recursive: true, force: true });
});

/** Output length picks the fixture's behaviour: 9 tokens → HTTP 503, 7 → a server that stops at half. */
const MODES: Record<number, FixtureMode> = { 9: "http_503", 7: "short" };

async function dataset(lens: number[]): Promise<string> {
  const path = join(dir, `d-${lens.join("-")}.jsonl`);
  const lines = lens.map((n, i) =>
    JSON.stringify({ task_id: i, input_ids: [9906, 1917, 11], output_tokens: n }),
  );
  await writeFile(path, `${lines.join("\n")}\n`);
  return path;
}

function options(url: string, path: string, extra: Partial<BenchmarkOptions> = {}): BenchmarkOptions {
  return {
    name: "throughput",
    backend: "openai",
    model: "llm-bench/tiny-llama",
    workspace: dir,
    dataset: path,
    numRequests: 0,
    warmup: 1,
    concurrency: 2,
    streaming: true,
    eosId: -1,
    out: () => {},
    backendOptions: { baseUrl: url, endpoint: "completions", requestTimeoutMs: 2000 },
    ...extra,
  };
}

describe("runBenchmark --backend openai", () => {
  test("all succeed: exact counts from both sources, chunk stats, report sections", async () => {
    const srv = await startFixtureServer({ tokensPerChunk: 2, version: "fixture-1.0" });
    try {
      let text = "";
      const res = await runBenchmark(
        options(srv.url, await dataset([4, 6, 8]), { out: (t) => (text += t), warmup: 0 }),
      );
      assert.equal(res.stats.numRequests, 3);
      assert.equal(res.stats.totalOutputTokens, 18);
      assert.deepEqual(res.stats.outputTokenCounts, {
        serverCounted: 3,
        clientCounted: 3,
        bothCounted: 3,
        serverOutputTokens: 18,
        clientOutputTokens: 18,
        difference: 0,
        differingRequests: 0,
      });
      assert.equal(res.stats.chunks!.chunks, 9); // 2 + 3 + 4 chunks of 2 tokens
      assert.equal(res.stats.chunks!.tokensPerChunkSource, "server_per_chunk");
      assert.equal(res.stats.chunks!.tokensPerChunk.average, 2);
      assert.equal(res.report.engine.backend, "openai");
      assert.equal(res.report.engine.version, "fixture-1.0");
      assert.match(text, /Output tokens by server usage \(requests\): +18 \(3\)/);
      assert.match(text, /Server − client tokens \(requests differing\): +0 \(0 of 3\)/);
      assert.match(text, /\[ChunkGap\] AVERAGE/);
      // Every request carried the token ids, the forced length and the streaming options.
      // After the probe and the length probe.
      const sent = srv.bodies.slice(2);
      assert.deepEqual(
        sent.map((b) => b["prompt"]),
        [
          [9906, 1917, 11],
          [9906, 1917, 11],
          [9906, 1917, 11],
        ],
      );
      assert.deepEqual(sent.map((b) => b["min_tokens"]).sort(), [4, 6, 8]);
    } finally {
      await srv.close();
    }
  });

  test("failures: report printed and written, then a non-zero exit error; --allow_failures returns", async () => {
    const srv = await startFixtureServer({ modeFor: (b) => MODES[b["max_tokens"] as number] });
    try {
      const path = await dataset([4, 9, 7, 9]);
      const reportJson = join(dir, "report.json");
      let text = "";
      logs.length = 0;
      const err = await runBenchmark(
        options(srv.url, path, { out: (t) => (text += t), reportJson, warmup: 0 }),
      ).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof RequestFailuresError);
      assert.equal(err.exitCode, 1);
      assert.match(err.message, /^2 of 4 requests failed \(http_503 2\)/);
      const result: BenchmarkResult = err.result;
      assert.equal(result.stats.numRequests, 2);
      assert.deepEqual(result.stats.failureReasons, [{ message: "http_503", count: 2 }]);
      assert.match(text, /Failed requests \(excluded from all statistics\): +2/);
      assert.match(text, /Failures by reason: http_503 2/);
      const json = JSON.parse(await readFile(reportJson, "utf8")) as { llm_bench: Record<string, unknown> };
      assert.deepEqual(json.llm_bench["failure_reasons"], [{ message: "http_503", count: 2 }]);
      // The short request (7 asked, 3 produced) is flagged.
      assert.ok(logs.some((l) => /Requested output lengths were not honoured: 1 of 2 requests/.test(l)));

      const ok = await runBenchmark(options(srv.url, path, { allowFailures: true, warmup: 0 }));
      assert.equal(ok.stats.numFailed, 2);
    } finally {
      await srv.close();
    }
  });

  test("Ctrl-C after the last request: the client count stops, uncountable requests are left out", async () => {
    // 5 output tokens: a server without usage (the client count is the only length); the others count themselves.
    const srv = await startFixtureServer({ modeFor: (b) => (b["max_tokens"] === 5 ? "no_usage" : "ok") });
    try {
      const abort = new AbortController();
      let text = "";
      logs.length = 0;
      const res = await runBenchmark(
        options(srv.url, await dataset([4, 5, 6, 5]), {
          warmup: 0,
          signal: abort.signal,
          out: (t) => (text += t),
          // The progress bar stops when the last request is done, just before the count: the interrupt comes then.
          progress: { start: () => {}, update: () => {}, stop: () => abort.abort() },
        }),
      );
      assert.equal(res.report.load!.interrupted, true);
      assert.deepEqual(
        res.records.map((r) => r.numOutputTokens),
        [4, 6],
      );
      assert.equal(res.report.load!.completed, 2);
      assert.equal(res.report.load!.cancelled, 2);
      assert.equal(res.stats.outputTokenCounts!.clientCounted, 0);
      assert.match(text, /PARTIAL REPORT/);
      assert.ok(logs.some((l) => /Interrupted while counting output tokens: 2 request\(s\)/.test(l)));
    } finally {
      await srv.close();
    }
  });

  test("the client counts every text the server did not count, and a 1,000-request sample of the rest", async () => {
    const n = 1300;
    // Every 10th request (first prompt id 1) gets no usage: only the client can count it.
    const srv = await startFixtureServer({
      modeFor: (body) => ((body["prompt"] as number[])[0] === 1 ? "no_usage" : undefined),
    });
    try {
      const path = join(dir, "sample.jsonl");
      const lines = Array.from({ length: n }, (_, i) =>
        JSON.stringify({ task_id: i, input_ids: [i % 10 === 0 ? 1 : 2, 1917], output_tokens: 2 }),
      );
      await writeFile(path, `${lines.join("\n")}\n`);
      const run = (extra: Partial<BenchmarkOptions>) =>
        runBenchmark(options(srv.url, path, { warmup: 0, concurrency: 16, ...extra }));
      const sampled = (await run({})).stats;
      assert.equal(sampled.numRequests, n);
      assert.equal(sampled.totalOutputTokens, 2 * n);
      assert.equal(sampled.outputTokenCounts!.serverCounted, n - n / 10);
      assert.equal(sampled.outputTokenCounts!.clientCounted, n / 10 + 1000);
      assert.equal(sampled.outputTokenCounts!.bothCounted, 1000);
      assert.equal(sampled.outputTokenCounts!.differingRequests, 0);
      // Each output's ids are written: every text is counted.
      const all = (await run({ outputJson: join(dir, "sample-out.json") })).stats;
      assert.equal(all.outputTokenCounts!.clientCounted, n);
      assert.equal(all.outputTokenCounts!.bothCounted, n - n / 10);
    } finally {
      await srv.close();
    }
  });
});
