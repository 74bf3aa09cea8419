/**
 * Offline load (trtllm-bench's throughput mode): every request is submitted at once, optionally capped by a
 * concurrency limit — the offline case of `runLoad`. Each request's start time is taken after its concurrency
 * slot is acquired, just before it is handed to the engine, as trtllm-bench does; `scheduledNs` keeps the
 * submission time so client-side queueing stays visible.
 */
import type { DatasetRequest } from "../dataset/types.ts";
import type { Engine } from "../engine/types.ts";
import { type LoadOptions, type LoadResult, runLoad } from "./run-load.ts";

export interface OfflineLoadOptions extends LoadOptions {
  /** <= 0: unlimited. */
  concurrency: number;
}

export type OfflineLoadResult = LoadResult;

export function runOffline(
  engine: Engine,
  requests: readonly DatasetRequest[],
  opts: OfflineLoadOptions,
): Promise<OfflineLoadResult> {
  return runLoad(engine, requests, { concurrency: opts.concurrency }, opts);
}

/** trtllm-bench's warmup draw: `k` requests chosen with replacement. */
export function pickWarmup<T>(requests: readonly T[], k: number, random: () => number = Math.random): T[] {
  const out: T[] = [];
  for (let i = 0; i < k && requests.length > 0; i++)
    out.push(requests[Math.floor(random() * requests.length)]!);
  return out;
}
