/**
 * The numbers behind the HTML charts, as pure functions: histograms with bins shared across runs, and
 * time-binned output throughput and concurrency from the request log. Charts are aggregated here so an SVG
 * never carries one element per request (a 100k-point SVG is tens of MB).
 */
import type { RequestLogEntry } from "../request-log.ts";

export interface Histogram {
  /** Bin lower edges; the last bin includes its upper edge. */
  edges: number[];
  width: number;
  /** One count array per input series, aligned with `edges`. */
  counts: number[][];
}

/** Equal-width bins over the union of every series' range, so runs can be overlaid. */
export function sharedHistogram(series: readonly (readonly number[])[], bins = 30): Histogram {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const s of series) {
    for (const v of s) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (!Number.isFinite(lo)) return { edges: [], width: 0, counts: series.map(() => []) };
  // One value (or all equal): a single bin of width 1 around it keeps the chart readable.
  const n = hi > lo ? bins : 1;
  const width = hi > lo ? (hi - lo) / n : 1;
  const edges = Array.from({ length: n }, (_, i) => lo + i * width);
  const counts = series.map((s) => {
    const c = new Array<number>(n).fill(0);
    for (const v of s) c[Math.min(n - 1, Math.floor((v - lo) / width))]!++;
    return c;
  });
  return { edges, width, counts };
}

export interface TimeSeries {
  /** Bin start times in seconds from the run start. */
  t: number[];
  /** Output tokens per second in each bin. */
  outputTokS: number[];
  /** Time-averaged number of requests in flight (start..end) in each bin. */
  concurrency: number[];
}

const NS_PER_S = 1e9;

function overlap(a0: number, a1: number, b0: number, b1: number): number {
  return Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));
}

/**
 * Output throughput and concurrency over time in `bins` equal bins from the run start to the last end.
 * A request's first token lands at its first-token time (its end when unknown); the other n − 1 tokens are
 * spread evenly over first token..end, which is exact on average for the uniform decode steps of a batch.
 */
export function timeSeries(entries: readonly RequestLogEntry[], bins = 60): TimeSeries {
  let end = 0;
  for (const e of entries) if (e.error === null) end = Math.max(end, e.end_ns);
  if (end <= 0) return { t: [], outputTokS: [], concurrency: [] };
  const width = end / bins;
  const tokens = new Float64Array(bins);
  const inflight = new Float64Array(bins);
  const binOf = (t: number) => Math.min(bins - 1, Math.max(0, Math.floor(t / width)));
  for (const e of entries) {
    if (e.error !== null) continue;
    const first = e.first_token_ns ?? e.end_ns;
    if (e.output_tokens > 0) tokens[binOf(first)]! += 1;
    const rest = e.output_tokens - 1;
    const span = e.end_ns - first;
    for (let b = binOf(e.start_ns); b <= binOf(e.end_ns); b++) {
      const b0 = b * width;
      const b1 = b0 + width;
      inflight[b]! += overlap(e.start_ns, e.end_ns, b0, b1) / width;
      if (rest > 0) {
        tokens[b]! +=
          span > 0 ? (rest * overlap(first, e.end_ns, b0, b1)) / span : b === binOf(e.end_ns) ? rest : 0;
      }
    }
  }
  const perS = NS_PER_S / width;
  return {
    t: Array.from({ length: bins }, (_, i) => (i * width) / NS_PER_S),
    outputTokS: Array.from(tokens, (v) => v * perS),
    concurrency: Array.from(inflight),
  };
}

/** At most `max` entries, evenly spaced in start order, for the per-request timeline. */
export function sampleByStart(entries: readonly RequestLogEntry[], max: number): RequestLogEntry[] {
  const sorted = [...entries].sort((a, b) => a.start_ns - b.start_ns);
  if (sorted.length <= max) return sorted;
  const out: RequestLogEntry[] = [];
  for (let i = 0; i < max; i++) out.push(sorted[Math.floor((i * sorted.length) / max)]!);
  return out;
}

export interface ParetoPoint {
  label: string;
  /** Output tokens/s per user. */
  x: number;
  /** Total output tokens/s. */
  y: number;
}

/** Points no other point beats on both axes (higher is better on both), sorted by x. */
export function paretoFront(points: readonly ParetoPoint[]): ParetoPoint[] {
  const front = points.filter(
    (p) => !points.some((q) => q !== p && q.x >= p.x && q.y >= p.y && (q.x > p.x || q.y > p.y)),
  );
  return front.sort((a, b) => a.x - b.x);
}
