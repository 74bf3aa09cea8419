import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { computeDatasetMetadata } from "../dataset/stats.ts";
import type { EngineInfo } from "../engine/types.ts";
import { FAKE_ENGINE_INFO } from "../load/fake-engine.ts";
import type { RequestRecord } from "../metrics/record.ts";
import { computeStatistics } from "../metrics/statistics.ts";
import { writeReportJson } from "../report/json.ts";
import type { ReportInput } from "../report/report-input.ts";
import type { BenchmarkOptions, BenchmarkResult } from "./pipeline.ts";
import { runSweep, searchMaxRate } from "./sweep.ts";

const MS = 1e6;
const engine: EngineInfo = { ...FAKE_ENGINE_INFO, model: "m", version: "0", kvCacheDtype: "f16" };

/**
 * A fake benchmark: 4 requests of 11 tokens whose TTFT is 10 ms × the load value, all in flight together for
 * 100 ms + TTFT. It writes a real report JSON so the HTML step has something to read.
 */
async function fakeRun(opts: BenchmarkOptions): Promise<BenchmarkResult> {
  const load = opts.requestRate ?? opts.concurrency;
  const ttft = 10 * load;
  const records: RequestRecord[] = [0, 1, 2, 3].map((i) => ({
    id: String(i),
    numInputTokens: 5,
    numOutputTokens: 11,
    requestedOutputTokens: 11,
    scheduledNs: 0,
    startNs: 0,
    firstTokenNs: ttft * MS,
    endNs: (ttft + 100) * MS,
    decodeIterations: 11,
    error: undefined,
  }));
  const stats = computeStatistics(records, { streaming: true, worldSize: 1, slo: opts.goodput });
  const report: ReportInput = {
    engine,
    stats,
    dataset: computeDatasetMetadata("d", [5, 5, 5, 5], [11, 11, 11, 11]),
    streaming: true,
  };
  if (opts.reportJson) await writeReportJson(opts.reportJson, report);
  return { stats, report, records };
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "llmb-sweep-"));
});
after(() => rm(dir, { recursive: true, force: true }));

describe("SLO rate search", () => {
  const passesBelow = (limit: number, tried: number[]) => async (rate: number) => {
    tried.push(rate);
    return rate <= limit;
  };
  it("bisects between the highest pass and the lowest fail, bounded by maxProbes", async () => {
    const tried: number[] = [];
    const known = new Map([
      [1, true],
      [2, true],
      [8, false],
    ]);
    const r = await searchMaxRate(known, passesBelow(3.3, tried), 4);
    assert.deepEqual(tried, [5, 3.5, 2.75, 3.125]);
    assert.deepEqual(r, { rate: 3.125, probes: 4, bracket: [3.125, 3.5] });
  });
  it("stops when the bracket is within 5 %", async () => {
    const tried: number[] = [];
    const r = await searchMaxRate(
      new Map([
        [10, true],
        [10.4, false],
      ]),
      passesBelow(99, tried),
      10,
    );
    assert.deepEqual(tried, []);
    assert.equal(r.rate, 10);
  });
  it("has nothing to bisect when every rate passes, and searches down from 0 when none does", async () => {
    const up = await searchMaxRate(
      new Map([
        [1, true],
        [4, true],
      ]),
      passesBelow(99, []),
      4,
    );
    assert.deepEqual(up, { rate: 4, probes: 0, bracket: [4, undefined] });
    const tried: number[] = [];
    const down = await searchMaxRate(new Map([[4, false]]), passesBelow(0.6, tried), 3);
    assert.deepEqual(tried, [2, 1, 0.5]);
    assert.deepEqual(down, { rate: 0.5, probes: 3, bracket: [0.5, 1] });
  });
});

