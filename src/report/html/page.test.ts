import assert from "node:assert/strict";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError } from "../../errors.ts";
import { packageRoot } from "../../model/known-models.ts";
import { paretoOption, renderSvg } from "./charts.ts";
import { buildHtmlReport, escapeHtml } from "./page.ts";
import { loadRun, uniqueNames } from "./run-data.ts";
import { writeHtmlReport } from "./write.ts";

let fixtures: string;
let dir: string;
before(async () => {
  fixtures = join(await packageRoot(), "test", "fixtures", "reports");
  dir = await mkdtemp(join(tmpdir(), "llmb-html-"));
});
after(() => rm(dir, { recursive: true, force: true }));

const charts = (html: string) => [...html.matchAll(/data-chart="([a-z0-9]+)"><svg /g)].map((m) => m[1]);

describe("HTML report", () => {
  it("loads a run with its JSONL or CSV request log", async () => {
    const a = await loadRun(join(fixtures, "run-c2.json"));
    const b = await loadRun(join(fixtures, "run-c6.json"));
    assert.equal(a.name, "run-c2");
    assert.equal(a.requests?.length, 12);
    assert.equal(b.requests?.length, 12);
    assert.equal(a.report.request_info.num_requests, 12);
  });
  it("renders one run: table, distributions, over-time charts and timeline, self-contained", async () => {
    const run = await loadRun(join(fixtures, "run-c2.json"));
    const html = buildHtmlReport({ title: "T <1>", runs: [run], generatedAt: "fixed" });
    assert.deepEqual(charts(html), ["ttft", "tpot", "e2e", "throughput", "concurrency", "timeline"]);
    assert.match(html, /<title>T &#60;1&#62;<\/title>/);
    assert.match(html, /<td>4\.9464<\/td>/); // request throughput, 4 decimals
    assert.match(html, /<td>4\.9464 \[12 \/ 12\]<\/td>/); // goodput
    assert.doesNotMatch(html, /<script|<link|<img|@import|url\((?!#)/i);
    // The only URLs are the SVG namespaces.
    const urls = new Set(html.match(/https?:\/\/[^"' )]+/g));
    assert.deepEqual([...urls].sort(), ["http://www.w3.org/1999/xlink", "http://www.w3.org/2000/svg"]);
    // Same input, same page: only the ids and classes ECharts numbers per instance (zrN-…, unique within a page) differ.
    const norm = (s: string) => s.replace(/zr\d+-[a-z-]*\d+/g, "zr");
    assert.equal(norm(buildHtmlReport({ title: "T <1>", runs: [run], generatedAt: "fixed" })), norm(html));
    const ids = [...html.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]);
    assert.equal(new Set(ids).size, ids.length, "SVG ids must be unique within the page");
  });
  it("compares two runs side by side with one series per run", async () => {
    const out = join(dir, "two.html");
    await writeHtmlReport([join(fixtures, "run-c2.json"), join(fixtures, "run-c6.json")], out);
    const html = await readFile(out, "utf8");
    assert.match(html, /<th>run-c2<\/th><th>run-c6<\/th>/);
    assert.deepEqual(charts(html), [
      "ttft",
      "tpot",
      "e2e",
      "throughput",
      "concurrency",
      "timeline",
      "timeline",
    ]);
    // Legends name both runs in the overlaid charts.
    const ttft = html.slice(html.indexOf('data-chart="ttft"'), html.indexOf('data-chart="tpot"'));
    assert.match(ttft, />run-c2</);
    assert.match(ttft, />run-c6</);
  });
  it("says which runs lack a request log and still renders the table", async () => {
    const json = JSON.parse(await readFile(join(fixtures, "run-c2.json"), "utf8"));
    delete json.llm_bench.request_log;
    await writeFile(join(dir, "nolog.json"), JSON.stringify(json));
    const html = buildHtmlReport({ title: "t", runs: [await loadRun(join(dir, "nolog.json"))] });
    assert.deepEqual(charts(html), []);
    assert.match(html, /No request log for nolog/);
  });
  it("draws the Pareto chart with every sweep label", () => {
    const svg = renderSvg(
      paretoOption([
        { label: "c=1", x: 50, y: 50 },
        { label: "c=8", x: 10, y: 90 },
      ]),
      { width: 600, height: 300 },
    );
    assert.match(svg, /^<svg /);
    assert.match(svg, />c=1</);
    assert.match(svg, />c=8</);
    assert.match(svg, />Pareto front</);
  });
  it("rejects a JSON that is not an llm-bench report, naming the file and key", async () => {
    await copyFile(join(fixtures, "run-c2.json"), join(dir, "bad.json"));
    const json = JSON.parse(await readFile(join(dir, "bad.json"), "utf8"));
    json.performance.total_latency_ms = "slow";
    await writeFile(join(dir, "bad.json"), JSON.stringify(json));
    await assert.rejects(loadRun(join(dir, "bad.json")), (e: unknown) => {
      return e instanceof ConfigError && /bad\.json: .*performance\.total_latency_ms/.test(e.message);
    });
  });
  it("escapes and de-duplicates names", () => {
    assert.equal(escapeHtml(`<a href="x">&'`), "&#60;a href=&#34;x&#34;&#62;&#38;&#39;");
    assert.deepEqual(uniqueNames(["a", "b", "a", "a"]), ["a", "b", "a (2)", "a (3)"]);
  });
});
