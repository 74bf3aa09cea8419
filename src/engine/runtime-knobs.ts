/**
 * The runtime knobs a benchmark passes to every backend (trtllm-bench's runtime flags and their LLM-API YAML
 * twins, plus where an in-process engine computes); each backend uses the ones that mean something to it.
 */

export const SCHEDULER_POLICIES = ["guaranteed_no_evict", "max_utilization"] as const;
/** trtllm-bench's capacity scheduler policy (KV admission). */
export type SchedulerPolicy = (typeof SCHEDULER_POLICIES)[number];

/** `--device`: where an in-process engine computes; "auto" picks a GPU backend that works here, else the CPU. */
export const DEVICE_CHOICES = ["auto", "cpu", "cuda", "vulkan", "metal"] as const;
export type DeviceFlag = (typeof DEVICE_CHOICES)[number];

export interface RuntimeKnobs {
  maxBatchSize?: number | undefined;
  maxNumTokens?: number | undefined;
  maxSeqLen?: number | undefined;
  kvCacheFreeGpuMemFraction: number;
  schedulerPolicy: SchedulerPolicy;
  enableChunkedContext: boolean;
  /** `kv_cache_config.max_tokens` from the YAML. */
  kvMaxTokens?: number | undefined;
  threads?: number | undefined;
  /** `--device`: where an in-process engine runs. */
  device?: DeviceFlag | undefined;
  /** `--gpu_layers`: layers offloaded to the GPU. */
  gpuLayers?: number | "max" | undefined;
}
