/**
 * `latency`: trtllm-bench's low-latency benchmark (brief §5) on the shared pipeline. Requests run one at a time
 * by default (concurrency 1) on a runtime batch of 1, without chunked context, under guaranteed_no_evict, always
 * streaming, after 2 non-streaming warmup requests; optionally with speculative decoding, which the backend
 * resolves (and refuses when it cannot run it).
 */
import type { SpeculationRequest } from "../engine/backend.ts";
import { resolveSpeculation } from "../engine/registry.ts";
import { log } from "../util/log.ts";
import { type BenchmarkOptions, type BenchmarkResult, runBenchmark } from "./pipeline.ts";

export type LatencyOptions = Omit<
  BenchmarkOptions,
  | "name"
  | "streaming"
  | "maxBatchSize"
  | "maxNumTokens"
  | "enableChunkedContext"
  | "schedulerPolicy"
  | "speculative"
  | "concurrency"
  | "warmup"
> & {
  /** Default 1. */
  concurrency?: number | undefined;
  /** Default 2 (run without streaming, discarded). */
  warmup?: number | undefined;
  speculation?: SpeculationRequest | undefined;
};

export async function runLatency(opts: LatencyOptions): Promise<BenchmarkResult> {
  const { speculation, concurrency = 1, warmup = 2, ...rest } = opts;
  const speculative = await resolveSpeculation(rest.backend, speculation);
  if (concurrency !== 1) {
    log.warn(
      `--concurrency ${concurrency}: the latency benchmark's runtime batch size is 1, so requests beyond the ` +
        "first wait in the engine's queue and their TTFT includes that wait.",
    );
  }
  if (speculative) log.info(speculative.summary);
  return runBenchmark({
    ...rest,
    name: "latency",
    concurrency,
    warmup,
    // trtllm-bench's low_latency settings.
    maxBatchSize: 1,
    enableChunkedContext: false,
    schedulerPolicy: "guaranteed_no_evict",
    streaming: true,
    speculative,
  });
}
