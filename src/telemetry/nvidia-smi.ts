/**
 * GPU telemetry from `nvidia-smi`: one long-running child (`--query-gpu=... -lms 250`) whose CSV lines give each
 * GPU's power, utilization, memory and clocks four times a second. Each line carries nvidia-smi's own timestamp,
 * so lines that reach us late (pipe buffering) keep their real time. Energy is integrated at the full sample rate
 * as each line comes (trapezoids between consecutive samples), so thinning the stored timeline never changes it.
 * The exact command lines are in docs/metrics.md ("GPU telemetry and energy").
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { UnsupportedError } from "../errors.ts";
import { nowNs } from "../util/clock.ts";
import { log } from "../util/log.ts";
import { BoundedTimeline } from "./timeline.ts";

export const GPU_SAMPLE_INTERVAL_MS = 250;
/** Instantaneous board power (drivers ≥ 530); older drivers have only `power.draw` (a 1 s average on Ampere+). */
export const POWER_FIELDS = ["power.draw.instant", "power.draw"] as const;
export type PowerField = (typeof POWER_FIELDS)[number];

export const GPU_KEYS = [
  "power_w",
  "util_gpu_pct",
  "util_mem_pct",
  "memory_used_mib",
  "memory_total_mib",
  "sm_clock_mhz",
  "mem_clock_mhz",
  /** Energy since the first sample of this GPU (J), integrated at the full sample rate. */
  "energy_j",
] as const;
export type GpuKey = (typeof GPU_KEYS)[number];

export interface GpuInfo {
  index: number;
  name: string;
  uuid: string;
}

export interface GpuSeries {
  info: GpuInfo;
  timeline: BoundedTimeline<GpuKey>;
  /** Samples whose power was not a number ([N/A]): the energy holds the neighbouring value over them. */
  missingPower: number;
}

export interface GpuSamples {
  /** The sampling command line, as run. */
  command: string;
  powerField: PowerField;
  intervalMs: number;
  gpus: GpuSeries[];
  /** Lines that did not parse. */
  badLines: number;
  /** Set when nvidia-smi exited before the run ended (its status and the end of its stderr). */
  exitedEarly: string | undefined;
}

export interface SamplerOptions {
  /** `-i` value: GPU indexes or UUIDs, comma-separated; all GPUs when undefined. */
  gpus?: string | undefined;
  /** The executable; default `nvidia-smi` on PATH. */
  bin?: string | undefined;
  intervalMs?: number | undefined;
  maxRows?: number | undefined;
}

const QUERY_TAIL = [
  "utilization.gpu",
  "utilization.memory",
  "memory.used",
  "memory.total",
  "clocks.sm",
  "clocks.mem",
] as const;
const MAX_LINE = 4096;
const STDERR_KEEP = 2048;

/** The arguments of the long-running sampler. */
export function samplerArgs(powerField: PowerField, intervalMs: number, gpus: string | undefined): string[] {
  return [
    `--query-gpu=timestamp,index,${powerField},${QUERY_TAIL.join(",")}`,
    "--format=csv,noheader,nounits",
    "-lms",
    String(intervalMs),
    ...(gpus !== undefined ? ["-i", gpus] : []),
  ];
}

/** The one-shot query that checks the fields and lists the GPUs. */
export function probeArgs(powerField: PowerField, gpus: string | undefined): string[] {
  return [
    `--query-gpu=index,name,uuid,${powerField}`,
    "--format=csv,noheader,nounits",
    ...(gpus !== undefined ? ["-i", gpus] : []),
  ];
}

