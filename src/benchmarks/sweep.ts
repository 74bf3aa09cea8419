/**
 * `sweep`: the benchmark once per concurrency or request-rate value, then a table, one report JSON + request
 * log per point and an HTML page with the Pareto chart (total output tok/s against tok/s per user). With SLOs
 * on a rate sweep, a bounded bisection then looks for the highest rate whose attainment (share of all requests,
 * failures included, meeting every SLO) reaches the target.
 *
 * A backend whose engine is reusable across runs (its capability; the embedded engine) is loaded once and reused
 * by every point (a BenchmarkSession). Others (an HTTP server's client pool is sized to the concurrency) start
 * afresh per point.
 */
import { join } from "node:path";
import { backendPlugin } from "../engine/registry.ts";
import { BenchError } from "../errors.ts";
import { formatSlo, type SloSpec } from "../metrics/goodput.ts";
import { log } from "../util/log.ts";
import { checkOutputPaths, writingOutput } from "../util/output-paths.ts";
import {
  type BenchmarkOptions,
  type BenchmarkResult,
  type BenchmarkSession,
  runBenchmark,
} from "./pipeline.ts";

export type SweepAxis = "concurrency" | "request_rate";

export type SweepBase = Omit<
  BenchmarkOptions,
  "name" | "reportJson" | "requestLog" | "goodput" | "out" | "progress" | "requestRate"
> & { requestRate?: number | undefined };

export interface SweepOptions {
  base: SweepBase;
  axis: SweepAxis;
  values: readonly number[];
  slo?: SloSpec | undefined;
  /** Share of all requests that must meet every SLO for a point to pass (0..1]. */
  attainment: number;
  /** Extra bisection probes after the listed rates (rate sweeps with SLOs only). */
  maxProbes: number;
  outputDir: string;
  html?: string | undefined;
  /** Exit 0 even when requests failed; without it, the sweep ends in an error after everything is written. */
  allowFailures?: boolean | undefined;
  out: (text: string) => void;
  /** Injected in tests; runBenchmark otherwise. */
  run?: ((opts: BenchmarkOptions) => Promise<BenchmarkResult>) | undefined;
}

export interface SweepPoint {
  axis: SweepAxis;
  value: number;
  reportJson: string;
  requestThroughput: number;
  outputThroughput: number;
  perUserOutputThroughput: number;
  ttftP50Ms: number | undefined;
  ttftP99Ms: number | undefined;
  tpotP50Ms: number | undefined;
  tpotP99Ms: number | undefined;
  goodput: number | undefined;
  /** Share of all requests meeting every SLO; undefined without SLOs. */
  attainment: number | undefined;
  failed: number;
  /** GPU energy per output token (J/token), with GPU telemetry. */
  joulesPerToken?: number | undefined;
  /** Found by the SLO search rather than listed by the user. */
  probe: boolean;
}

export interface SweepResult {
  points: SweepPoint[];
  /** Highest passing rate found by the SLO search (rate sweeps with SLOs only). */
  maxRate?: { rate: number | undefined; probes: number; bracket: [number, number | undefined] } | undefined;
}

const MS = 1e-6;

function pointName(axis: SweepAxis, value: number): string {
  return `${axis === "concurrency" ? "concurrency" : "rate"}-${value}`;
}

export function toPoint(axis: SweepAxis, value: number, reportJson: string, r: BenchmarkResult): SweepPoint {
  const s = r.stats;
  const st = s.streaming;
  return {
    axis,
    value,
    reportJson,
    requestThroughput: s.requestThroughput,
    outputThroughput: s.outputThroughput,
    perUserOutputThroughput: s.perUserOutputThroughput,
    ttftP50Ms: st ? st.ttftNs.p50 * MS : undefined,
    ttftP99Ms: st ? st.ttftNs.p99 * MS : undefined,
    tpotP50Ms: st ? st.tpotNs.p50 * MS : undefined,
    tpotP99Ms: st ? st.tpotNs.p99 * MS : undefined,
    goodput: s.goodput?.goodput,
    attainment: s.goodput?.fraction,
    failed: s.numFailed,
    joulesPerToken: r.report.gpuMetrics?.energyPerOutputTokenJ ?? undefined,
    probe: false,
  };
}

