/**
 * Which GPUs an engine of tp_size x pp_size runs on, and how llama.cpp splits the model over them.
 *
 * llama.cpp splits a model over the GPUs it sees in two ways: by layers (`LLAMA_SPLIT_MODE_LAYER`, its default:
 * each GPU holds a contiguous slice of the layers and their KV cache; a batch larger than the micro-batch is
 * pipelined through them), the counterpart of pipeline parallelism; or by rows (`LLAMA_SPLIT_MODE_ROW`: each
 * weight matrix split across GPUs), the nearest thing to tensor parallelism. node-llama-cpp 3.21.1 builds the
 * model's parameters itself and exposes neither the split mode nor the tensor split, so only the layer split is
 * reachable: `pp_size` GPUs run it, and `tp_size > 1` is refused with the reason instead of running something
 * else under its name. The GPUs are chosen the way CUDA does: the first ones CUDA_VISIBLE_DEVICES lists (all
 * of nvidia-smi's, in order, when it is unset), and the choice is applied by narrowing CUDA_VISIBLE_DEVICES
 * before llama.cpp's CUDA backend starts, so llama.cpp sees exactly those GPUs. A single-GPU engine is pinned
 * to one GPU too: otherwise llama.cpp would spread it over every GPU it sees.
 */
import { UnsupportedError, UsageError } from "../../errors.ts";
import { cudaVisibleIds, type GpuInfo } from "../machine.ts";

export interface GpuSplitInput {
  tpSize: number;
  ppSize: number;
  /** The engine's config.json, for messages. */
  configPath: string;
  /** `--device`: "cpu" forbids any GPU; others may use CUDA. */
  device: string;
  /** NVIDIA GPUs visible to this process (nvidia-smi, CUDA_VISIBLE_DEVICES applied); empty without nvidia-smi. */
  visible: GpuInfo[];
  /** CUDA_VISIBLE_DEVICES as the user set it. */
  cudaVisibleDevices: string | undefined;
}

export interface GpuSplitPlan {
  worldSize: number;
  /** "none": one device; "layer": layers split over `gpus`. */
  split: "none" | "layer";
  /** The GPUs chosen, in CUDA's order (empty when nvidia-smi is absent or the engine runs on the CPU). */
  gpus: GpuInfo[];
  /** The CUDA_VISIBLE_DEVICES to set before llama.cpp starts; undefined: leave it as it is. */
  cudaVisibleDevices: string | undefined;
}

/** The message for `tp_size > 1`: what is missing and what would close the gap. */
export function rowSplitUnsupported(tpSize: number, ppSize: number, where: string): UnsupportedError {
  return new UnsupportedError(
    `${where}: tp_size ${tpSize} asks for tensor parallelism, which the embedded engine cannot run: llama.cpp's ` +
      "row split (LLAMA_SPLIT_MODE_ROW) is not exposed by node-llama-cpp 3.21.1, whose model options have no " +
      `split mode. Build with --tp_size 1 --pp_size ${tpSize * ppSize} to split the layers over ` +
      `${tpSize * ppSize} GPUs (llama.cpp's layer split), or benchmark a tensor-parallel server with ` +
      "--backend openai. `build --dry_run` still plans TP for other engines.",
  );
}

function describeVisible(visible: GpuInfo[], cudaVisible: string | undefined): string {
  const env = cudaVisible === undefined ? "" : ` with CUDA_VISIBLE_DEVICES=${JSON.stringify(cudaVisible)}`;
  if (visible.length === 0) return `nvidia-smi lists no GPU visible to this process${env}`;
  const list = visible.map((g) => `${g.index}: ${g.name}`).join("; ");
  return `nvidia-smi lists ${visible.length} GPU(s) visible to this process${env} (${list})`;
}

/**
 * The entry CUDA_VISIBLE_DEVICES should hold for a chosen GPU: the user's own entry when they set the variable
 * (an index or UUID prefix, kept as written), else nvidia-smi's physical index.
 */
function entryFor(g: GpuInfo, position: number, userIds: string[] | undefined): string {
  return userIds?.[position] ?? String(g.index);
}

export function planGpuSplit(input: GpuSplitInput): GpuSplitPlan {
  const { tpSize, ppSize, visible } = input;
  const worldSize = tpSize * ppSize;
  if (tpSize > 1) throw rowSplitUnsupported(tpSize, ppSize, input.configPath);
  const userIds = cudaVisibleIds(input.cudaVisibleDevices);
  if (ppSize > 1) {
    if (input.device === "cpu") {
      throw new UsageError(
        `${input.configPath}: pp_size ${ppSize} splits the model over ${ppSize} GPUs, but --device cpu was given`,
      );
    }
    // Without nvidia-smi (no NVIDIA GPU, or a Vulkan/Metal machine) the count is checked after llama.cpp loads.
    if (visible.length === 0) return { worldSize, split: "layer", gpus: [], cudaVisibleDevices: undefined };
    if (visible.length < ppSize) {
      throw new UsageError(
        `${input.configPath}: pp_size ${ppSize} needs ${ppSize} GPUs, but ${describeVisible(visible, input.cudaVisibleDevices)}`,
      );
    }
    const gpus = visible.slice(0, ppSize);
    return {
      worldSize,
      split: "layer",
      gpus,
      cudaVisibleDevices: gpus.map((g, i) => entryFor(g, i, userIds)).join(","),
    };
  }
  if (input.device === "cpu" || visible.length === 0) {
    return { worldSize, split: "none", gpus: [], cudaVisibleDevices: undefined };
  }
  const first = visible[0] as GpuInfo;
  // Already exactly one GPU: nothing to narrow.
  const narrow = visible.length > 1 ? entryFor(first, 0, userIds) : undefined;
  return { worldSize, split: "none", gpus: [first], cudaVisibleDevices: narrow };
}

/** After llama.cpp loaded: it must see as many GPUs as the split needs (the check for machines without nvidia-smi). */
export function checkSplitDevices(
  plan: GpuSplitPlan,
  backend: string,
  devices: string[],
  configPath: string,
): void {
  if (plan.split !== "layer") return;
  const need = plan.worldSize;
  if (backend === "cpu" || devices.length < need) {
    const seen =
      backend === "cpu"
        ? "llama.cpp runs on the CPU here (no GPU backend loaded)"
        : `llama.cpp's ${backend} backend sees ${devices.length} GPU(s) (${devices.join(", ")})`;
    throw new UsageError(`${configPath}: pp_size ${need} needs ${need} GPUs, but ${seen}`);
  }
}

/** For the report: "layer split over 2 GPUs (0, 1)". */
export function describeSplit(plan: GpuSplitPlan): string | undefined {
  if (plan.split !== "layer") return undefined;
  const ids = plan.gpus.length > 0 ? ` (${plan.gpus.map((g) => g.index).join(", ")})` : "";
  return `layers split over ${plan.worldSize} GPUs${ids}`;
}
