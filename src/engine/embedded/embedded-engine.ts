/**
 * The embedded engine: llama.cpp in-process, driven by our scheduler in lockstep. Each step packs the decode
 * tokens of running requests and prefill chunks of admitted ones into one llama_decode, then samples every
 * finished position in parallel. Driving all sequences in one loop (rather than one async loop per request)
 * keeps batches whole; measured here, per-request loops split batches and cost up to 2x throughput.
 */
import { EngineError } from "../../errors.ts";
import { onAbort } from "../../util/abort-callbacks.ts";
import { nowNs } from "../../util/clock.ts";
import { log } from "../../util/log.ts";
import type {
  Engine,
  EngineCapabilities,
  EngineInfo,
  EngineRuntimeStats,
  GenerationRequest,
  GenerationResult,
  TokenSink,
} from "../types.ts";
import { processingOrder } from "./batch-layout.ts";
import { runDecodeSteps } from "./decode-run.ts";
import type { IterationStats } from "./iteration-stats.ts";
import {
  contextCells,
  type GpuChoice,
  type GreedySampling,
  type LlamaRuntime,
  type LlamaRuntimeShape,
  loadLlamaRuntime,
} from "./llama-native.ts";
import { SchedRequest, Scheduler, type SchedulerConfig, type StepPlan } from "./scheduler.ts";
import type { DraftJob } from "./speculative/draft-model.ts";
import { createDrafter, type Drafter, type SpeculativeConfig } from "./speculative/speculator.ts";

export type { IterationStats };

export interface EmbeddedEngineOptions {
  ggufPath: string;
  info: EngineInfo;
  scheduler: SchedulerConfig;
  threads: number;
  gpu: GpuChoice;
  gpuLayers?: number | "max" | undefined;
  kvCacheType: string;
  onIteration?: ((stats: IterationStats) => void) | undefined;
  /** Speculative decoding (greedy verification of drafts); off when undefined. */
  speculative?: SpeculativeConfig | undefined;
  /** How the model is split over several GPUs, for the report (gpu-split.ts); undefined on one device. */
  split?: string | undefined;
  /**
   * Native decode runs (decodeRun) where the plan repeats; default: on unless LLM_BENCH_DECODE_RUNS=0. Off, every
   * step is planned on the event loop.
   */
  decodeRuns?: boolean | undefined;
  /** Greedy sampling in llama.cpp's graph (LlamaRuntimeShape.deviceSampling); undefined: its default. */
  deviceSampling?: boolean | undefined;
}

interface Live {
  sched: SchedRequest;
  request: GenerationRequest;
  /** Prompt ids followed by generated ids; `subarray` views of it are fed to llama.cpp. */
  tokens: Uint32Array;
  sink: TokenSink | undefined;
  firstTokenNs: number | undefined;
  decodeIterations: number;
  /** Speculative decoding: drafts verified and accepted over the request. */
  draftTokens: number;
  acceptedDraftTokens: number;
  /** Drafts fed for this request in the current step (always 0 without a drafter). */
  stepDrafts: number;
  cancelled: boolean;
  error: string | undefined;
  resolve: (r: GenerationResult) => void;
}

const EMPTY = new Uint32Array(0);

export class EmbeddedEngine implements Engine {
  readonly capabilities: EngineCapabilities = {
    tokenIdPrompts: true,
    streaming: true,
    exactOutputLength: true,
    cancel: true,
    speculativeDecoding: true,
  };
  private readonly scheduler: Scheduler;
  private readonly live = new Map<SchedRequest, Live>();
  /** Running requests cancelled mid-flight, released at the next step boundary. */
  private readonly cancelled = new Set<Live>();
  private readonly sampling: GreedySampling;
  private seq = 0;
  private steps = 0;
  private loop: Promise<void> | undefined;
  /** The last step's decode and sampling times, for the iteration log. */
  private decodeNs = 0;
  private sampleNs = 0;
  private readonly stepTimings = new Float64Array(2);
  /**
   * A native decode run's control words: [0] non-zero ends it before its next step; [1] counts the steps applied
   * here, so the run never gets more than one step ahead of the event loop (native/greedy.cc, decodeRun).
   */
  private readonly runCtl = new Int32Array(new SharedArrayBuffer(8));
  private readonly decodeRuns: boolean;
  private stopped = false;
  private readonly startNs = nowNs();
  /** `[0, 1, ..., k]` logit indexes for a decode item verifying k drafts. */
  private readonly verifyLogits: Uint32Array[] = [];

