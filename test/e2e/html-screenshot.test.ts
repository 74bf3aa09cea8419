/**
 * The HTML report in a real browser: Debian's headless Chromium loads the page built from the fixture runs
 * (test/fixtures/reports, written by real throughput runs on tiny-llama), dumps the DOM it rendered and takes
 * a screenshot whose pixels must show the charts' series colours. Chromium is required: CI installs it
 * (`apt-get install -y chromium`); without it this test fails rather than silently skipping.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { PALETTE } from "../../src/report/html/charts.ts";
import { writeHtmlReport } from "../../src/report/html/write.ts";
import { countColor, decodePng, distinctColors } from "../helpers/png.ts";

const here = dirname(fileURLToPath(import.meta.url));
const inDist = here.includes(join("dist", "test"));
const ROOT = resolve(here, inDist ? "../../.." : "../..");
const FIXTURES = join(ROOT, "test", "fixtures", "reports");
const CLI = inDist ? resolve(here, "../../src/cli/main.js") : resolve(here, "../../src/cli/main.ts");
const NODE_ARGS = CLI.endsWith(".ts") ? ["--import", "tsx"] : [];
const CHROMIUM = process.env["CHROMIUM"] ?? "/usr/bin/chromium";
const WIDTH = 1280;
const HEIGHT = 3200;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "llmb-chromium-"));
});
after(() => rm(dir, { recursive: true, force: true }));

function chromium(args: string[], url: string): string {
  assert.ok(
    existsSync(CHROMIUM),
    `${CHROMIUM} not found: this test needs Debian's chromium (apt-get install -y chromium) or CHROMIUM=/path`,
  );
  const r = spawnSync(
    CHROMIUM,
    [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--hide-scrollbars",
      `--user-data-dir=${join(dir, "profile")}`,
      ...args,
      url,
    ],
    { encoding: "utf8", timeout: 60_000, maxBuffer: 64 << 20 },
  );
  assert.equal(r.status, 0, `chromium failed (${r.status ?? r.signal}): ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

/** The chart figures Chromium parsed, each with the text of its SVG (legend and labels). */
function renderedCharts(dom: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of dom.matchAll(/<figure class="chart" data-chart="([a-z0-9]+)">([\s\S]*?)<\/figure>/g)) {
    const svg = m[2]!;
    assert.match(svg, /^<svg [^>]*width="\d+"/, `chart ${m[1]} has no SVG`);
    const texts = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((t) => t[1]!);
    out.set(`${m[1]}#${out.size}`, texts);
  }
  return out;
}

async function screenshot(url: string, name: string) {
  const png = join(dir, `${name}.png`);
  chromium([`--screenshot=${png}`, `--window-size=${WIDTH},${HEIGHT}`], url);
  return decodePng(await readFile(png));
}

describe("HTML report in headless Chromium", () => {
  it("renders every chart of one run", async () => {
    const html = join(dir, "one.html");
    await writeHtmlReport([join(FIXTURES, "run-c2.json")], html);
    const url = pathToFileURL(html).href;
    const charts = renderedCharts(chromium(["--dump-dom"], url));
    assert.deepEqual(
      [...charts.keys()].map((k) => k.split("#")[0]),
      ["ttft", "tpot", "e2e", "throughput", "concurrency", "timeline"],
    );
    const all = [...charts.values()].flat();
    for (const t of ["Time to first token (TTFT)", "Output throughput over time", "decode", "queueing"]) {
      assert.ok(all.includes(t), `no '${t}' text in the rendered charts`);
    }

    const img = await screenshot(url, "one");
    assert.equal(img.width, WIDTH);
    assert.equal(img.height, HEIGHT);
    assert.ok(distinctColors(img) > 100, "the screenshot looks blank");
    // The first series colour fills histogram bars, lines and the timeline's decode bars.
    const blue = countColor(img, PALETTE[0]!);
    assert.ok(blue > 5000, `only ${blue} pixels of the first series colour: charts did not paint`);
  });

  it("compares two runs side by side (report command)", async () => {
    const html = join(dir, "two.html");
    const r = spawnSync(
      process.execPath,
      [
        ...NODE_ARGS,
        CLI,
        "report",
        join(FIXTURES, "run-c2.json"),
        join(FIXTURES, "run-c6.json"),
        "--html",
        html,
      ],
      { encoding: "utf8", timeout: 120_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const url = pathToFileURL(html).href;
    const dom = chromium(["--dump-dom"], url);
    assert.match(dom, /<th>run-c2<\/th><th>run-c6<\/th>/);
    const charts = renderedCharts(dom);
    assert.equal([...charts.keys()].filter((k) => k.startsWith("timeline")).length, 2);
    for (const [key, texts] of charts) {
      if (key.startsWith("timeline")) continue;
      assert.ok(texts.includes("run-c2") && texts.includes("run-c6"), `${key}: the legend lacks a run`);
    }

    const img = await screenshot(url, "two");
    // Second run's colour: its histogram bars and lines (and the timelines' TTFT bars).
    const red = countColor(img, PALETTE[1]!);
    assert.ok(red > 2000, `only ${red} pixels of the second series colour`);
    assert.ok(countColor(img, PALETTE[0]!) > 5000);
  });
});
