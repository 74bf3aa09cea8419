import { UsageError } from "../errors.ts";
import type { RequestRecord } from "./record.ts";
import { requestMetrics } from "./request-metrics.ts";

/**
 * Goodput: requests per second that met every given service-level objective (vLLM's `--goodput`, DistServe's
 * definition). Failed requests never meet an SLO, so they lower the fraction; the rate is over the same total
 * latency window as every other throughput. Formulas in docs/metrics.md.
 */
export interface SloSpec {
  /** Upper bounds in ms; an absent key is not checked. */
  ttftMs?: number | undefined;
  tpotMs?: number | undefined;
  e2elMs?: number | undefined;
}

export interface GoodputStatistics {
  slo: SloSpec;
  /** Successful requests meeting every SLO. */
  goodRequests: number;
  /** Every request of the run, failed ones included: the fraction's denominator. */
  totalRequests: number;
  /** goodRequests / total latency (req/s); 0 when the latency is 0. */
  goodput: number;
  /** goodRequests / totalRequests; 0 when there are no requests. */
  fraction: number;
}

const KEYS = { ttft: "ttftMs", tpot: "tpotMs", e2el: "e2elMs" } as const;
type SloName = keyof typeof KEYS;

/**
 * Parses `ttft:MS tpot:MS e2el:MS` (separate words, or one comma-separated word as `--slo` takes them).
 * `option` names the flag in errors.
 */
export function parseSlo(words: readonly string[], option = "--goodput"): SloSpec {
  const slo: SloSpec = {};
  const parts = words.flatMap((w) => w.split(",")).filter((p) => p.trim() !== "");
  if (parts.length === 0) throw new UsageError(`${option}: give at least one of ttft:MS, tpot:MS, e2el:MS`);
  for (const part of parts) {
    const m = /^\s*([a-z0-9_]+)\s*:\s*(.+?)\s*$/i.exec(part);
    const name = m?.[1]?.toLowerCase();
    if (!m || !name || !(name in KEYS)) {
      throw new UsageError(`${option}: '${part}' is not KEY:MS with KEY one of ttft, tpot, e2el`);
    }
    const ms = Number(m[2]);
    if (!Number.isFinite(ms) || ms <= 0) {
      throw new UsageError(`${option}: '${part}': the bound must be a positive number of milliseconds`);
    }
    const key = KEYS[name as SloName];
    if (slo[key] !== undefined) throw new UsageError(`${option}: '${name}' given twice`);
    slo[key] = ms;
  }
  return slo;
}

/** TTFT and TPOT only exist when tokens are streamed; an SLO on them would silently pass every request. */
export function checkSloStreaming(slo: SloSpec, streaming: boolean, option = "--goodput"): void {
  if (!streaming && (slo.ttftMs !== undefined || slo.tpotMs !== undefined)) {
    throw new UsageError(`${option}: ttft and tpot SLOs need --streaming (TTFT/TPOT are unknown without it)`);
  }
}

/** "ttft:200,tpot:50" — the spec back in the syntax the user typed. */
export function formatSlo(slo: SloSpec): string {
  const out: string[] = [];
  if (slo.ttftMs !== undefined) out.push(`ttft:${slo.ttftMs}`);
  if (slo.tpotMs !== undefined) out.push(`tpot:${slo.tpotMs}`);
  if (slo.e2elMs !== undefined) out.push(`e2el:${slo.e2elMs}`);
  return out.join(",");
}

const MS_NS = 1e6;

/** Whether one request succeeded and met every given bound (inclusive, as vLLM compares). */
export function meetsSlo(r: RequestRecord, slo: SloSpec): boolean {
  if (r.error !== undefined) return false;
  const m = requestMetrics(r);
  if (slo.ttftMs !== undefined && m.ttftNs > slo.ttftMs * MS_NS) return false;
  if (slo.tpotMs !== undefined && m.tpotNs > slo.tpotMs * MS_NS) return false;
  if (slo.e2elMs !== undefined && m.e2eNs > slo.e2elMs * MS_NS) return false;
  return true;
}

export function computeGoodput(
  records: readonly RequestRecord[],
  slo: SloSpec,
  totalLatencyNs: number,
): GoodputStatistics {
  let good = 0;
  for (const r of records) if (meetsSlo(r, slo)) good++;
  return {
    slo,
    goodRequests: good,
    totalRequests: records.length,
    goodput: totalLatencyNs > 0 ? (good * 1e9) / totalLatencyNs : 0,
    fraction: records.length > 0 ? good / records.length : 0,
  };
}
