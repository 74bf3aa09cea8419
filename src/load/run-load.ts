/**
 * Load generation over any `Engine`: offline (everything at once, trtllm-bench's throughput mode), a request
 * rate with Poisson/gamma arrivals, a concurrency cap on either, and a duration bound. Each request records
 * when it was due (`scheduledNs`), when it was sent (`startNs`, after its concurrency slot), its first token,
 * optionally every chunk, and its end. The schedule is absolute (t0 + offset), so late timers never drift the
 * rate; lateness and slot waits both show up as queueing (start − scheduled).
 */
import type { DatasetRequest } from "../dataset/types.ts";
import type { Engine, TokenSink } from "../engine/types.ts";
import type { RequestRecord } from "../metrics/record.ts";
import { onAbort } from "../util/abort-callbacks.ts";
import { nowNs } from "../util/clock.ts";
import { log } from "../util/log.ts";
import { ArrivalSchedule, type RateSpec } from "./arrivals.ts";
import { DEFAULT_LAG_THRESHOLD_MS, type EventLoopLag, startLagMonitor } from "./event-loop-lag.ts";
import { RecordTable } from "./record-table.ts";
import { Semaphore } from "./semaphore.ts";

export interface LoadShape {
  /** undefined: offline, every request due at t0. */
  rate?: RateSpec | undefined;
  /** Max requests in flight; <= 0 unlimited. */
  concurrency: number;
  /** Stop issuing requests this many seconds after the start; requests already sent run to completion. */
  durationS?: number | undefined;
}

export interface LoadOptions {
  streaming: boolean;
  /** undefined: EOS ignored, exactly output_tokens per request. */
  eosId: number | undefined;
  /** Keep generated ids on the records (for --output_json / --request_json). */
  keepOutputIds: boolean;
  /** Record the arrival time of every chunk on the records (costs one number per chunk). */
  keepChunkTimes?: boolean | undefined;
  /** Aborting stops issuing and cancels requests in flight; the result then covers finished requests only. */
  signal?: AbortSignal | undefined;
  onRecord?: ((record: RequestRecord) => void) | undefined;
  /** Label for log lines ("warmup" or "benchmark"). */
  label?: string | undefined;
  /** Event-loop lag p99 above which the client is reported as the bottleneck (ms). */
  lagThresholdMs?: number | undefined;
  /** Log a warning when the lag passes the threshold (default true; warmup runs turn it off). */
  warnOnLag?: boolean | undefined;
}

export interface LoadSummary {
  shape: "offline" | "rate";
  /** Requested rate (req/s) and burstiness; undefined for offline runs. */
  requestRate: number | undefined;
  burstiness: number | undefined;
  concurrency: number;
  durationS: number | undefined;
  /** Requests handed to the engine. */
  issued: number;
  /** Requests that finished (successfully or not) and are in `records`. */
  completed: number;
  /** In flight when the run was interrupted; cancelled and left out of the records. */
  cancelled: number;
  /** Never sent (interrupted, or past the duration bound). */
  notIssued: number;
  interrupted: boolean;
  /** The duration bound stopped issuing before the dataset ran out. */
  durationReached: boolean;
  /** Wall time of the measured window: first due time to last completion (s). */
  wallSeconds: number;
  eventLoopLag: EventLoopLag;
}

export interface LoadResult {
  /** Finished requests in dataset order (interrupted runs: cancelled ones left out). */
  records: RequestRecord[];
  submission: { count: number; seconds: number; rate: number };
  summary: LoadSummary;
}

/** Resolves at `targetNs` or later (never earlier), or at once when the signal aborts. */
async function sleepUntil(targetNs: number, signal: AbortSignal | undefined): Promise<void> {
  // Timers have millisecond granularity against a cached loop clock and may fire early: wait again if so.
  while (nowNs() < targetNs && !signal?.aborted) await sleepOnce(targetNs, signal);
}