  private constructor(
    private readonly rt: LlamaRuntime,
    private readonly baseInfo: EngineInfo,
    private readonly opts: EmbeddedEngineOptions,
    private readonly drafter?: Drafter,
  ) {
    this.scheduler = new Scheduler({
      ...opts.scheduler,
      // Gaps in the sequence ids cost llama.cpp a forward pass each (scheduler.ts compact()); closing them needs
      // the native addon's moveSequence.
      compactSlots: (opts.scheduler.compactSlots ?? true) && rt.moveSequence !== undefined,
    });
    this.sampling = rt.newGreedySampling();
    this.decodeRuns = opts.decodeRuns ?? process.env.LLM_BENCH_DECODE_RUNS !== "0";
    const maxDraft = drafter ? (opts.speculative?.maxDraftLen ?? 0) : 0;
    for (let k = 0; k <= maxDraft; k++)
      this.verifyLogits.push(Uint32Array.from({ length: k + 1 }, (_, i) => i));
  }

  static async start(opts: EmbeddedEngineOptions): Promise<EmbeddedEngine> {
    // The draft model runs in the target's shape: same sequences, context and KV cache type.
    const shape: LlamaRuntimeShape = {
      sequences: opts.scheduler.maxBatchSize,
      contextSize: contextCells(opts.scheduler.maxSeqLen),
      batchSize: opts.scheduler.maxNumTokens,
      threads: opts.threads,
      gpu: opts.gpu,
      gpuLayers: opts.gpuLayers,
      kvCacheType: opts.kvCacheType,
      deviceSampling: opts.deviceSampling,
      // A step samples each running request once, or once per verified draft token plus one.
      outputs: {
        max: opts.scheduler.maxBatchSize * (1 + (opts.speculative?.maxDraftLen ?? 0)),
        perSequence: 1 + (opts.speculative?.maxDraftLen ?? 0),
      },
    };
    const rt = await loadLlamaRuntime({ modelPath: opts.ggufPath, ...shape });
    let drafter: Drafter | undefined;
    if (opts.speculative) {
      try {
        drafter = await createDrafter(opts.speculative, shape, rt.native);
      } catch (err) {
        await rt.dispose();
        throw err;
      }
    }
    log.verbose(
      `Embedded engine ready: ${opts.scheduler.maxBatchSize} sequences x ${rt.context.contextSize} KV cells, ` +
        `batch ${opts.scheduler.maxNumTokens} tokens, ${opts.threads} threads, device ${rt.device}`,
    );
    const compute = opts.split ? { ...rt.compute, split: opts.split } : rt.compute;
    return new EmbeddedEngine(rt, { ...opts.info, device: compute }, opts, drafter);
  }

  /** The engine's facts; the device's sampling path can change once (a failed check of the native sampler). */
  get info(): EngineInfo {
    const device = this.baseInfo.device;
    return { ...this.baseInfo, device: device ? { ...device, sampling: this.sampling.path } : undefined };
  }

  get device(): string {
    return this.rt.device;
  }

  /** Sequences whose KV cells were moved to close a gap in the sequence ids (scheduler.ts compact()). */
  get sequenceMoves(): number {
    return this.scheduler.totalMoves;
  }

  /** KV cells of each sequence in the llama.cpp context (from the run's max sequence length). */
  get contextCells(): number {
    return this.rt.context.contextSize;
  }

