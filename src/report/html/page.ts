/**
 * The self-contained HTML report: one file, no script, no network. A summary table with one column per run,
 * then SVG charts (ECharts SSR): TTFT / TPOT / E2E distributions, output throughput and requests in flight
 * over time, a per-request timeline per run, and for sweeps the Pareto chart.
 */
import type { ReportJson } from "../report-schema.ts";
import {
  type ChartOption,
  type ChartSize,
  histogramOption,
  overTimeOptions,
  paretoOption,
  renderSvg,
  timelineOption,
} from "./charts.ts";
import type { RunData } from "./run-data.ts";
import type { ParetoPoint } from "./series.ts";
import { hasTelemetry, TELEMETRY_ROWS, telemetryCharts } from "./telemetry-charts.ts";

export interface HtmlReportInput {
  title: string;
  runs: readonly RunData[];
  /** Sweep points for the Pareto chart (output tok/s per user vs total output tok/s). */
  pareto?: readonly ParetoPoint[] | undefined;
  /** Extra lines shown under the title (e.g. the sweep's command or SLO search result). */
  notes?: readonly string[] | undefined;
  /** Generation time; fixed in tests so the page is byte-stable. */
  generatedAt?: string | undefined;
}

const WIDE: ChartSize = { width: 900, height: 360 };
const HALF: ChartSize = { width: 600, height: 340 };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const fmt = (v: number | null | undefined, digits = 2) =>
  v === null || v === undefined || !Number.isFinite(v) ? "—" : v.toFixed(digits);

type Row = [label: string, value: (r: ReportJson) => string];

/** The device that ran, from the JSON's `machine` (null in reports written before llm-bench recorded it). */
function deviceCell(m: ReportJson["machine"]): string {
  if (!m) return "not recorded";
  if (!m.compute) return m.name;
  const c = m.compute;
  if (c.backend === "remote") return `remote server; client on ${m.host?.cpu ?? m.name}`;
  const where =
    c.backend === "cpu"
      ? `cpu (${m.host?.cpu ?? m.name})`
      : `${c.backend} (${c.devices.join(", ") || m.name})`;
  const layers = c.gpu_layers ? `, ${c.gpu_layers.offloaded}/${c.gpu_layers.total} layers on GPU` : "";
  const threads = c.threads !== null ? `, ${c.threads} threads` : "";
  return `${where}${layers}${threads}`;
}

const ROWS: Row[] = [
  ["Model", (r) => escapeHtml(r.engine.model)],
  ["Backend / quantization", (r) => escapeHtml(`${r.engine.backend} / ${r.engine.quantization}`)],
  ["Device", (r) => escapeHtml(deviceCell(r.machine))],
  ["Streaming", (r) => (r.llm_bench.streaming ? "yes" : "no")],
  [
    "Requests (succeeded / failed)",
    (r) => `${r.request_info.num_requests} / ${r.llm_bench.failures.num_failed}`,
  ],
  [
    "Average input / output length (tokens)",
    (r) => `${fmt(r.request_info.avg_input_length)} / ${fmt(r.request_info.avg_output_length)}`,
  ],
  ["Request throughput (req/s)", (r) => fmt(r.performance.request_throughput_req_s, 4)],
  ["Total output throughput (tok/s)", (r) => fmt(r.performance.system_output_throughput_tok_s)],
  ["Total token throughput (tok/s)", (r) => fmt(r.performance.system_total_throughput_tok_s)],
  ["Per-user output throughput [w/ ctx] (tok/s)", (r) => fmt(r.performance.output_throughput_per_user_tok_s)],
  ["Average requests in flight", (r) => fmt(r.request_info.avg_num_concurrent_requests)],
  ["Total latency (ms)", (r) => fmt(r.performance.total_latency_ms)],
  [
    "Request latency avg / p50 / p99 (ms)",
    (r) => {
      const p = r.performance.request_latency_percentiles_ms;
      return `${fmt(p.average)} / ${fmt(p.p50)} / ${fmt(p.p99)}`;
    },
  ],
  [
    "TTFT avg / p50 / p99 (ms)",
    (r) => {
      const p = r.streaming_metrics?.ttft_percentiles;
      return p ? `${fmt(p.average)} / ${fmt(p.p50)} / ${fmt(p.p99)}` : "— (not streamed)";
    },
  ],
  [
    "TPOT avg / p50 / p99 (ms)",
    (r) => {
      const p = r.streaming_metrics?.tpot_percentiles;
      return p ? `${fmt(p.average)} / ${fmt(p.p50)} / ${fmt(p.p99)}` : "— (not streamed)";
    },
  ],
  ["Average queueing delay (ms)", (r) => fmt(r.llm_bench.queueing.queue_time_percentiles_ms.average)],
  [
    "Goodput (req/s) [met / all]",
    (r) => {
      const g = r.llm_bench.goodput;
      return g ? `${fmt(g.goodput_req_s, 4)} [${g.good_requests} / ${g.total_requests}]` : "—";
    },
  ],
  ["Dataset", (r) => escapeHtml(r.dataset.dataset_path)],
];

