/**
 * The machine a run used, for every report: the host (CPU, cores, memory), its NVIDIA GPUs (through nvidia-smi
 * when it exists: name, memory, driver, CUDA version), and what the engine says it ran on (ComputeDevice).
 * Probing never fails a run: what cannot be found is left out.
 */
import { execFile } from "node:child_process";
import { availableParallelism, cpus, release, totalmem, type } from "node:os";
import type { ComputeDevice } from "./types.ts";

export interface GpuInfo {
  /** nvidia-smi's index (the physical index, whatever CUDA_VISIBLE_DEVICES says). */
  index: number;
  name: string;
  memoryTotalGiB: number | undefined;
  /** Max memory clock, GHz. */
  memoryClockGHz: number | undefined;
  uuid: string | undefined;
}

export interface HostInfo {
  cpu: string;
  cpuCores: number;
  memoryGiB: number;
  os: string;
  /** NVIDIA GPUs visible to this process (CUDA_VISIBLE_DEVICES applied); empty without nvidia-smi. */
  gpus: GpuInfo[];
  driverVersion: string | undefined;
  cudaVersion: string | undefined;
}

/** The machine as the reports show it. `name`/`memoryTotalGiB`/`memoryClockGHz` are trtllm-bench's fields. */
export interface MachineInfo {
  /** The first GPU the engine used, else the CPU. */
  name: string;
  /** GiB of that device (the host's RAM for a CPU). */
  memoryTotalGiB: number | undefined;
  /** GHz (GPUs only). */
  memoryClockGHz: number | undefined;
  host: HostInfo;
  /** What ran the model; `backend: "remote"` when it is a server the client cannot see into. */
  compute: ComputeDevice;
}

const GIB = 1024 ** 3;
const GPU_QUERY = [
  "--query-gpu=index,name,memory.total,clocks.max.memory,uuid,driver_version",
  "--format=csv,noheader,nounits",
] as const;
const SMI_TIMEOUT_MS = 3000;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: SMI_TIMEOUT_MS, maxBuffer: 1 << 20 }, (err, stdout) =>
      resolve(err ? undefined : stdout),
    );
  });
}

function num(s: string | undefined): number | undefined {
  const n = Number(s?.trim());
  return s !== undefined && s.trim() !== "" && Number.isFinite(n) ? n : undefined;
}

/** nvidia-smi `--query-gpu=index,name,memory.total,clocks.max.memory,uuid,driver_version` CSV (nounits). */
export function parseGpuCsv(csv: string): { gpus: GpuInfo[]; driverVersion: string | undefined } {
  const gpus: GpuInfo[] = [];
  let driverVersion: string | undefined;
  for (const line of csv.split("\n")) {
    const f = line.split(",").map((x) => x.trim());
    if (f.length < 6 || num(f[0]) === undefined) continue;
    const mib = num(f[2]);
    const mhz = num(f[3]);
    gpus.push({
      index: num(f[0])!,
      name: f[1]!,
      memoryTotalGiB: mib !== undefined ? mib / 1024 : undefined,
      memoryClockGHz: mhz !== undefined ? mhz / 1000 : undefined,
      uuid: f[4] || undefined,
    });
    driverVersion ??= f[5] || undefined;
  }
  return { gpus, driverVersion };
}

/** CUDA_VISIBLE_DEVICES' entries (indexes or UUIDs), up to the first empty one as CUDA reads it; undefined if unset. */
export function cudaVisibleIds(cudaVisible: string | undefined): string[] | undefined {
  if (cudaVisible === undefined) return undefined;
  const ids: string[] = [];
  for (const raw of cudaVisible.split(",")) {
    const id = raw.trim();
    if (id === "") break;
    ids.push(id);
  }
  return ids;
}

/** The GPUs CUDA shows this process: CUDA_VISIBLE_DEVICES lists indexes or UUIDs (or their prefixes), in order. */
export function visibleGpus(all: GpuInfo[], cudaVisible: string | undefined): GpuInfo[] {
  const ids = cudaVisibleIds(cudaVisible);
  if (ids === undefined) return all;
  const out: GpuInfo[] = [];
  for (const id of ids) {
    const byIndex = /^\d+$/.test(id) ? all.find((g) => g.index === Number(id)) : undefined;
    const g = byIndex ?? all.find((x) => x.uuid !== undefined && id.length > 4 && x.uuid.startsWith(id));
    // CUDA stops at the first entry it cannot resolve.
    if (!g) break;
    out.push(g);
  }
  return out;
}

