/**
 * The server's and the GPU's own telemetry around the measured load (`--server_metrics`, `--gpu_metrics`):
 * started after the warmup, with a first sample before the first request, and stopped after the last one
 * finished, with a sample after it. Neither may disturb the load: both run beside it, bounded, and a failure of
 * either is reported, never fatal once the run has started.
 */

import type { ServerRef } from "../engine/backend.ts";
import { cudaVisibleIds } from "../engine/machine.ts";
import type { Engine } from "../engine/types.ts";
import { UsageError } from "../errors.ts";
import { type GpuMetricsReport, summarizeGpuMetrics } from "../metrics/gpu-telemetry.ts";
import type { RequestRecord } from "../metrics/record.ts";
import {
  type ServerMetricsReport,
  serverMetricsWarning,
  summarizeServerMetrics,
} from "../metrics/server-telemetry.ts";
import { GpuSampler, type GpuSamples, probeNvidiaSmi } from "../telemetry/nvidia-smi.ts";
import { ServerMetricsScraper, type ServerScrapes } from "../telemetry/server-scraper.ts";
import { log } from "../util/log.ts";

export interface TelemetryOptions {
  /** `--server_metrics [URL]`: the URL (undefined: the openai backend's `<base_url>/metrics`) and the interval. */
  serverMetrics?: { url?: string | undefined; intervalS: number } | undefined;
  /**
   * `--gpu_metrics [ids]`: true samples every GPU, a string is nvidia-smi's `-i` list, false turns it off, and
   * undefined starts it by itself when the engine runs on CUDA here and nvidia-smi exists.
   */
  gpuMetrics?: boolean | string | undefined;
  /** The nvidia-smi executable (tests); default `nvidia-smi` on PATH. */
  nvidiaSmi?: string | undefined;
}

/** The scrape target: the explicit URL, else `<root>/metrics` of the backend's server (openai: `/v1` dropped). */
export function serverMetricsTarget(
  opts: NonNullable<TelemetryOptions["serverMetrics"]>,
  server: ServerRef | undefined,
): { url: string; headers: Record<string, string> } {
  let url: URL;
  const raw = opts.url ?? (server ? `${server.root}/metrics` : undefined);
  if (raw === undefined) {
    throw new UsageError(
      "--server_metrics needs a URL unless --backend openai gives the server (--base_url)",
    );
  }
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--server_metrics '${raw}' is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`--server_metrics '${raw}' must be http:// or https://`);
  }
  // The benchmarked server's credentials go to that server only (llama-server guards /metrics with its key).
  const headers: Record<string, string> = {};
  if (server && new URL(server.root).origin === url.origin) Object.assign(headers, server.headers);
  return { url: url.href, headers };
}

/** Checks the options before anything is loaded: a bad URL, or --gpu_metrics without nvidia-smi, stops here. */
export async function checkTelemetry(
  opts: TelemetryOptions | undefined,
  server: ServerRef | undefined,
): Promise<void> {
  if (opts?.serverMetrics) serverMetricsTarget(opts.serverMetrics, server);
  const g = opts?.gpuMetrics;
  if (g === true || typeof g === "string") {
    await probeNvidiaSmi({ gpus: typeof g === "string" ? g : undefined, bin: opts?.nvidiaSmi });
  }
}

/** CUDA_VISIBLE_DEVICES as nvidia-smi's `-i` list (indexes or UUIDs, up to the first empty entry), else undefined. */
export function visibleGpuList(cudaVisible: string | undefined): string | undefined {
  const ids = cudaVisibleIds(cudaVisible);
  return ids && ids.length > 0 ? ids.join(",") : undefined;
}

export interface CollectedTelemetry {
  server?: ServerScrapes | undefined;
  gpu?: GpuSamples | undefined;
}

export class RunTelemetry {
  private constructor(
    private readonly scraper: ServerMetricsScraper | undefined,
    private readonly sampler: GpuSampler | undefined,
  ) {}