  generate(request: GenerationRequest, sink?: TokenSink, signal?: AbortSignal): Promise<GenerationResult> {
    const isl = request.inputIds.length;
    const reject = this.stopped
      ? "engine stopped"
      : signal?.aborted
        ? "cancelled before start"
        : this.scheduler.rejectReason(isl, request.maxTokens);
    if (reject !== undefined) {
      return Promise.resolve({
        outputIds: [],
        firstTokenNs: undefined,
        endNs: nowNs(),
        decodeIterations: 0,
        finishReason: "error",
        error: `request ${request.id}: ${reject}`,
      });
    }
    return new Promise<GenerationResult>((resolve) => {
      const sched = new SchedRequest(this.seq++, isl, request.maxTokens);
      const tokens = new Uint32Array(isl + request.maxTokens);
      tokens.set(request.inputIds);
      // Unregistered when the request ends: a listener per request left on the run's signal kept every request's
      // entry (its token buffer included) alive until the run ended (util/abort-callbacks.ts).
      const unregister = signal ? onAbort(signal, () => this.cancel(entry)) : undefined;
      const entry: Live = {
        sched,
        request,
        tokens,
        sink,
        firstTokenNs: undefined,
        decodeIterations: 0,
        draftTokens: 0,
        acceptedDraftTokens: 0,
        stepDrafts: 0,
        cancelled: false,
        error: undefined,
        resolve: unregister
          ? (r) => {
              unregister();
              resolve(r);
            }
          : resolve,
      };
      this.live.set(sched, entry);
      // A request that becomes the queue's head may be admissible at the next step: a decode run stops for it.
      // Behind a blocked head it waits anyway (FCFS), so the run goes on.
      if (this.scheduler.numWaiting === 0) Atomics.store(this.runCtl, 0, 1);
      this.scheduler.enqueue(sched);
      this.ensureLoop();
    });
  }

  /**
   * Starts the step loop unless it runs. A request submitted while the loop is exiting (e.g. the next request
   * of a concurrency-1 run, submitted from the previous one's resolution) would otherwise find the loop still
   * set and never run: the loop restarts itself when work arrived meanwhile.
   */
  private ensureLoop(): void {
    this.loop ??= this.run().then(
      () => {
        this.loop = undefined;
        if (!this.scheduler.idle) this.ensureLoop();
      },
      (err: unknown) => {
        this.loop = undefined;
        throw err;
      },
    );
  }

  private cancel(entry: Live): void {
    entry.cancelled = true;
    entry.sched.stopped = true;
    Atomics.store(this.runCtl, 0, 1);
    // Waiting requests leave at once; running ones at the next step boundary (their tokens may be in flight).
    if (!this.live.has(entry.sched)) return;
    if (entry.sched.slot < 0) this.finish(entry);
    else this.cancelled.add(entry);
  }

  private finish(entry: Live): void {
    const slot = this.scheduler.release(entry.sched);
    if (slot >= 0) this.rt.native.removeTokenCellsFromSequence(slot, 0, -1);
    this.live.delete(entry.sched);
    const g = entry.sched.generated;
    entry.resolve({
      outputIds: Array.from(entry.tokens.subarray(entry.sched.promptTokens, entry.sched.promptTokens + g)),
      firstTokenNs: entry.firstTokenNs,
      endNs: nowNs(),
      decodeIterations: entry.decodeIterations,
      finishReason: entry.error
        ? "error"
        : entry.cancelled
          ? "cancelled"
          : g < entry.sched.outputTokens
            ? "stop"
            : "length",
      ...(entry.error ? { error: entry.error } : {}),
      ...(this.drafter
        ? { draftTokens: entry.draftTokens, acceptedDraftTokens: entry.acceptedDraftTokens }
        : {}),
    });
  }