/**
 * Bisection for the highest passing rate between the highest known pass and the lowest known fail (0 when no
 * rate passed), at most `maxProbes` probes, stopping once the bracket is within 5 % of its upper end.
 * When every known rate passes there is no upper bound to bisect against: the highest one is the answer.
 */
export async function searchMaxRate(
  known: ReadonlyMap<number, boolean>,
  probe: (rate: number) => Promise<boolean>,
  maxProbes: number,
): Promise<{ rate: number | undefined; probes: number; bracket: [number, number | undefined] }> {
  let lo = 0;
  let hi: number | undefined;
  for (const [rate, ok] of known) {
    if (ok) lo = Math.max(lo, rate);
  }
  for (const [rate, ok] of known) {
    if (!ok && rate > lo && (hi === undefined || rate < hi)) hi = rate;
  }
  let probes = 0;
  while (hi !== undefined && probes < maxProbes && hi - lo > 0.05 * hi) {
    const mid = Number(((lo + hi) / 2).toPrecision(4));
    if (mid <= lo || mid >= hi) break;
    probes++;
    if (await probe(mid)) lo = mid;
    else hi = mid;
  }
  return { rate: lo > 0 ? lo : undefined, probes, bracket: [lo, hi] };
}

const cell = (v: number | undefined, digits = 2) => (v === undefined ? "—" : v.toFixed(digits));