function run(
  bin: string,
  args: string[],
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(bin, args, { timeout: 15_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const code = err ? ((err as NodeJS.ErrnoException).code ?? 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** A CSV cell as a number; nvidia-smi's `[N/A]` / `[Not Supported]` and anything else non-numeric is null. */
export function cell(raw: string | undefined): number | null {
  if (raw === undefined) return null;
  const t = raw.trim();
  if (t.length === 0 || t.startsWith("[") || t === "N/A") return null;
  const v = Number(t);
  return Number.isFinite(v) ? v : null;
}

/** nvidia-smi's `YYYY/MM/DD HH:MM:SS.mmm` (local time) in ms since the epoch, or undefined. */
export function parseTimestamp(raw: string): number | undefined {
  const m = /^\s*(\d{4})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?\s*$/.exec(raw);
  if (!m) return undefined;
  const ms = m[7] ? Number(m[7].padEnd(3, "0")) : 0;
  const d = new Date(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, ms);
  const t = d.getTime();
  return Number.isFinite(t) ? t : undefined;
}

/**
 * Checks that nvidia-smi runs and knows the fields, and lists the GPUs: `power.draw.instant` first, then
 * `power.draw` for older drivers. Throws UnsupportedError when nvidia-smi is missing or fails.
 */
export async function probeNvidiaSmi(
  opts: SamplerOptions = {},
): Promise<{ powerField: PowerField; gpus: GpuInfo[] }> {
  const bin = opts.bin ?? "nvidia-smi";
  let last = "";
  for (const powerField of POWER_FIELDS) {
    const r = await run(bin, probeArgs(powerField, opts.gpus));
    if (r.code === "ENOENT")
      throw new UnsupportedError(`GPU telemetry needs nvidia-smi, which is not on PATH`);
    if (r.code === 0) {
      const gpus: GpuInfo[] = [];
      for (const line of r.stdout.split("\n")) {
        if (line.trim().length === 0) continue;
        const [index, name, uuid] = line.split(",").map((s) => s.trim());
        const i = cell(index);
        if (i === null)
          throw new UnsupportedError(`nvidia-smi printed '${line.slice(0, 80)}' for its GPU list`);
        gpus.push({ index: i, name: name ?? "", uuid: uuid ?? "" });
      }
      if (gpus.length === 0) throw new UnsupportedError("nvidia-smi lists no GPU");
      return { powerField, gpus };
    }
    last = `${r.stdout} ${r.stderr}`.replace(/\s+/g, " ").trim().slice(0, 300);
    // Only an unknown power field is worth another try; anything else (no driver, a bad -i) is final.
    if (!last.includes(powerField)) break;
  }
  throw new UnsupportedError(`nvidia-smi failed: ${last || "no output"}`);
}

export class GpuSampler {
  private readonly series = new Map<number, GpuSeries>();
  private readonly last = new Map<number, { t: number; p: number | null; e: number }>();
  private partial = "";
  private stderr = "";
  private badLines = 0;
  private exitedEarly: string | undefined;
  private stopping = false;
  private exited = false;
  private readonly closed: Promise<void>;
  /** Resolvers waiting for every GPU to have a sample at or after a time (see sampleAfter). */
  private waiters: Array<{ t: number; resolve: () => void }> = [];
  /** monotonic ns = wall ms × 1e6 + offset (nvidia-smi stamps wall-clock time). */
  private readonly offsetNs = nowNs() - Date.now() * 1e6;

  private constructor(
    private readonly child: ChildProcess,
    readonly command: string,
    readonly powerField: PowerField,
    readonly intervalMs: number,
    gpus: GpuInfo[],
    private readonly maxRows: number,
  ) {
    for (const g of gpus) this.track(g);
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => this.onData(chunk));
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-STDERR_KEEP);
    });
    this.closed = new Promise((resolve) => {
      child.on("close", (code, signal) => {
        this.exited = true;
        this.release(true);
        if (!this.stopping) {
          this.exitedEarly = `exit ${code ?? signal}: ${this.stderr.replace(/\s+/g, " ").trim().slice(0, 200)}`;
          log.warn(`GPU telemetry: nvidia-smi stopped during the run (${this.exitedEarly}).`);
        }
        resolve();
      });
      child.on("error", (err) => {
        this.exited = true;
        this.release(true);
        if (!this.stopping) this.exitedEarly = err.message;
        resolve();
      });
    });
  }

  static async start(opts: SamplerOptions = {}): Promise<GpuSampler> {
    const bin = opts.bin ?? "nvidia-smi";
    const intervalMs = opts.intervalMs ?? GPU_SAMPLE_INTERVAL_MS;
    const { powerField, gpus } = await probeNvidiaSmi(opts);
    const args = samplerArgs(powerField, intervalMs, opts.gpus);
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    const command = [bin, ...args].join(" ");
    log.info(`GPU telemetry: ${gpus.map((g) => `${g.index} ${g.name}`).join(", ")} via '${command}'.`);
    return new GpuSampler(child, command, powerField, intervalMs, gpus, opts.maxRows ?? 100_000);
  }

  /** Resolves once every GPU has a sample at or after `tNs` (or nvidia-smi ended, or `timeoutMs` passed). */
  sampleAfter(tNs: number, timeoutMs = 4 * this.intervalMs + 1000): Promise<void> {
    if (this.exited || this.sampledAfter(tNs)) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        resolve();
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push({ t: tNs, resolve: done });
    });
  }

  /** Resolves once every GPU has its first sample (nvidia-smi takes a moment to start), at most 5 s. */
  firstSample(): Promise<void> {
    return this.sampleAfter(Number.NEGATIVE_INFINITY, 5000);
  }

  private sampledAfter(tNs: number): boolean {
    for (const g of this.series.values()) {
      const last = this.last.get(g.info.index);
      if (!last || last.t < tNs) return false;
    }
    return true;
  }

  private release(all = false): void {
    if (this.waiters.length === 0) return;
    const keep: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (all || this.sampledAfter(w.t)) w.resolve();
      else keep.push(w);
    }
    this.waiters = keep;
  }

  private track(info: GpuInfo): GpuSeries {
    const s: GpuSeries = { info, timeline: new BoundedTimeline(GPU_KEYS, this.maxRows), missingPower: 0 };
    this.series.set(info.index, s);
    return s;
  }

  private onData(chunk: string): void {
    let text = this.partial + chunk;
    let nl = text.indexOf("\n");
    while (nl >= 0) {
      this.onLine(text.slice(0, nl));
      text = text.slice(nl + 1);
      nl = text.indexOf("\n");
    }
    // A line that never ends is not nvidia-smi's: dropped rather than buffered without bound.
    if (text.length > MAX_LINE) {
      this.badLines++;
      text = "";
    }
    this.partial = text;
  }

  private onLine(line: string): void {
    if (line.trim().length === 0) return;
    const f = line.split(",");
    const index = cell(f[1]);
    if (f.length !== 3 + QUERY_TAIL.length || index === null) {
      this.badLines++;
      return;
    }
    const wall = parseTimestamp(f[0]!);
    const t = wall !== undefined ? wall * 1e6 + this.offsetNs : nowNs();
    const s = this.series.get(index) ?? this.track({ index, name: "", uuid: "" });
    const p = cell(f[2]);
    if (p === null) s.missingPower++;
    const prev = this.last.get(index);
    if (prev && t <= prev.t) return; // a repeated stamp adds nothing
    let e = 0;
    if (prev) {
      // Trapezoid; a missing end holds the other one's value.
      const a = prev.p ?? p;
      const b = p ?? prev.p;
      e = prev.e + (a !== null && b !== null ? ((a + b) / 2) * ((t - prev.t) / 1e9) : 0);
    }
    this.last.set(index, { t, p, e });
    s.timeline.push(t, {
      power_w: p,
      util_gpu_pct: cell(f[3]),
      util_mem_pct: cell(f[4]),
      memory_used_mib: cell(f[5]),
      memory_total_mib: cell(f[6]),
      sm_clock_mhz: cell(f[7]),
      mem_clock_mhz: cell(f[8]),
      energy_j: e,
    });
    this.release();
  }

  /** Ends nvidia-smi (SIGTERM, then SIGKILL after 2 s) and returns what it sampled. */
  async stop(): Promise<GpuSamples> {
    this.stopping = true;
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGTERM");
      const killer = setTimeout(() => this.child.kill("SIGKILL"), 2000);
      await this.closed;
      clearTimeout(killer);
    }
    if (this.partial.length > 0) this.onLine(this.partial);
    this.partial = "";
    return {
      command: this.command,
      powerField: this.powerField,
      intervalMs: this.intervalMs,
      gpus: [...this.series.values()].sort((a, b) => a.info.index - b.info.index),
      badLines: this.badLines,
      exitedEarly: this.exitedEarly,
    };
  }
}