describe("runSweep", () => {
  const base = {
    backend: "openai" as const,
    model: "m",
    workspace: tmpdir(),
    dataset: "d",
    numRequests: 0,
    warmup: 0,
    concurrency: -1,
    streaming: true,
    eosId: -1,
  };
  it("runs each concurrency value, prints the table and writes the Pareto HTML", async () => {
    const out: string[] = [];
    const seen: BenchmarkOptions[] = [];
    const html = join(dir, "c.html");
    const res = await runSweep({
      base,
      axis: "concurrency",
      values: [1, 4, 2],
      slo: { ttftMs: 25 },
      attainment: 1,
      maxProbes: 4,
      outputDir: join(dir, "c"),
      html,
      out: (t) => out.push(t),
      run: async (o) => {
        seen.push(o);
        return fakeRun(o);
      },
    });
    assert.deepEqual(
      seen.map((o) => [o.concurrency, o.reportJson, o.requestLog, o.allowFailures]),
      [
        [1, join(dir, "c", "concurrency-1.json"), join(dir, "c", "concurrency-1.requests.jsonl"), true],
        [4, join(dir, "c", "concurrency-4.json"), join(dir, "c", "concurrency-4.requests.jsonl"), true],
        [2, join(dir, "c", "concurrency-2.json"), join(dir, "c", "concurrency-2.requests.jsonl"), true],
      ],
    );
    assert.equal(res.maxRate, undefined);
    const text = out.join("");
    const rows = text.split("\n").slice(2, 5);
    // Sorted by value; 4 requests over (ttft + 100) ms; TTFT 10 ms × c; goodput needs TTFT ≤ 25 ms.
    // c=1: 4 / 0.11 s = 36.364 req/s, 44 tokens / 0.11 s = 400 tok/s, 11 / 0.11 = 100 tok/s/user.
    assert.deepEqual(rows[0]!.trim().split(/\s+/), [
      "1",
      "36.364",
      "400.00",
      "100.00",
      "10.00",
      "10.00",
      "10.00",
      "10.00",
      "36.364",
      "100.0%",
      "0",
    ]);
    assert.equal(rows[1]!.trim().split(/\s+/)[0], "2");
    assert.deepEqual(rows[2]!.trim().split(/\s+/).slice(-3), ["0.000", "0.0%", "0"]);
    assert.match(text, /Points meeting the SLOs \(100% of requests within ttft:25\): 1, 2\n/);
    const page = await readFile(html, "utf8");
    assert.match(page, /data-chart="pareto"/);
    for (const l of ["c=1", "c=2", "c=4"]) assert.match(page, new RegExp(`>${l}<`));
  });
  it("failed requests: every point still runs and is written, then an error unless allowFailures", async () => {
    // A run whose last request failed (the pipeline keeps failures in the records and the statistics count them).
    const failingRun = async (o: BenchmarkOptions): Promise<BenchmarkResult> => {
      const r = await fakeRun(o);
      r.records[3]!.error = "http_503: busy";
      const stats = computeStatistics(r.records, { streaming: true, worldSize: 1 });
      return { ...r, stats };
    };
    const opts = {
      base,
      axis: "concurrency" as const,
      values: [1, 2],
      attainment: 1,
      maxProbes: 0,
      outputDir: join(dir, "f"),
      out: () => {},
      run: failingRun,
    };
    await assert.rejects(
      runSweep(opts),
      /requests failed at 2 of 2 sweep points \(concurrency 1: 1, 2: 1\).*--allow_failures/,
    );
    const res = await runSweep({ ...opts, allowFailures: true });
    assert.deepEqual(
      res.points.map((p) => p.failed),
      [1, 1],
    );
  });
  it("searches the highest rate meeting the SLOs after the listed rates", async () => {
    const out: string[] = [];
    const res = await runSweep({
      base,
      axis: "request_rate",
      values: [1, 4],
      slo: { ttftMs: 30 },
      attainment: 1,
      maxProbes: 2,
      outputDir: join(dir, "r"),
      out: (t) => out.push(t),
      run: fakeRun,
    });
    // TTFT = 10 ms × rate: passes up to rate 3. Probes 2.5 (pass) then 3.25 (fail).
    assert.deepEqual(
      res.points.map((p) => [p.value, p.probe]),
      [
        [1, false],
        [4, false],
        [2.5, true],
        [3.25, true],
      ],
    );
    assert.deepEqual(res.maxRate, { rate: 2.5, probes: 2, bracket: [2.5, 3.25] });
    assert.match(
      out.join(""),
      /Highest rate meeting the SLOs .*: 2\.5 req\/s \(fails at 3\.25 req\/s; 2 search probes\)/,
    );
    assert.match(out.join(""), /\n +2\.5\* /);
  });

  it("reuses one engine across points when the backend says it can, whatever name selected it", async () => {
    for (const [backend, reused] of [
      ["embedded", true],
      ["pytorch", true],
      ["openai", false],
    ] as const) {
      const seen: BenchmarkOptions[] = [];
      await runSweep({
        base: { ...base, backend },
        axis: "concurrency",
        values: [1, 2],
        attainment: 1,
        maxProbes: 0,
        outputDir: join(dir, `reuse-${backend}`),
        out: () => {},
        run: async (o) => {
          seen.push(o);
          return fakeRun(o);
        },
      });
      assert.equal(seen.length, 2);
      if (reused) {
        assert.ok(seen[0]!.session, backend);
        assert.equal(seen[0]!.session, seen[1]!.session, backend);
      } else {
        assert.equal(seen[0]!.session, undefined, backend);
      }
    }
  });
});
