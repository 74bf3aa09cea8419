/**
 * Offline load (trtllm-bench's throughput mode): every request is submitted at once, optionally capped by a
 * concurrency limit. Each request's start time is taken after its concurrency slot is acquired, just before it
 * is handed to the engine, as trtllm-bench does; `scheduledNs` keeps the submission time so client-side
 * queueing stays visible.
 */
import type { DatasetRequest } from "../dataset/types.ts";
import type { Engine, GenerationResult } from "../engine/types.ts";
import type { RequestRecord } from "../metrics/record.ts";
import { nowNs } from "../util/clock.ts";
import { log } from "../util/log.ts";
import { Semaphore } from "./semaphore.ts";

export interface OfflineLoadOptions {
  /** <= 0: unlimited. */
  concurrency: number;
  streaming: boolean;
  /** undefined: EOS ignored, exactly output_tokens per request. */
  eosId: number | undefined;
  /** Keep generated ids on the records (for --output_json / --request_json). */
  keepOutputIds: boolean;
  signal?: AbortSignal | undefined;
  onRecord?: ((record: RequestRecord) => void) | undefined;
  /** Label for log lines ("warmup" or "benchmark"). */
  label?: string;
}

export interface OfflineLoadResult {
  records: RequestRecord[];
  submission: { count: number; seconds: number; rate: number };
}

export async function runOffline(
  engine: Engine,
  requests: readonly DatasetRequest[],
  opts: OfflineLoadOptions,
): Promise<OfflineLoadResult> {
  const sem = new Semaphore(opts.concurrency);
  const records: RequestRecord[] = new Array(requests.length);
  const submitStart = nowNs();
  const tasks: Array<Promise<void>> = [];

  const runOne = async (req: DatasetRequest, index: number, scheduledNs: number): Promise<void> => {
    const wait = sem.acquire();
    if (wait) await wait;
    try {
      const startNs = nowNs();
      const result: GenerationResult = await engine.generate(
        {
          id: String(req.taskId),
          inputIds: req.inputIds,
          prompt: req.prompt,
          maxTokens: req.outputTokens,
          eosId: opts.eosId,
          streaming: opts.streaming,
        },
        undefined,
        opts.signal,
      );
      const record: RequestRecord = {
        id: String(req.taskId),
        numInputTokens: req.inputIds.length,
        numOutputTokens: result.outputIds.length,
        scheduledNs,
        startNs,
        // Without streaming the client only sees the end of the request: no first-token time exists.
        firstTokenNs: opts.streaming && result.firstTokenNs !== undefined ? result.firstTokenNs : -1,
        endNs: result.endNs,
        decodeIterations: result.decodeIterations,
        requestedOutputTokens: req.outputTokens,
        error:
          result.finishReason === "error" || result.finishReason === "cancelled"
            ? (result.error ?? result.finishReason)
            : undefined,
        ...(opts.keepOutputIds ? { outputIds: result.outputIds } : {}),
        ...(result.draftTokens !== undefined ? { draftTokens: result.draftTokens } : {}),
        ...(result.acceptedDraftTokens !== undefined
          ? { acceptedDraftTokens: result.acceptedDraftTokens }
          : {}),
      };
      records[index] = record;
      opts.onRecord?.(record);
    } finally {
      sem.release();
    }
  };

  for (let i = 0; i < requests.length; i++) tasks.push(runOne(requests[i]!, i, nowNs()));
  const seconds = (nowNs() - submitStart) / 1e9;
  const rate = seconds > 0 ? requests.length / seconds : Number.POSITIVE_INFINITY;
  log.info(
    `Request submission complete. [count=${requests.length}, time=${seconds.toFixed(4)}s, rate=${rate.toFixed(2)} req/s]`,
  );
  await Promise.all(tasks);
  return { records, submission: { count: requests.length, seconds, rate } };
}

/** trtllm-bench's warmup draw: `k` requests chosen with replacement. */
export function pickWarmup<T>(requests: readonly T[], k: number, random: () => number = Math.random): T[] {
  const out: T[] = [];
  for (let i = 0; i < k && requests.length > 0; i++)
    out.push(requests[Math.floor(random() * requests.length)]!);
  return out;
}
