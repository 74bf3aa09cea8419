/**
 * Server-side SVG charts with ECharts' SSR renderer: no script in the page, the same bytes for the same data.
 * Each builder returns an ECharts option (pure, testable); `renderSvg` turns one into an SVG string.
 */
import * as echarts from "echarts";
import type { RequestLogEntry } from "../request-log.ts";
import { type ParetoPoint, paretoFront, sampleByStart, sharedHistogram, timeSeries } from "./series.ts";

export type ChartOption = Record<string, unknown>;

export interface ChartSize {
  width: number;
  height: number;
}

export const PALETTE = [
  "#5470c6",
  "#ee6666",
  "#91cc75",
  "#fac858",
  "#73c0de",
  "#3ba272",
  "#fc8452",
  "#9a60b4",
];

/** Renders and always disposes: an undisposed SSR chart keeps Node alive. */
export function renderSvg(option: ChartOption, size: ChartSize): string {
  const chart = echarts.init(null, null, { renderer: "svg", ssr: true, ...size });
  try {
    chart.setOption({ animation: false, color: PALETTE, ...option });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

const round = (v: number, digits = 3) => Number(v.toPrecision(digits + 3));

function base(title: string, xName: string, yName: string, legend: boolean): ChartOption {
  return {
    title: { text: title, left: "center", textStyle: { fontSize: 14 } },
    grid: { left: 70, right: 30, top: legend ? 70 : 40, bottom: 50 },
    ...(legend ? { legend: { top: 30 } } : {}),
    xAxis: { type: "value", name: xName, nameLocation: "middle", nameGap: 30, scale: true },
    yAxis: { type: "value", name: yName, nameLocation: "middle", nameGap: 50 },
  };
}

export interface NamedValues {
  name: string;
  values: number[];
}

/** Overlaid histograms (one bar series per run) on bins shared by every run. */
export function histogramOption(title: string, unit: string, series: readonly NamedValues[]): ChartOption {
  const h = sharedHistogram(series.map((s) => s.values));
  const legend = series.length > 1;
  return {
    ...base(title, unit, "requests", legend),
    xAxis: {
      type: "category",
      name: unit,
      nameLocation: "middle",
      nameGap: 30,
      data: h.edges.map((e) => String(round(e + h.width / 2))),
    },
    series: series.map((s, i) => ({
      type: "bar",
      name: s.name,
      data: h.counts[i],
      barGap: "0%",
      ...(legend ? { itemStyle: { opacity: 0.75 } } : {}),
    })),
  };
}

export interface NamedEntries {
  name: string;
  entries: readonly RequestLogEntry[];
}

/** Output tokens/s and requests in flight over time, one line per run each. */
export function overTimeOptions(runs: readonly NamedEntries[]): {
  throughput: ChartOption;
  concurrency: ChartOption;
} {
  const ts = runs.map((r) => ({ name: r.name, s: timeSeries(r.entries) }));
  const legend = runs.length > 1;
  const line = (pick: (s: ReturnType<typeof timeSeries>) => number[]) =>
    ts.map(({ name, s }) => ({
      type: "line",
      name,
      step: "start",
      showSymbol: false,
      data: s.t.map((t, i) => [round(t), round(pick(s)[i]!)]),
    }));
  return {
    throughput: {
      ...base("Output throughput over time", "seconds from run start", "output tokens/s", legend),
      series: line((s) => s.outputTokS),
    },
    concurrency: {
      ...base("Requests in flight over time", "seconds from run start", "requests", legend),
      series: line((s) => s.concurrency),
    },
  };
}

/**
 * Per-request timeline: one horizontal bar per request (sampled to `max`), stacked as an invisible offset to
 * the scheduled time, then queueing, time to first token and decode.
 */
export function timelineOption(title: string, entries: readonly RequestLogEntry[], max = 150): ChartOption {
  const sample = sampleByStart(entries, max);
  const s = (ns: number) => round(ns / 1e9, 4);
  const offset: number[] = [];
  const queue: number[] = [];
  const ttft: number[] = [];
  const decode: number[] = [];
  for (const e of sample) {
    const first = e.first_token_ns ?? e.start_ns;
    offset.push(s(e.scheduled_ns));
    queue.push(s(e.start_ns - e.scheduled_ns));
    ttft.push(s(first - e.start_ns));
    decode.push(s(e.end_ns - first));
  }
  const bar = (name: string, data: number[], color?: string) => ({
    type: "bar",
    name,
    stack: "t",
    data,
    barCategoryGap: "10%",
    ...(color ? { itemStyle: { color } } : {}),
  });
  const streaming = sample.some((e) => e.first_token_ns !== null);
  return {
    title: { text: title, left: "center", textStyle: { fontSize: 14 } },
    legend: { top: 30, data: ["queueing", ...(streaming ? ["time to first token"] : []), "decode"] },
    grid: { left: 70, right: 30, top: 70, bottom: 50 },
    xAxis: { type: "value", name: "seconds from run start", nameLocation: "middle", nameGap: 30 },
    yAxis: {
      type: "category",
      name: `request (by start, ${sample.length} of ${entries.length})`,
      nameLocation: "middle",
      nameGap: 50,
      inverse: true,
      data: sample.map((e) => e.id),
      axisLabel: { show: sample.length <= 40 },
    },
    series: [
      { ...bar("offset", offset), itemStyle: { color: "transparent" }, silent: true },
      bar("queueing", queue, "#fac858"),
      ...(streaming ? [bar("time to first token", ttft, "#ee6666")] : []),
      bar("decode", decode, "#5470c6"),
    ],
  };
}

/**
 * Sweep trade-off: total output tokens/s against output tokens/s per user, every point labelled with its
 * sweep value, the Pareto front joined by a line.
 */
export function paretoOption(
  points: readonly ParetoPoint[],
  title = "Throughput vs per-user speed",
): ChartOption {
  const front = paretoFront(points);
  return {
    ...base(title, "output tokens/s per user", "total output tokens/s", true),
    series: [
      {
        type: "scatter",
        name: "runs",
        symbolSize: 10,
        data: points.map((p) => ({ name: p.label, value: [round(p.x), round(p.y)] })),
        label: { show: true, position: "top", formatter: "{b}" },
      },
      {
        type: "line",
        name: "Pareto front",
        data: front.map((p) => [round(p.x), round(p.y)]),
        lineStyle: { type: "dashed" },
        showSymbol: false,
      },
    ],
  };
}
