/**
 * Watches the load generator's own event loop. When timers fire late the client, not the engine, is the
 * bottleneck: sends happen after their scheduled time and first-token stamps are taken late, inflating TTFT.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { log } from "../util/log.ts";

export interface EventLoopLag {
  /** Milliseconds; the histogram's own statistics over the run. */
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** p99 above this counts as client saturation. */
  thresholdMs: number;
  saturated: boolean;
}

export const DEFAULT_LAG_THRESHOLD_MS = 50;

export interface LagMonitor {
  stop(warn?: boolean): EventLoopLag;
}

export function startLagMonitor(thresholdMs = DEFAULT_LAG_THRESHOLD_MS, resolutionMs = 10): LagMonitor {
  const h = monitorEventLoopDelay({ resolution: resolutionMs });
  h.enable();
  return {
    stop(warn = true): EventLoopLag {
      h.disable();
      // The histogram reports the whole delay including the sampling timer's own period; subtract it so an
      // idle loop reads ~0.
      const ms = (ns: number) =>
        Number.isFinite(ns) && h.count > 0 ? Math.max(0, ns / 1e6 - resolutionMs) : 0;
      const lag: EventLoopLag = {
        meanMs: ms(h.mean),
        p50Ms: ms(h.percentile(50)),
        p99Ms: ms(h.percentile(99)),
        maxMs: ms(h.max),
        thresholdMs,
        saturated: false,
      };
      lag.saturated = lag.p99Ms > thresholdMs;
      if (lag.saturated && warn) {
        log.warn(
          `The client's event loop lagged (p99 ${lag.p99Ms.toFixed(1)} ms > ${thresholdMs} ms, max ${lag.maxMs.toFixed(1)} ms): ` +
            "the load generator itself was a bottleneck; sends ran late and TTFT/latency include client delay.",
        );
      }
      return lag;
    },
  };
}
