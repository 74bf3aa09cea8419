/**
 * What one `--server_metrics` scrape costs the client's event loop: parsing a vLLM-sized Prometheus exposition
 * and reading the server's figures from it (the socket work is the kernel's). Prints the exposition's size and
 * the time per scrape (median of --reps runs of --scrapes scrapes each), and the share of a 1 s interval.
 *
 *   npx tsx bench/server-metrics-cost.ts [--engines 8] [--scrapes 200] [--reps 5]
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { packageRoot } from "../src/model/known-models.ts";
import { parsePrometheusText } from "../src/telemetry/prometheus-text.ts";
import { detectServer, isSourceName, readServerSample } from "../src/telemetry/server-families.ts";
import { nowNs } from "../src/util/clock.ts";

const { values } = parseArgs({
  options: {
    engines: { type: "string", default: "8" },
    scrapes: { type: "string", default: "200" },
    reps: { type: "string", default: "5" },
  },
});
const engines = Number(values.engines);
const scrapes = Number(values.scrapes);
const reps = Number(values.reps);

// The real vLLM V1 exposition of test/fixtures, its engine-labelled series repeated for `engines` data-parallel
// engines, with the latency histograms vLLM serves (about 20 buckets each) filled in per engine.
const base = await readFile(join(await packageRoot(), "test/fixtures/prometheus/vllm.txt"), "utf8");
const lines = base.split("\n");
const out: string[] = [];
for (const line of lines) {
  if (!line.includes('engine="0"')) {
    out.push(line);
    continue;
  }
  for (let e = 0; e < engines; e++) out.push(line.replace('engine="0"', `engine="${e}"`));
}
const histos = [
  "time_to_first_token_seconds",
  "inter_token_latency_seconds",
  "e2e_request_latency_seconds",
  "request_queue_time_seconds",
  "request_prefill_time_seconds",
  "request_decode_time_seconds",
  "request_prompt_tokens",
  "request_generation_tokens",
  "iteration_tokens_total",
];
for (const h of histos) {
  out.push(`# HELP vllm:${h} Histogram of ${h}.`, `# TYPE vllm:${h} histogram`);
  for (let e = 0; e < engines; e++) {
    const labels = `engine="${e}",model_name="meta-llama/Llama-3.1-8B-Instruct"`;
    for (let b = 0; b < 20; b++)
      out.push(`vllm:${h}_bucket{${labels},le="${(0.001 * 2 ** b).toPrecision(3)}"} ${b * 17}.0`);
    out.push(
      `vllm:${h}_bucket{${labels},le="+Inf"} 400.0`,
      `vllm:${h}_count{${labels}} 400.0`,
      `vllm:${h}_sum{${labels}} 52.4`,
    );
  }
}
const text = `${out.join("\n")}\n`;

const perScrapeUs: number[] = [];
for (let r = 0; r < reps; r++) {
  const t0 = nowNs();
  for (let i = 0; i < scrapes; i++) {
    const e = parsePrometheusText(text, isSourceName);
    readServerSample(e, detectServer(e)!);
  }
  perScrapeUs.push((nowNs() - t0) / scrapes / 1000);
}
perScrapeUs.sort((a, b) => a - b);
const median = perScrapeUs[Math.floor(reps / 2)]!;
console.log(
  `exposition: ${(Buffer.byteLength(text) / 1024).toFixed(1)} KiB, ${out.length} lines (${engines} engines)\n` +
    `per scrape (parse + figures): median ${median.toFixed(0)} µs of ${reps} reps [${perScrapeUs.map((v) => v.toFixed(0)).join(", ")}]\n` +
    `share of the event loop at one scrape a second: ${(median / 1e4).toFixed(3)} %`,
);