function sleepOnce(targetNs: number, signal: AbortSignal | undefined): Promise<void> {
  const ms = Math.ceil((targetNs - nowNs()) / 1e6);
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    // One sleep per request at a rate: a callback, not an EventTarget listener each (util/abort-callbacks.ts).
    const unregister = signal
      ? onAbort(signal, () => {
          clearTimeout(timer);
          resolve();
        })
      : undefined;
    const timer = setTimeout(() => {
      unregister?.();
      resolve();
    }, ms);
  });
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Launches between forced yields to the event loop. Unlimited offline load never waits, and an engine that
 * settles requests in microtasks would free slots without ever leaving the microtask queue: either way signals
 * (SIGINT) and timers (the duration bound) must still run.
 */
const YIELD_EVERY = 1024;

function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Submits lazily: one loop takes the next request only when it is due and a concurrency slot is free, so the
 * work per request is O(1) and nothing (promise, timer, waiter) exists for a request not yet sent. A stop (the
 * user's signal, the duration bound, an engine that throws) wakes the loop's single wait at once, so ending a
 * run costs the same at any dataset size.
 */
export async function runLoad(
  engine: Engine,
  requests: readonly DatasetRequest[],
  shape: LoadShape,
  opts: LoadOptions,
): Promise<LoadResult> {
  const n = requests.length;
  const schedule = shape.rate ? new ArrivalSchedule(shape.rate) : undefined;
  const sem = new Semaphore(shape.concurrency);
  const table = new RecordTable(requests, { keepAllTexts: opts.keepOutputIds });
  const { signal } = opts;
  const lag = startLagMonitor(opts.lagThresholdMs ?? DEFAULT_LAG_THRESHOLD_MS);
  const t0 = nowNs();
  const deadlineNs = shape.durationS !== undefined ? t0 + shape.durationS * 1e9 : Number.POSITIVE_INFINITY;
  // One signal for every wait of the submission loop: the user's interrupt, the duration bound, a failure.
  const stop = new AbortController();
  const onUserAbort = () => stop.abort();
  signal?.addEventListener("abort", onUserAbort, { once: true });
  if (signal?.aborted) stop.abort();
  let durationReached = false;
  // setTimeout takes at most 2^31 - 1 ms (about 24.8 days); a longer bound is only checked before each send.
  const boundMs = shape.durationS !== undefined ? Math.ceil(shape.durationS * 1e3) : Number.POSITIVE_INFINITY;
  const deadlineTimer =
    boundMs <= MAX_TIMER_MS
      ? setTimeout(() => {
          durationReached = true;
          stop.abort();
        }, boundMs)
      : undefined;
  let issued = 0;
  let cancelled = 0;
  let inFlight = 0;
  let submitting = true;
  let failure: { error: unknown } | undefined;
  let drained: () => void = () => {};
  const allDone = new Promise<void>((resolve) => {
    drained = resolve;
  });

  // The end of the request whose slot the submission loop's waiter was handed (one waiter at a time).
  let handedOverNs: number | undefined;
  const finishOne = (endNs: number) => {
    if (sem.release()) handedOverNs = endNs;
    inFlight--;
    if (inFlight === 0 && !submitting) drained();
  };

  /** Resolves with the request's end: when its slot is free again (docs/metrics.md, slot idle time). */
  const runOne = async (
    index: number,
    scheduledNs: number,
    slotFreedNs: number | undefined,
  ): Promise<number> => {
    const req = requests[index]!;
    const sinkTimesNs = opts.keepChunkTimes ? ([] as number[]) : undefined;
    const sink: TokenSink | undefined = sinkTimesNs
      ? {
          onTokens(_tokens, timeNs) {
            sinkTimesNs.push(timeNs);
          },
        }
      : undefined;
    // Read once: a dataset request may make this view on each read (src/dataset/id-pool.ts).
    const inputIds = req.inputIds;
    const startNs = nowNs();
    const result = await engine.generate(
      {
        id: String(req.taskId),
        inputIds,
        prompt: req.prompt,
        maxTokens: req.outputTokens,
        eosId: opts.eosId,
        streaming: opts.streaming,
      },
      sink,
      signal,
    );
    // Interrupted mid-flight: not a failure of the engine, so not a record (backends may report it as an error).
    if (signal?.aborted && (result.finishReason === "cancelled" || result.finishReason === "error")) {
      cancelled++;
      return result.endNs;
    }
    const record = table.add(
      {
        datasetIndex: index,
        numInputTokens: inputIds.length,
        scheduledNs,
        startNs,
        streaming: opts.streaming,
        error:
          result.finishReason === "error" || result.finishReason === "cancelled"
            ? (result.error ?? result.finishReason)
            : undefined,
        // Copied: the engine's array may have spare capacity (push() grows by 1.5x), and the record lives long.
        outputIds: opts.keepOutputIds ? result.outputIds.slice() : undefined,
        sinkTimesNs,
        slotFreedNs,
      },
      result,
    );
    opts.onRecord?.(record);
    return result.endNs;
  };

  const launch = (index: number, scheduledNs: number, slotFreedNs: number | undefined) => {
    issued++;
    inFlight++;
    runOne(index, scheduledNs, slotFreedNs).then(finishOne, (err: unknown) => {
      // An engine that throws (rather than reporting a failed request) ends the run: stop sending, let the
      // requests in flight finish, then rethrow.
      failure ??= { error: err };
      stop.abort();
      finishOne(nowNs());
    });
  };

  let sinceYield = 0;
  for (let i = 0; i < n; i++) {
    const due = schedule ? t0 + schedule.next() : t0;
    if (due >= deadlineNs) {
      durationReached = true;
      break;
    }
    if (due > nowNs()) await sleepUntil(due, stop.signal);
    if (stop.signal.aborted) break;
    const wait = sem.acquire(stop.signal);
    let slotFreedNs: number | undefined;
    if (wait) {
      if (!(await wait)) break;
      slotFreedNs = handedOverNs;
    }
    // A slot freed at the moment of a stop, or a late timer past the bound: the request is not sent.
    if (stop.signal.aborted || nowNs() >= deadlineNs) {
      sem.release();
      break;
    }
    launch(i, due, slotFreedNs);
    if (++sinceYield >= YIELD_EVERY) {
      sinceYield = 0;
      await yieldToLoop();
    }
  }
  submitting = false;
  if (deadlineTimer) clearTimeout(deadlineTimer);
  signal?.removeEventListener("abort", onUserAbort);
  const interrupted = signal?.aborted === true;
  if (nowNs() >= deadlineNs) durationReached = true;
  // The bound "stopped issuing" only when it cut the dataset short (and nothing else stopped the run).
  durationReached &&= issued < n && !interrupted && failure === undefined;
  const seconds = (nowNs() - t0) / 1e9;
  const rate = seconds > 0 ? issued / seconds : Number.POSITIVE_INFINITY;
  log.info(
    `Request submission complete. [count=${issued}, time=${seconds.toFixed(4)}s, rate=${rate.toFixed(2)} req/s]`,
  );
  if (inFlight > 0) await allDone;
  if (failure) {
    lag.stop(false);
    throw failure.error;
  }
  const wallSeconds = (nowNs() - t0) / 1e9;
  const records: RequestRecord[] = table.inDatasetOrder();
  const summary: LoadSummary = {
    shape: shape.rate ? "rate" : "offline",
    requestRate: shape.rate?.rate,
    burstiness: shape.rate?.burstiness,
    concurrency: shape.concurrency,
    durationS: shape.durationS,
    issued,
    completed: records.length,
    cancelled,
    notIssued: n - issued,
    interrupted,
    durationReached,
    wallSeconds,
    eventLoopLag: lag.stop(opts.warnOnLag ?? true),
  };
  if (interrupted) {
    log.warn(
      `${opts.label ?? "Run"} interrupted: ${records.length} finished, ${cancelled} cancelled in flight, ` +
        `${summary.notIssued} never sent.`,
    );
  } else if (summary.durationReached) {
    log.info(`Duration bound of ${shape.durationS}s reached: ${summary.notIssued} request(s) not sent.`);
  }
  return { records, submission: { count: issued, seconds, rate }, summary };
}