  static async start(
    opts: TelemetryOptions | undefined,
    engine: Engine,
    server: ServerRef | undefined,
  ): Promise<RunTelemetry> {
    let scraper: ServerMetricsScraper | undefined;
    let sampler: GpuSampler | undefined;
    const sm = opts?.serverMetrics;
    if (sm) {
      const target = serverMetricsTarget(sm, server);
      // The server's certificate is checked as the requests check it (--ca_cert, --insecure).
      scraper = new ServerMetricsScraper({ ...target, intervalMs: sm.intervalS * 1000, tls: server?.tls });
      log.info(`Server metrics: scraping ${target.url} every ${sm.intervalS} s.`);
    }
    const g = opts?.gpuMetrics;
    const explicit = g === true || typeof g === "string";
    const auto = g === undefined && engine.device === "cuda";
    if (explicit || auto) {
      try {
        sampler = await GpuSampler.start({
          // Without an explicit list, the GPUs this process can use: nvidia-smi ignores CUDA_VISIBLE_DEVICES.
          gpus: typeof g === "string" ? g : visibleGpuList(process.env.CUDA_VISIBLE_DEVICES),
          bin: opts?.nvidiaSmi,
        });
      } catch (err) {
        if (explicit) throw err;
        log.info(`GPU telemetry off: the engine runs on CUDA but ${(err as Error).message}.`);
      }
    }
    try {
      await Promise.all([scraper?.start(), sampler?.firstSample()]);
    } catch (err) {
      scraper?.abort();
      await sampler?.stop();
      throw err;
    }
    return new RunTelemetry(scraper, sampler);
  }

  get active(): boolean {
    return this.scraper !== undefined || this.sampler !== undefined;
  }

  /** After the load: a last scrape and a GPU sample past the last request's end, then everything stopped. */
  async stop(lastEndNs: number | undefined): Promise<CollectedTelemetry> {
    const [server, gpu] = await Promise.all([
      this.scraper?.stop(),
      (async () => {
        if (!this.sampler) return undefined;
        if (lastEndNs !== undefined) await this.sampler.sampleAfter(lastEndNs);
        return this.sampler.stop();
      })(),
    ]);
    return { server, gpu };
  }

  /** The run failed: everything stopped, nothing kept. */
  async abort(): Promise<void> {
    this.scraper?.abort();
    await this.sampler?.stop();
  }
}

export interface TelemetryReports {
  serverMetrics?: ServerMetricsReport | undefined;
  gpuMetrics?: GpuMetricsReport | undefined;
}

/** The report sections from what was collected, with their warnings logged. */
export function telemetryReports(c: CollectedTelemetry, records: readonly RequestRecord[]): TelemetryReports {
  const out: TelemetryReports = {};
  if (!c.server && !c.gpu) return out;
  let origin = Number.POSITIVE_INFINITY;
  let start = Number.POSITIVE_INFINITY;
  let end = Number.NEGATIVE_INFINITY;
  let outputTokens = 0;
  for (const r of records) {
    origin = Math.min(origin, r.scheduledNs);
    if (r.error !== undefined) continue;
    start = Math.min(start, r.startNs);
    end = Math.max(end, r.endNs);
    outputTokens += r.numOutputTokens;
  }
  const window: [number, number] | undefined = end > start ? [start, end] : undefined;
  if (c.server) {
    const t0 = Number.isFinite(origin) ? origin : (c.server.timeline.t[0] ?? 0);
    out.serverMetrics = summarizeServerMetrics(c.server, records, t0, window);
    const w = serverMetricsWarning(out.serverMetrics);
    if (w) log.warn(w);
  }
  if (c.gpu) {
    const first = c.gpu.gpus[0]?.timeline.t[0] ?? 0;
    const t0 = Number.isFinite(origin) ? origin : first;
    out.gpuMetrics = summarizeGpuMetrics(c.gpu, window ?? [first, first], outputTokens, t0);
    const low = out.gpuMetrics.gpus.filter((g) => g.coverage < 0.9);
    if (window && low.length > 0) {
      log.warn(
        `GPU telemetry covers only ${(Math.min(...low.map((g) => g.coverage)) * 100).toFixed(0)}% of the measured ` +
          "window: power outside the samples is held at the nearest sample's value.",
      );
    }
  }
  return out;
}