  /**
   * The step loop. A plain step is a speculative step with no drafts (k = 0 for every request): each decode item
   * feeds [last token, d1..dk] and gets logits at all k+1 positions; the longest prefix of drafts the target would
   * have chosen greedily is accepted, plus the target's own token after it, so the output is exactly plain greedy
   * decoding's. KV cells of rejected drafts are removed. Without a drafter nothing is allocated beyond the plain
   * step's needs (no draft jobs, no per-request draft arrays), since this is the path measured against
   * llama-batched-bench.
   */
  private async run(): Promise<void> {
    const native = this.rt.native;
    const drafter = this.drafter;
    // Start on the next turn of the event loop, so that requests submitted together (offline mode) share the
    // first step instead of the first one running alone.
    await new Promise((r) => setImmediate(r));
    while (!this.scheduler.idle) {
      if (this.cancelled.size > 0) {
        for (const e of this.cancelled) if (this.live.has(e.sched)) this.finish(e);
        this.cancelled.clear();
        if (this.scheduler.idle) break;
      }
      const t0 = nowNs();
      const plan = this.scheduler.plan();
      for (const [from, to] of plan.moves) this.rt.moveSequence!(from, to);
      for (const slot of plan.clearSlots) native.removeTokenCellsFromSequence(slot, 0, -1);
      if (plan.items.length === 0) {
        // Nothing can run (every waiting request is cancelled or blocked): give the event loop a turn.
        await new Promise((r) => setImmediate(r));
        continue;
      }
      let drafted = 0;
      if (drafter) {
        try {
          drafted = await this.draft(plan, drafter);
        } catch (err) {
          this.failStep(plan, err, "drafting");
          continue;
        }
      }
      const sampleAt: number[] = [];
      const sampleEntries: Live[] = [];
      let samples: number[];
      try {
        native.initBatch(plan.prefillTokens + plan.decodeTokens + drafted);
        this.fillBatch(plan, sampleEntries, sampleAt);
        // llama.cpp aborts the process on a decode with more outputs than its context reserved for.
        const maxOutputs = this.rt.maxOutputs;
        if (maxOutputs !== undefined && sampleAt.length > maxOutputs) {
          throw new EngineError(
            `a step samples ${sampleAt.length} positions; the context holds ${maxOutputs}`,
          );
        }
        const runLength =
          drafter === undefined && this.decodeRuns && this.sampling.canRun
            ? this.scheduler.decodeRunLength(plan)
            : 1;
        if (runLength > 1) {
          await this.decodeRun(plan, sampleEntries, sampleAt, runLength, t0);
          continue;
        }
        samples = await this.sampling.decodeAndSample(native, sampleAt, this.stepTimings);
        this.decodeNs = this.stepTimings[0]!;
        this.sampleNs = this.stepTimings[1]!;
      } catch (err) {
        this.failStep(plan, err, "decode");
        continue;
      }
      this.scheduler.commit(plan);
      this.applyStep(plan, sampleEntries, samples, t0, nowNs(), drafted);
    }
  }

