import type { DatasetMetadata } from "../dataset/types.ts";
import type { MachineInfo } from "../engine/machine.ts";
import type { EngineInfo } from "../engine/types.ts";
import type { LoadSummary } from "../load/run-load.ts";
import type { Acceptance017 } from "../metrics/acceptance-017.ts";
import type { GpuMetricsReport } from "../metrics/gpu-telemetry.ts";
import type { ServerMetricsReport } from "../metrics/server-telemetry.ts";
import type { BenchmarkStatistics } from "../metrics/statistics.ts";

export type { MachineInfo };

/** Everything the console and JSON reports print; both render exactly the same numbers. */
export interface ReportInput {
  engine: EngineInfo;
  stats: BenchmarkStatistics;
  dataset: DatasetMetadata;
  /** Whether tokens were streamed: TTFT/TPOT/GTPS are only defined then. */
  streaming: boolean;
  /** Expert-parallel size (trtllm-bench's EP Size); 1 when absent. */
  epSize?: number | undefined;
  /** Printed (MACHINE DETAILS, JSON `machine`) only when known; JSON `machine` is null otherwise. */
  machine?: MachineInfo | undefined;
  /** Speculative decoding mode for the DECODING STATISTICS header (e.g. "EAGLE3", "draft-model"). */
  decodingMode?: string | undefined;
  /** How the load was shaped and how the run ended (interrupted runs print a partial report). */
  load?: LoadSummary | undefined;
  /** `--request_log` path as the JSON records it (relative to the JSON's folder when it sits under it). */
  requestLog?: string | undefined;
  /** `--server_metrics`: the server's own telemetry over the run. */
  serverMetrics?: ServerMetricsReport | undefined;
  /** `--gpu_metrics` (or automatic on CUDA): power, energy, utilization, memory, clocks. */
  gpuMetrics?: GpuMetricsReport | undefined;
  /** `--compat 0.17` latency report: its acceptance rate and breakdown (src/metrics/acceptance-017.ts). */
  acceptance017?: Acceptance017 | undefined;
}

/** tp × pp, trtllm-bench's world_size. */
export function worldSize(engine: EngineInfo): number {
  return engine.tpSize * engine.ppSize;
}
