/**
 * `throughput`: trtllm-bench's max-throughput benchmark. Offline load (the whole dataset submitted at once,
 * optionally capped by --concurrency) through the shared pipeline.
 */
import { type BenchmarkOptions, type BenchmarkResult, runBenchmark } from "./pipeline.ts";

export type ThroughputOptions = Omit<BenchmarkOptions, "name">;

export function runThroughput(opts: ThroughputOptions): Promise<BenchmarkResult> {
  return runBenchmark({ ...opts, name: "throughput" });
}
