/**
 * `--server_metrics` figures: the server's gauges over the measured window, its counters' increase over the run,
 * and those increases set against the client's own totals (docs/metrics.md, "Server telemetry").
 */
import {
  COUNTER_FIELDS,
  SERVER_FIELDS,
  type ServerField,
  type ServerKind,
} from "../telemetry/server-families.ts";
import type { ServerScrapes } from "../telemetry/server-scraper.ts";
import { evenIndexes } from "../telemetry/timeline.ts";
import type { RequestRecord } from "./record.ts";

export const GAUGE_FIELDS = ["running", "waiting", "kv_cache_usage"] as const;
export type GaugeField = (typeof GAUGE_FIELDS)[number];
export type CounterField = Exclude<ServerField, GaugeField>;

/** Rows of a timeline in the report JSON, at most. */
export const MAX_TIMELINE_ROWS = 2000;

export interface GaugeStats {
  average: number;
  maximum: number;
  samples: number;
}

export interface CrossCheck {
  server: number;
  client: number;
  /** server − client. */
  difference: number;
}

export interface ServerMetricsReport {
  url: string;
  server: ServerKind | undefined;
  intervalS: number;
  scrapes: number;
  failedScrapes: number;
  skippedScrapes: number;
  firstError: string | undefined;
  /** Over the samples inside the measured window (all samples when none falls inside). */
  gauges: Partial<Record<GaugeField, GaugeStats>>;
  /** Increase of each counter from the first scrape (before the load) to the last (after it). */
  increases: Partial<Record<CounterField, number>>;
  generationTokens: CrossCheck | undefined;
  /** The client side is Σ server-reported prompt tokens when every request has one, else the dataset's ISL. */
  promptTokens: (CrossCheck & { clientSource: "server_usage" | "dataset" }) | undefined;
  requests: CrossCheck | undefined;
  /** Requests that failed: the server may have counted their tokens, the client totals do not. */
  failedRequests: number;
  /** Seconds from the run start (the request log's origin); one column per field, null where absent. */
  timeline: { t_s: number[] } & Record<ServerField, Array<number | null>>;
}

/** Prometheus' `increase`: the sum of the rises between consecutive samples; a drop is a restart from 0. */
export function counterIncrease(values: readonly (number | null)[]): number | undefined {
  let prev: number | undefined;
  let total = 0;
  let seen = 0;
  for (const v of values) {
    if (v === null) continue;
    seen++;
    if (prev !== undefined) total += v >= prev ? v - prev : v;
    prev = v;
  }
  return seen >= 2 ? total : undefined;
}

function gaugeStats(values: readonly (number | null)[]): GaugeStats | undefined {
  let sum = 0;
  let max = Number.NEGATIVE_INFINITY;
  let n = 0;
  for (const v of values) {
    if (v === null) continue;
    sum += v;
    if (v > max) max = v;
    n++;
  }
  return n > 0 ? { average: sum / n, maximum: max, samples: n } : undefined;
}

function check(server: number | undefined, client: number): CrossCheck | undefined {
  return server === undefined ? undefined : { server, client, difference: server - client };
}

/**
 * `originNs`: the run start of the request log; `windowNs`: the measured window [first start, last end] of the
 * successful requests (the throughput window).
 */
export function summarizeServerMetrics(
  s: ServerScrapes,
  records: readonly RequestRecord[],
  originNs: number,
  windowNs: [number, number] | undefined,
): ServerMetricsReport {
  const tl = s.timeline;
  const inWindow: number[] = [];
  if (windowNs)
    for (let i = 0; i < tl.length; i++)
      if (tl.t[i]! >= windowNs[0] && tl.t[i]! <= windowNs[1]) inWindow.push(i);
  const pick = inWindow.length > 0 ? inWindow : Array.from({ length: tl.length }, (_, i) => i);
  const gauges: Partial<Record<GaugeField, GaugeStats>> = {};
  for (const f of GAUGE_FIELDS) {
    const g = gaugeStats(pick.map((i) => tl.columns[f][i]!));
    if (g) gauges[f] = g;
  }
  const increases: Partial<Record<CounterField, number>> = {};
  for (const f of SERVER_FIELDS) {
    if (!COUNTER_FIELDS.has(f)) continue;
    const inc = counterIncrease(tl.columns[f]);
    if (inc !== undefined) increases[f as CounterField] = inc;
  }
  const ok = records.filter((r) => r.error === undefined);
  const output = ok.reduce((a, r) => a + r.numOutputTokens, 0);
  const allServerInput = ok.length > 0 && ok.every((r) => r.serverInputTokens !== undefined);
  const input = ok.reduce((a, r) => a + (allServerInput ? r.serverInputTokens! : r.numInputTokens), 0);
  const prompt = check(increases.prompt_tokens_total, input);
  const rows = evenIndexes(tl.length, MAX_TIMELINE_ROWS);
  const timeline = {
    t_s: rows.map((i) => round((tl.t[i]! - originNs) / 1e9, 6)),
  } as ServerMetricsReport["timeline"];
  for (const f of SERVER_FIELDS) timeline[f] = rows.map((i) => tl.columns[f][i]!);
  return {
    url: s.url,
    server: s.server,
    intervalS: s.intervalMs / 1000,
    scrapes: s.ok,
    failedScrapes: s.failed,
    skippedScrapes: s.skipped,
    firstError: s.firstError,
    gauges,
    increases,
    generationTokens: check(increases.generation_tokens_total, output),
    promptTokens: prompt
      ? { ...prompt, clientSource: allServerInput ? "server_usage" : "dataset" }
      : undefined,
    requests: check(increases.requests_total, ok.length),
    failedRequests: records.length - ok.length,
    timeline,
  };
}

/** The warning to log when the server's generation counter disagrees with the client's output tokens. */
export function serverMetricsWarning(r: ServerMetricsReport): string | undefined {
  const g = r.generationTokens;
  if (!g || g.difference === 0) return undefined;
  return (
    `The server's generation-token counter rose by ${g.server} during the run where the client counted ` +
    `${g.client} output tokens (${g.difference > 0 ? "+" : ""}${g.difference})` +
    (r.failedRequests > 0 ? `; ${r.failedRequests} failed request(s) may account for part of it.` : ".")
  );
}

function round(v: number, digits: number): number {
  return Number(v.toFixed(digits));
}
