/**
 * The HTML report's telemetry: summary rows and over-time charts of the server's metrics (`--server_metrics`)
 * and the GPUs' (`--gpu_metrics`), drawn from the report JSON's timelines. Present only for runs that have them.
 */
import type { ReportJson } from "../report-schema.ts";
import type { ChartOption } from "./charts.ts";
import type { RunData } from "./run-data.ts";

type Row = [label: string, value: (r: ReportJson) => string];

const fmt = (v: number | null | undefined, digits = 2) =>
  v === null || v === undefined || !Number.isFinite(v) ? "—" : v.toFixed(digits);

export const TELEMETRY_ROWS: Row[] = [
  [
    "Server running / waiting requests (avg)",
    (r) => {
      const s = r.llm_bench.server_metrics;
      return s ? `${fmt(s.running?.average)} / ${fmt(s.waiting?.average)}` : "—";
    },
  ],
  [
    "Server KV cache usage avg / max (%)",
    (r) => {
      const k = r.llm_bench.server_metrics?.kv_cache_usage;
      return k ? `${fmt(k.average * 100)} / ${fmt(k.maximum * 100)}` : "—";
    },
  ],
  ["Server preemptions", (r) => fmt(r.llm_bench.server_metrics?.increases.preemptions, 0)],
  [
    "Server − client output tokens",
    (r) => fmt(r.llm_bench.server_metrics?.cross_check.generation_tokens?.server_minus_client, 0),
  ],
  ["GPU average power (W)", (r) => fmt(r.llm_bench.gpu_metrics?.avg_power_w)],
  [
    "GPU energy per output token (J/token)",
    (r) => fmt(r.llm_bench.gpu_metrics?.energy_per_output_token_j, 4),
  ],
  ["Output tokens per joule", (r) => fmt(r.llm_bench.gpu_metrics?.output_tokens_per_j, 4)],
];

export function hasTelemetry(runs: readonly RunData[]): boolean {
  return runs.some(
    (r) => r.report.llm_bench.server_metrics !== undefined || r.report.llm_bench.gpu_metrics !== undefined,
  );
}

const round = (v: number) => Number(v.toPrecision(6));

function lineChart(
  title: string,
  yName: string,
  series: Array<{ name: string; t: readonly number[]; v: ReadonlyArray<number | null> }>,
): ChartOption {
  const legend = series.length > 1;
  return {
    title: { text: title, left: "center", textStyle: { fontSize: 14 } },
    grid: { left: 70, right: 30, top: legend ? 70 : 40, bottom: 50 },
    ...(legend ? { legend: { top: 30 } } : {}),
    xAxis: {
      type: "value",
      name: "seconds from run start",
      nameLocation: "middle",
      nameGap: 30,
      scale: true,
    },
    yAxis: { type: "value", name: yName, nameLocation: "middle", nameGap: 50 },
    series: series.map((s) => ({
      type: "line",
      name: s.name,
      showSymbol: false,
      connectNulls: false,
      data: s.t.map((t, i) => [round(t), s.v[i] === null || s.v[i] === undefined ? null : round(s.v[i]!)]),
    })),
  };
}

/** One chart per figure the runs have: [id, option]. */
export function telemetryCharts(runs: readonly RunData[]): Array<[string, ChartOption]> {
  const out: Array<[string, ChartOption]> = [];
  const server = runs.filter((r) => r.report.llm_bench.server_metrics !== undefined);
  const sm = (r: RunData) => r.report.llm_bench.server_metrics!;
  const many = runs.length > 1;
  if (server.length > 0) {
    const reqs = server.flatMap((r) => [
      { name: `${many ? `${r.name}: ` : ""}running`, t: sm(r).timeline.t_s, v: sm(r).timeline.running },
      { name: `${many ? `${r.name}: ` : ""}waiting`, t: sm(r).timeline.t_s, v: sm(r).timeline.waiting },
    ]);
    if (reqs.some((s) => s.v.some((v) => v !== null))) {
      out.push(["server-requests", lineChart("Server: requests running and waiting", "requests", reqs)]);
    }
    const kv = server.map((r) => ({
      name: r.name,
      t: sm(r).timeline.t_s,
      v: sm(r).timeline.kv_cache_usage.map((v) => (v === null ? null : v * 100)),
    }));
    if (kv.some((s) => s.v.some((v) => v !== null))) {
      out.push(["server-kv", lineChart("Server: KV cache usage", "%", kv)]);
    }
  }
  const gpu = runs.filter((r) => r.report.llm_bench.gpu_metrics !== undefined);
  if (gpu.length > 0) {
    const per = (
      pick: (
        g: NonNullable<ReportJson["llm_bench"]["gpu_metrics"]>["gpus"][number],
      ) => ReadonlyArray<number | null>,
    ) =>
      gpu.flatMap((r) =>
        r.report.llm_bench.gpu_metrics!.gpus.map((g) => ({
          name: `${many ? `${r.name}: ` : ""}GPU ${g.index}`,
          t: g.timeline.t_s,
          v: pick(g),
        })),
      );
    out.push([
      "gpu-power",
      lineChart(
        "GPU power",
        "W",
        per((g) => g.timeline.power_w),
      ),
    ]);
    out.push([
      "gpu-util",
      lineChart(
        "GPU utilization",
        "%",
        per((g) => g.timeline.util_gpu_pct),
      ),
    ]);
  }
  return out;
}
