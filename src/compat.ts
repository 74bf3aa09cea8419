/**
 * `--compat`: which trtllm-bench release llm-bench reproduces where releases differ. One switch selects every
 * version-specific behaviour together (see docs/reports.md, "Compatibility"):
 *
 * | | `latest` (default) | `0.17` (TensorRT-LLM 0.17.0.post1) |
 * |---|---|---|
 * | build heuristic | version B | version A: NVFP4 tuned, dataset averages rounded up |
 * | console report | the ~0.20 → 1.x layout | 0.17's `report_statistics` / `report_latency_statistics` |
 * | `prepare-dataset --output` | JSONL | the `{metadata, samples}` JSON document |
 * | `--request_json` names | `output_token_throughput` = n / e2e | 0.17's `RequestRecord`: `total_token_throughput` |
 */
import type { HeuristicVersion } from "./model/tuning.ts";

export const COMPAT_VERSIONS = ["latest", "0.17"] as const;
export type CompatVersion = (typeof COMPAT_VERSIONS)[number];

export const DEFAULT_COMPAT: CompatVersion = "latest";

/** The build heuristic a compatibility level uses unless `--heuristic_version` overrides it. */
export function heuristicVersionFor(compat: CompatVersion): HeuristicVersion {
  return compat === "0.17" ? "A" : "B";
}