  /**
   * After `commit(plan)`: hands each sampled item its tokens (accepting drafts), streams them stamped `t1`, finishes
   * the requests that are done (or, in a decode run, collects them in `deferred`: the run may still post steps that
   * name them, so their slots are freed only once it has drained), and logs the iteration.
   */
  private applyStep(
    plan: StepPlan,
    sampleEntries: Live[],
    samples: ArrayLike<number>,
    t0: number,
    t1: number,
    drafted: number,
    deferred?: Set<Live>,
  ): void {
    const drafter = this.drafter;
    const native = this.rt.native;
    let accepted = 0;
    let first = 0;
    for (let s = 0; s < sampleEntries.length; s++) {
      const e = sampleEntries[s]!;
      const req = e.sched;
      const k = e.stepDrafts;
      // Index of this step's first new token (commit counted it); drafts d1..dk sit at base..base+k-1.
      const base = req.promptTokens + req.generated - 1;
      let a = 0;
      while (a < k && samples[first + a] === e.tokens[base + a]) a++;
      e.tokens[base + a] = samples[first + a]!;
      first += k + 1;
      let n = a + 1;
      const eos = e.request.eosId;
      if (eos !== undefined) {
        for (let i = 0; i < n; i++) {
          if (e.tokens[base + i] === eos) {
            n = i + 1;
            req.stopped = true;
            break;
          }
        }
      }
      if (k > 0) {
        this.scheduler.commitAccepted(req, n - 1, a);
        if (a < k) native.removeTokenCellsFromSequence(req.slot, base + a, -1);
        drafter?.rollback(req.slot, base + a);
        e.draftTokens += k;
        e.acceptedDraftTokens += n - 1;
        accepted += n - 1;
      }
      e.decodeIterations++;
      if (e.firstTokenNs === undefined) e.firstTokenNs = t1;
      e.sink?.onTokens?.(n === 1 ? [e.tokens[base]!] : Array.from(e.tokens.subarray(base, base + n)), t1);
    }
    for (const it of plan.items) {
      const e = this.live.get(it.req);
      if (e && it.req.done) {
        if (deferred) deferred.add(e);
        else this.finish(e);
      }
    }
    this.steps++;
    if (this.opts.onIteration) {
      if (drafter) this.reportIteration(plan, t0, t1, drafted, accepted);
      else this.reportIteration(plan, t0, t1);
    }
  }

  /**
   * Runs `plan` and up to `maxSteps - 1` repeats of it natively (decode-run.ts); requests that finish in the run
   * are released once it has drained.
   */
  private async decodeRun(
    plan: StepPlan,
    entries: Live[],
    positions: number[],
    maxSteps: number,
    t0: number,
  ): Promise<void> {
    const done = new Set<Live>();
    const outcome = await runDecodeSteps({
      sampling: this.sampling,
      control: this.runCtl,
      plan,
      positions,
      sequences: entries.map((e) => ({ slot: e.sched.slot, eosId: e.request.eosId })),
      maxSteps,
      t0,
      apply: (p, tokens, stepT0, t1, decodeNs, sampleNs) => {
        this.decodeNs = decodeNs;
        this.sampleNs = sampleNs;
        this.scheduler.commit(p);
        this.applyStep(p, entries, tokens, stepT0, t1, 0, done);
      },
    });
    for (const e of done) if (this.live.has(e.sched)) this.finish(e);
    if (outcome.thrown !== undefined) throw outcome.thrown;
    if (outcome.failed) this.failStep(outcome.failed.plan, outcome.failed.err, outcome.failed.what);
  }

  /**
   * Proposes this step's drafts and sets each item's `stepDrafts` (0 for items without drafts); returns their
   * total. Drafts fit in the step's token budget, and a request never drafts past its last output token.
   */
  private async draft(plan: StepPlan, drafter: Drafter): Promise<number> {
    const maxDraft = this.verifyLogits.length - 1;
    let budget = this.opts.scheduler.maxNumTokens - plan.prefillTokens - plan.decodeTokens;
    const jobs: DraftJob[] = [];
    const owners: Live[] = [];
    for (const it of plan.items) {
      const entry = this.live.get(it.req)!;
      entry.stepDrafts = 0;
      if (!it.decode || budget <= 0) continue;
      const k = Math.min(maxDraft, it.req.outputTokens - it.req.generated - 1, budget);
      if (k <= 0) continue;
      jobs.push({ slot: it.req.slot, owner: entry, tokens: entry.tokens, known: it.req.known, k });
      owners.push(entry);
      budget -= k;
    }
    if (jobs.length === 0) return 0;
    await drafter.propose(jobs);
    let drafted = 0;
    for (let i = 0; i < jobs.length; i++) {
      const k = jobs[i]!.k;
      owners[i]!.stepDrafts = k;
      drafted += k;
    }
    return drafted;
  }

