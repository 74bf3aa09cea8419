/**
 * The memory the embedded engine can use on one device, in GiB: the heuristic's `get_device_memory()`
 * (brief §3.2, the *total* memory of GPU 0). On a CPU backend that is the machine's RAM; with a llama.cpp GPU
 * backend it is the VRAM of one GPU. `--device_memory` plans for another machine without probing this one.
 */
import { totalmem } from "node:os";
import { log } from "../../util/log.ts";

export interface DeviceMemory {
  /** Total memory of one device, GiB. */
  totalGb: number;
  /** "cpu", "cuda", "vulkan", "metal", or "override" for --device_memory. */
  backend: string;
  /** GPUs llama.cpp can split a model over (0 on a CPU backend or when not probed). */
  gpuCount: number;
  gpuNames: string[];
  /** How the value was obtained, for the log. */
  source: string;
}

/** What the probe needs from node-llama-cpp's `Llama` (injectable for tests). */
export interface LlamaMemoryProbe {
  readonly gpu: string | false;
  getVramState(): Promise<{ total: number }>;
  getGpuDeviceNames(): Promise<string[]>;
  dispose?(): Promise<void>;
}

export const GIB = 1024 ** 3;

export function cpuDeviceMemory(totalBytes: number = totalmem()): DeviceMemory {
  return { totalGb: totalBytes / GIB, backend: "cpu", gpuCount: 0, gpuNames: [], source: "system RAM" };
}

/**
 * From a loaded llama.cpp backend. node-llama-cpp reports the VRAM of all its devices together; every GPU is
 * assumed identical (as trtllm-bench assumes), so one device's share is total / count.
 */
export async function deviceMemoryFromLlama(
  llama: LlamaMemoryProbe,
  ramBytes?: number,
): Promise<DeviceMemory> {
  if (llama.gpu === false) return cpuDeviceMemory(ramBytes);
  const [vram, names] = await Promise.all([llama.getVramState(), llama.getGpuDeviceNames()]);
  const count = Math.max(1, names.length);
  if (!(vram.total > 0)) return cpuDeviceMemory(ramBytes);
  return {
    totalGb: vram.total / count / GIB,
    backend: String(llama.gpu),
    gpuCount: count,
    gpuNames: names,
    source: `${llama.gpu} VRAM of ${names[0] ?? "GPU 0"}`,
  };
}

export interface DeviceMemoryOptions {
  /** `--device_memory` in GiB: no probing at all. */
  overrideGb?: number | undefined;
  /** "auto" probes the GPU backend node-llama-cpp would pick; false means CPU only. */
  gpu?: "auto" | false;
  /** Injected probe (tests); otherwise node-llama-cpp is loaded. */
  probe?: () => Promise<LlamaMemoryProbe | undefined>;
}

/** node-llama-cpp's GPU probe; undefined when no GPU backend has its libraries and drivers here. */
async function loadProbe(gpu: "auto" | false): Promise<LlamaMemoryProbe | undefined> {
  const { getLlama, getLlamaGpuTypes, LlamaLogLevel } = await import("node-llama-cpp");
  // Loading a backend takes seconds; a machine with no usable GPU backend is answered without it.
  if (gpu === "auto" && !(await getLlamaGpuTypes("supported")).some((t) => t !== false)) return undefined;
  // build: "never" so a machine without a prebuilt binary fails fast instead of compiling llama.cpp.
  return getLlama({ gpu, build: "never", logLevel: LlamaLogLevel.error });
}

export async function getDeviceMemory(opts: DeviceMemoryOptions = {}): Promise<DeviceMemory> {
  if (opts.overrideGb !== undefined) {
    return {
      totalGb: opts.overrideGb,
      backend: "override",
      gpuCount: 0,
      gpuNames: [],
      source: "--device_memory",
    };
  }
  const gpu = opts.gpu ?? "auto";
  if (gpu === false && !opts.probe) return cpuDeviceMemory();
  let llama: LlamaMemoryProbe | undefined;
  try {
    llama = await (opts.probe ?? (() => loadProbe(gpu)))();
  } catch (err) {
    log.warn(`Cannot load llama.cpp to probe devices (${(err as Error).message}); using system RAM.`);
    return cpuDeviceMemory();
  }
  if (!llama) return cpuDeviceMemory();
  try {
    return await deviceMemoryFromLlama(llama);
  } finally {
    await llama.dispose?.();
  }
}