/** The NVIDIA GPUs this process may use (CUDA_VISIBLE_DEVICES applied); empty without nvidia-smi. */
export async function probeVisibleGpus(env: NodeJS.ProcessEnv = process.env): Promise<GpuInfo[]> {
  const csv = await run("nvidia-smi", [...GPU_QUERY], env);
  return csv === undefined ? [] : visibleGpus(parseGpuCsv(csv).gpus, env.CUDA_VISIBLE_DEVICES);
}

export async function probeHost(env: NodeJS.ProcessEnv = process.env): Promise<HostInfo> {
  const cpu = cpus()[0]?.model.trim().replace(/\s+/g, " ") || "unknown CPU";
  const host: HostInfo = {
    cpu,
    cpuCores: availableParallelism(),
    memoryGiB: totalmem() / GIB,
    os: `${type()} ${release()}`,
    gpus: [],
    driverVersion: undefined,
    cudaVersion: undefined,
  };
  const csv = await run("nvidia-smi", [...GPU_QUERY], env);
  if (csv === undefined) return host;
  const parsed = parseGpuCsv(csv);
  host.gpus = visibleGpus(parsed.gpus, env.CUDA_VISIBLE_DEVICES);
  host.driverVersion = parsed.driverVersion;
  const banner = await run("nvidia-smi", [], env);
  host.cudaVersion = banner?.match(/CUDA Version:\s*([\d.]+)/)?.[1];
  return host;
}

/** Merges the host with what the engine ran on; the trtllm-bench fields describe the first device used. */
export function describeMachine(host: HostInfo, compute: ComputeDevice | undefined): MachineInfo {
  const c: ComputeDevice = compute ?? { backend: "remote", devices: [] };
  const onGpu = c.backend !== "cpu" && c.backend !== "remote";
  const gpu = onGpu ? (host.gpus.find((g) => c.devices.includes(g.name)) ?? host.gpus[0]) : undefined;
  if (gpu) {
    return {
      name: gpu.name,
      memoryTotalGiB: gpu.memoryTotalGiB,
      memoryClockGHz: gpu.memoryClockGHz,
      host,
      compute: c,
    };
  }
  if (onGpu && c.devices[0]) {
    const vram = c.vramTotalBytes !== undefined ? c.vramTotalBytes / GIB : undefined;
    return { name: c.devices[0], memoryTotalGiB: vram, memoryClockGHz: undefined, host, compute: c };
  }
  return { name: host.cpu, memoryTotalGiB: host.memoryGiB, memoryClockGHz: undefined, host, compute: c };
}

/** One line describing what ran the model, for the console and HTML reports. */
export function computeSummary(c: ComputeDevice): string {
  if (c.backend === "remote") return "remote server (its device is not visible to the client)";
  const parts = [c.devices.length > 0 ? `${c.backend} (${c.devices.join(", ")})` : c.backend];
  if (c.split) parts.push(c.split);
  if (c.gpuLayers) parts.push(`${c.gpuLayers.offloaded}/${c.gpuLayers.total} layers on GPU`);
  if (c.flashAttention) parts.push(`flash attention ${c.flashAttention}`);
  if (c.threads !== undefined) parts.push(`${c.threads} threads`);
  if (c.sampling) parts.push(`sampling: ${c.sampling}`);
  return parts.join(", ");
}

export function hostSummary(h: HostInfo): string {
  return `${h.cpu} (${h.cpuCores} cores), ${h.memoryGiB.toFixed(1)} GiB RAM, ${h.os}`;
}

export function gpuSummary(h: HostInfo): string | undefined {
  if (h.gpus.length === 0) return undefined;
  const list = h.gpus
    .map(
      (g) =>
        `${g.index}: ${g.name}${g.memoryTotalGiB !== undefined ? ` (${g.memoryTotalGiB.toFixed(1)} GiB)` : ""}`,
    )
    .join("; ");
  const versions = [
    h.driverVersion ? `driver ${h.driverVersion}` : undefined,
    h.cudaVersion ? `CUDA ${h.cudaVersion}` : undefined,
  ].filter((x) => x !== undefined);
  return versions.length > 0 ? `${list}; ${versions.join(", ")}` : list;
}