  private reportIteration(plan: StepPlan, t0: number, t1: number, drafts?: number, accepted?: number): void {
    let ctx = 0;
    for (const it of plan.items) if (!it.decode) ctx++;
    this.opts.onIteration?.({
      iter: this.steps,
      timestamp_ns: t1 - this.startNs,
      step_ms: (t1 - t0) / 1e6,
      decode_ms: this.decodeNs / 1e6,
      sample_ms: this.sampleNs / 1e6,
      batch_size: plan.items.length,
      num_context_requests: ctx,
      num_generation_requests: plan.items.length - ctx,
      prefill_tokens: plan.prefillTokens,
      decode_tokens: plan.decodeTokens + (drafts ?? 0),
      kv_cache_tokens_used: this.scheduler.kvUsed,
      kv_cache_tokens_total: this.opts.scheduler.kvCacheTokens,
      num_active_requests: this.scheduler.numRunning,
      num_queued_requests: this.scheduler.numWaiting,
      num_preempted: plan.preempted.length,
      ...(drafts !== undefined ? { draft_tokens: drafts, accepted_draft_tokens: accepted ?? 0 } : {}),
    });
  }

  /**
   * Adds the step's tokens to node-llama-cpp's batch in the order llama.cpp will compute them (batch-layout.ts), so
   * that its outputs need no reordering; `sampleAt` gets the batch indexes to sample, item by item, and
   * `sampleEntries` the sampled items.
   */
  private fillBatch(plan: StepPlan, sampleEntries: Live[], sampleAt: number[]): void {
    const native = this.rt.native;
    const entries = plan.items.map((it) => this.live.get(it.req)!);
    const layout = plan.items.map((it, i) => ({
      slot: it.req.slot,
      count: it.count + entries[i]!.stepDrafts,
    }));
    const picked: number[][] = plan.items.map(() => []);
    for (const seg of processingOrder(layout)) {
      const it = plan.items[seg.item]!;
      const entry = entries[seg.item]!;
      // Sampled: the last token, or every token of a verification (the drafts and the one before them).
      let logits = EMPTY;
      if (it.sample) {
        const k = entry.stepDrafts;
        const lo = Math.max(k > 0 ? 0 : it.count - 1, seg.from);
        const hi = Math.min(k > 0 ? k + 1 : it.count, seg.from + seg.count);
        if (lo < hi) logits = Uint32Array.from({ length: hi - lo }, (_, i) => lo - seg.from + i);
      }
      const from = it.from + seg.from;
      const idx = native.addToBatch(it.req.slot, from, entry.tokens.subarray(from, from + seg.count), logits);
      for (let i = 0; i < idx.length; i++) picked[seg.item]!.push(idx[i]!);
    }
    for (let i = 0; i < plan.items.length; i++) {
      if (!plan.items[i]!.sample) continue;
      sampleEntries.push(entries[i]!);
      for (const at of picked[i]!) sampleAt.push(at);
    }
  }

  /** Fails every request of a step whose decode (or drafting) failed; the others go on. */
  private failStep(plan: StepPlan, err: unknown, what: string): void {
    const msg = `llama.cpp ${what} failed: ${(err as Error).message}`;
    log.error(msg);
    for (const it of plan.items) {
      const entry = this.live.get(it.req);
      if (entry) {
        entry.error = msg;
        this.finish(entry);
      }
    }
  }

  stats(): EngineRuntimeStats {
    return {
      steps: this.steps,
      activeRequests: this.scheduler.numRunning,
      queuedRequests: this.scheduler.numWaiting,
      kvCacheTokensUsed: this.scheduler.kvUsed,
      kvCacheTokensTotal: this.opts.scheduler.kvCacheTokens,
      preemptions: this.scheduler.totalPreemptions,
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    Atomics.store(this.runCtl, 0, 1);
    for (const e of [...this.live.values()]) this.cancel(e);
    await this.loop;
    this.sampling.dispose();
    await this.drafter?.dispose();
    await this.rt.dispose();
  }
}
