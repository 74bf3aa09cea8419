/**
 * `sweep` end to end on the embedded engine: a tiny-llama engine built once, then the CLI sweeps 4 concurrency
 * values over a handful of short requests (one model load, reused by every point) and writes the table, one
 * JSON + request log per point and the HTML with the Pareto chart.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const CLI = here.includes(join("dist", "test"))
  ? resolve(here, "../../src/cli/main.js")
  : resolve(here, "../../src/cli/main.ts");
const NODE_ARGS = CLI.endsWith(".ts") ? ["--import", "tsx"] : [];

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [...NODE_ARGS, CLI, "--model", "llm-bench/tiny-llama", ...args], {
    encoding: "utf8",
    timeout: 180_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("sweep on the embedded engine (tiny-llama)", () => {
  let ws: string;
  let dataset: string;
  before(() => {
    ws = mkdtempSync(join(tmpdir(), "llm-bench-sweep-"));
    dataset = join(ws, "d.jsonl");
    // 6 requests of 16 prompt tokens and 4 output tokens.
    const lines = Array.from({ length: 6 }, (_, i) =>
      JSON.stringify({
        task_id: i,
        input_ids: Array.from({ length: 16 }, (_, j) => 100 + i + j),
        output_tokens: 4,
      }),
    );
    writeFileSync(dataset, `${lines.join("\n")}\n`);
  });
  after(() => rmSync(ws, { recursive: true, force: true }));

  it("sweeps 4 concurrency values into a table, JSON runs and a Pareto chart", () => {
    const b = cli(["-w", ws, "build", "--dataset", dataset, "--quantization", "FP8"]);
    assert.equal(b.code, 0, b.stderr);
    const engineDir = join(ws, "llm-bench", "tiny-llama", "tp_1_pp_1");
    const out = join(ws, "sweep");
    const html = join(ws, "sweep.html");
    // The runtime's token budget comes from the YAML (--config is --extra_llm_api_options' alias).
    const yaml = join(ws, "llm-api.yaml");
    writeFileSync(yaml, "max_num_tokens: 200\n");
    const r = cli([
      "sweep",
      "--engine_dir",
      engineDir,
      "--dataset",
      dataset,
      "--warmup",
      "0",
      "--concurrency",
      "1,2,3,6",
      "--max_batch_size",
      "8",
      "--config",
      yaml,
      "--slo",
      "e2el:60000",
      "--output_dir",
      out,
      "--html",
      html,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split("\n");
    assert.match(lines[0]!, /^Concurrency +Req\/s +Output tok\/s +Tok\/s\/user +TTFT p50/);
    const values = lines.slice(2, 6).map((l) => l.trim().split(/\s+/));
    assert.deepEqual(
      values.map((v) => v[0]),
      ["1", "2", "3", "6"],
    );
    for (const v of values) {
      assert.ok(Number(v[1]) > 0 && Number(v[2]) > 0, `a point measured nothing: ${v.join(" ")}`);
      assert.equal(v[9], "100.0%"); // a minute of e2e: every request meets it
      assert.equal(v[10], "0");
    }
    assert.match(r.stdout, /Points meeting the SLOs \(95% of requests within e2el:60000\): 1, 2, 3, 6/);
    for (const c of [1, 2, 3, 6]) {
      const json = JSON.parse(readFileSync(join(out, `concurrency-${c}.json`), "utf8"));
      assert.equal(json.request_info.num_requests, 6);
      assert.equal(json.world_info.max_num_tokens, 200);
      assert.equal(json.llm_bench.request_log, `concurrency-${c}.requests.jsonl`);
      assert.equal(json.llm_bench.goodput.good_requests, 6);
      assert.equal(
        readFileSync(join(out, `concurrency-${c}.requests.jsonl`), "utf8")
          .trim()
          .split("\n").length,
        6,
      );
    }
    const page = readFileSync(html, "utf8");
    const pareto = page.slice(
      page.indexOf('data-chart="pareto"'),
      page.indexOf("</figure>", page.indexOf("pareto")),
    );
    for (const c of [1, 2, 3, 6]) assert.match(pareto, new RegExp(`>c=${c}<`));
    assert.match(pareto, />Pareto front</);
  });
});