function summaryTable(runs: readonly RunData[]): string {
  const head = runs.map((r) => `<th>${escapeHtml(r.name)}</th>`).join("");
  // Telemetry rows only when some run has telemetry: other pages keep their table.
  const rows = hasTelemetry(runs) ? [...ROWS.slice(0, -1), ...TELEMETRY_ROWS, ROWS.at(-1)!] : ROWS;
  const body = rows
    .map(
      ([label, value]) =>
        `<tr><th scope="row">${label}</th>${runs.map((r) => `<td>${value(r.report)}</td>`).join("")}</tr>`,
    )
    .join("\n");
  return `<table class="summary"><thead><tr><th></th>${head}</tr></thead>\n<tbody>\n${body}\n</tbody></table>`;
}

function figure(id: string, option: ChartOption, size: ChartSize): string {
  return `<figure class="chart" data-chart="${id}">${renderSvg(option, size)}</figure>`;
}

const NS_MS = 1e-6;

function distributions(runs: readonly RunData[]): string[] {
  const withLog = runs.filter((r) => r.requests !== undefined);
  const ok = (r: RunData) => r.requests!.filter((e) => e.error === null);
  const pick = (f: (e: NonNullable<RunData["requests"]>[number]) => number | null) =>
    withLog.map((r) => ({
      name: r.name,
      values: ok(r)
        .map(f)
        .filter((v): v is number => v !== null)
        .map((v) => v * NS_MS),
    }));
  const out: string[] = [];
  const ttft = pick((e) => e.ttft_ns);
  const tpot = pick((e) => e.tpot_ns);
  if (ttft.some((s) => s.values.length > 0)) {
    out.push(figure("ttft", histogramOption("Time to first token (TTFT)", "ms", ttft), HALF));
  }
  if (tpot.some((s) => s.values.length > 0)) {
    out.push(
      figure(
        "tpot",
        histogramOption("Time per output token (TPOT = per-request mean ITL)", "ms", tpot),
        HALF,
      ),
    );
  }
  out.push(
    figure(
      "e2e",
      histogramOption(
        "End-to-end latency",
        "ms",
        pick((e) => e.e2e_ns),
      ),
      HALF,
    ),
  );
  return out;
}

export function buildHtmlReport(input: HtmlReportInput): string {
  const { runs } = input;
  const sections: string[] = [];
  sections.push(`<h2>Summary</h2>\n${summaryTable(runs)}`);
  if (input.pareto && input.pareto.length > 0) {
    sections.push(
      `<h2>Sweep: throughput vs per-user speed</h2>\n${figure("pareto", paretoOption(input.pareto), WIDE)}`,
    );
  }
  const withLog = runs.filter((r) => r.requests !== undefined);
  if (withLog.length > 0) {
    sections.push(`<h2>Distributions</h2>\n<div class="grid">${distributions(runs).join("\n")}</div>`);
    const t = overTimeOptions(withLog.map((r) => ({ name: r.name, entries: r.requests! })));
    sections.push(
      `<h2>Over time</h2>\n<div class="grid">${figure("throughput", t.throughput, HALF)}\n` +
        `${figure("concurrency", t.concurrency, HALF)}</div>`,
    );
    sections.push(
      `<h2>Per-request timeline</h2>\n` +
        withLog
          .map((r) =>
            figure("timeline", timelineOption(`Requests: ${r.name}`, r.requests!), {
              width: 900,
              height: 420,
            }),
          )
          .join("\n"),
    );
  }
  const tele = telemetryCharts(runs);
  if (tele.length > 0) {
    sections.push(
      `<h2>Server and GPU telemetry</h2>\n<div class="grid">${tele.map(([id, o]) => figure(id, o, HALF)).join("\n")}</div>`,
    );
  }
  const missing = runs.filter((r) => r.requests === undefined).map((r) => escapeHtml(r.name));
  const notes = [...(input.notes ?? []).map(escapeHtml)];
  if (missing.length > 0) {
    notes.push(
      `No request log for ${missing.join(", ")}: per-request charts need the run's --request_log next to its JSON.`,
    );
  }
  const generated = input.generatedAt ?? new Date().toISOString();
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(input.title)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; border-bottom: 1px solid #ddd; }
table.summary { border-collapse: collapse; } table.summary th, table.summary td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; }
table.summary th[scope=row] { text-align: left; font-weight: normal; color: #555; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; } figure.chart { margin: 0; }
.notes { color: #666; }
</style>
</head>
<body>
<h1>${escapeHtml(input.title)}</h1>
<p class="notes">Generated by llm-bench at ${escapeHtml(generated)} from ${runs.map((r) => escapeHtml(r.path)).join(", ")}.</p>
${notes.map((n) => `<p class="notes">${n}</p>`).join("\n")}
${sections.join("\n")}
</body>
</html>
`;
}