export function formatSweepTable(points: readonly SweepPoint[]): string {
  const axis = points[0]?.axis === "request_rate" ? "Rate (req/s)" : "Concurrency";
  const head = [
    axis,
    "Req/s",
    "Output tok/s",
    "Tok/s/user",
    "TTFT p50",
    "TTFT p99",
    "TPOT p50",
    "TPOT p99",
    "Goodput",
    "SLO met",
    "Failed",
  ];
  const rows = [...points]
    .sort((a, b) => a.value - b.value)
    .map((p) => [
      `${p.value}${p.probe ? "*" : ""}`,
      cell(p.requestThroughput, 3),
      cell(p.outputThroughput),
      cell(p.perUserOutputThroughput),
      cell(p.ttftP50Ms),
      cell(p.ttftP99Ms),
      cell(p.tpotP50Ms),
      cell(p.tpotP99Ms),
      cell(p.goodput, 3),
      p.attainment === undefined ? "—" : `${(p.attainment * 100).toFixed(1)}%`,
      String(p.failed),
    ]);
  // GPU energy per output token, only when GPU telemetry ran.
  if (points.some((p) => p.joulesPerToken !== undefined)) {
    head.push("J/tok");
    const byValue = [...points].sort((a, b) => a.value - b.value);
    for (let i = 0; i < rows.length; i++) rows[i]!.push(cell(byValue[i]!.joulesPerToken, 4));
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join("  ");
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  const note = points.some((p) => p.probe) ? "* found by the SLO search\n" : "";
  return `${line(head)}\n${rule}\n${rows.map(line).join("\n")}\n(latencies in ms)\n${note}`;
}

export async function runSweep(opts: SweepOptions): Promise<SweepResult> {
  // Every point writes into --output_dir, and the page goes to --html: both checked before the first point.
  await checkOutputPaths(
    [
      { flag: "--output_dir", path: opts.outputDir, kind: "dir" },
      { flag: "--html", path: opts.html },
    ],
    [
      { flag: "--dataset", path: opts.base.dataset },
      { flag: "--extra_llm_api_options", path: opts.base.extraLlmApiOptions },
    ],
  );
  const run = opts.run ?? runBenchmark;
  const points: SweepPoint[] = [];
  const session: BenchmarkSession | undefined = backendPlugin(opts.base.backend).capabilities
    .reusableAcrossRuns
    ? {}
    : undefined;
  const runOne = async (value: number, probe: boolean): Promise<SweepPoint> => {
    const name = pointName(opts.axis, value);
    const reportJson = join(opts.outputDir, `${name}.json`);
    log.info(`Sweep point ${opts.axis} = ${value}${probe ? " (SLO search)" : ""}`);
    const result = await run({
      ...opts.base,
      name: `sweep ${name}`,
      ...(opts.axis === "concurrency" ? { concurrency: value } : { requestRate: value }),
      reportJson,
      requestLog: join(opts.outputDir, `${name}.requests.jsonl`),
      goodput: opts.slo,
      // A failed request is a point's result (it lowers goodput), not a reason to stop the sweep: the sweep's exit
      // status says so once every point is written.
      allowFailures: true,
      session,
      out: () => {},
    });
    const p = { ...toPoint(opts.axis, value, reportJson, result), probe };
    points.push(p);
    return p;
  };
  const passes = (p: SweepPoint) => p.attainment !== undefined && p.attainment >= opts.attainment;

  let maxRate: SweepResult["maxRate"];
  try {
    for (const v of opts.values) {
      if (opts.base.signal?.aborted) break;
      await runOne(v, false);
    }
    if (opts.slo && opts.axis === "request_rate" && !opts.base.signal?.aborted) {
      const known = new Map(points.map((p) => [p.value, passes(p)]));
      maxRate = await searchMaxRate(known, async (rate) => passes(await runOne(rate, true)), opts.maxProbes);
    }
  } finally {
    await session?.started?.engine.stop();
  }

  opts.out(formatSweepTable(points));
  if (opts.slo) {
    const slo = formatSlo(opts.slo);
    const target = `${(opts.attainment * 100).toFixed(0)}% of requests within ${slo}`;
    if (maxRate) {
      opts.out(
        maxRate.rate === undefined
          ? `No probed rate met the SLOs (${target}).\n`
          : `Highest rate meeting the SLOs (${target}): ${maxRate.rate} req/s` +
              (maxRate.bracket[1] === undefined
                ? " (every rate tried passed: try higher rates)\n"
                : ` (fails at ${maxRate.bracket[1]} req/s; ${maxRate.probes} search probes)\n`),
      );
    } else {
      const ok = points.filter(passes).map((p) => p.value);
      opts.out(`Points meeting the SLOs (${target}): ${ok.length > 0 ? ok.join(", ") : "none"}\n`);
    }
  }
  if (opts.html) {
    const sorted = [...points].sort((a, b) => a.value - b.value);
    const html = opts.html;
    // Loaded on use: the chart library takes longer to import than the rest of the CLI together.
    const { writeHtmlReport } = await import("../report/html/write.ts");
    await writingOutput("--html", html, () =>
      writeHtmlReport(
        sorted.map((p) => p.reportJson),
        html,
        {
          title: `llm-bench sweep over ${opts.axis}: ${sorted.map((p) => p.value).join(", ")}`,
          pareto: sorted.map((p) => ({
            label: `${opts.axis === "concurrency" ? "c" : "r"}=${p.value}`,
            x: p.perUserOutputThroughput,
            y: p.outputThroughput,
          })),
        },
      ),
    );
    log.info(`Wrote ${opts.html}`);
  }
  const failed = points.filter((p) => p.failed > 0);
  if (failed.length > 0 && !opts.allowFailures && !opts.base.signal?.aborted) {
    const where = failed.map((p) => `${p.value}: ${p.failed}`).join(", ");
    throw new BenchError(
      `requests failed at ${failed.length} of ${points.length} sweep points (${opts.axis} ${where}); every point's ` +
        "report counts them by reason. Pass --allow_failures to exit 0 anyway.",
    );
  }
  return { points, maxRate };
}
