/**
 * The in-flight-batching scheduler of the embedded engine, as pure bookkeeping (no llama.cpp here), so its
 * invariants can be tested without a model. One `plan()` per engine step decides which requests run and how many
 * tokens each feeds; `commit()` applies the step's sampled tokens.
 *
 * Semantics follow TensorRT-LLM's two-stage scheduler:
 * - capacity stage: which waiting requests are admitted (policy `guaranteed_no_evict` reserves the whole
 *   ISL+OSL of a request in the KV budget up front; `max_utilization` admits while the prompt fits in the KV
 *   cache actually free and preempts the newest request, by recompute, when decode growth overflows it);
 * - micro-batch stage: decode tokens of running requests first, then prefill (context) tokens of the others, in
 *   arrival order, under `maxNumTokens`; with chunked context a prompt may be split over several steps,
 *   without it a prompt must fit whole in one step.
 * Admission is strictly first-come-first-served (a request that does not fit blocks the ones behind it), and
 * preempted requests go back to the head of the queue, so no request starves.
 */

import { RingQueue } from "../../util/ring-queue.ts";
import type { SchedulerPolicy } from "../runtime-knobs.ts";

export type { SchedulerPolicy };

export interface SchedulerConfig {
  /** Requests that may hold a KV slot at once (llama.cpp sequences). */
  maxBatchSize: number;
  /** Tokens fed to the model per step (decode + prefill). */
  maxNumTokens: number;
  /** KV cache budget in tokens over all requests. */
  kvCacheTokens: number;
  /** Max ISL+OSL of one request (KV cells of one sequence). */
  maxSeqLen: number;
  policy: SchedulerPolicy;
  chunkedContext: boolean;
  /**
   * Keep the running requests' sequence ids contiguous: a gap that no admission fills is closed by moving the
   * highest running sequence into it (`StepPlan.moves`, which the engine applies before the step). Needs an
   * engine that can move a sequence's KV cells (native/greedy.cc moveSequence); off when undefined.
   */
  compactSlots?: boolean;
}

/** A request as the scheduler sees it: lengths and progress, nothing else. */
export class SchedRequest {
  /** Tokens already in this request's KV cache. */
  computed = 0;
  /** Tokens sampled so far (all emitted to the client). */
  generated = 0;
  /** llama.cpp sequence id while admitted, -1 while waiting. */
  slot = -1;
  /** Set when the request must stop early (EOS with `--eos_id`, or cancellation). */
  stopped = false;
  /** In the scheduler's waiting queue (enqueued or preempted, not yet admitted or released). */
  queued = false;
  preemptions = 0;
  constructor(
    readonly seq: number,
    readonly promptTokens: number,
    readonly outputTokens: number,
  ) {}
  /** Prompt plus generated tokens: what the KV cache must hold before the next token can be sampled. */
  get known(): number {
    return this.promptTokens + this.generated;
  }
  /** Tokens to feed before the next sample: 1 while decoding, the rest of the prompt (or more after preemption) before. */
  get pending(): number {
    return this.known - this.computed;
  }
  get done(): boolean {
    return this.stopped || this.generated >= this.outputTokens;
  }
  /** KV cells the request needs at its end: the last sampled token is never fed back. */
  get maxKv(): number {
    return this.promptTokens + this.outputTokens - 1;
  }
}

export interface StepItem {
  req: SchedRequest;
  /** Position in the sequence of the first token fed this step. */
  from: number;
  /** Number of tokens fed this step. */
  count: number;
  /** Whether this step ends the request's pending tokens, so a token is sampled from the last position. */
  sample: boolean;
  /** A generation-phase item (one token fed back), as opposed to a context (prefill) chunk. */
  decode: boolean;
}

export interface StepPlan {
  items: StepItem[];
  admitted: SchedRequest[];
  preempted: SchedRequest[];
  /**
   * [from, to] sequence ids whose KV cells move before this step runs, in order and before clearSlots: the
   * request that held `from` now holds `to` (compactSlots).
   */
  moves: ReadonlyArray<readonly [number, number]>;
  /** Sequence ids whose KV cells must be cleared before this step runs, after the moves (preempted requests). */
  clearSlots: number[];
  prefillTokens: number;
  decodeTokens: number;
}

const NO_MOVES: ReadonlyArray<readonly [number, number]> = [];

function bySlot(a: StepItem, b: StepItem): number {
  return a.req.slot - b.req.slot;
}

export class Scheduler {
  /**
   * The waiting queue, in arrival (seq) order, as two parts: preempted requests, sorted by seq, ahead of the fresh
   * arrivals in a ring buffer. Every preempted request arrived before every fresh one (admission takes the head of
   * a seq-ordered queue, and the engine enqueues in seq order), so the head is the first of `requeued`, else of
   * `fresh`, and admission pops in O(1): a plain array's shift() moves the whole queue (a million waiting requests
   * made admission quadratic). A waiting request released (cancelled) is dropped from `fresh` lazily, when it
   * reaches the head; `fresh.length - staleFresh` are the ones still waiting.
   */
  private readonly requeued: SchedRequest[] = [];
  private readonly fresh = new RingQueue<SchedRequest>();
  private staleFresh = 0;
  private readonly running: SchedRequest[] = [];
  /**
   * Free llama.cpp sequence ids, kept in descending order so `pop()` hands out the lowest. Measured here: when a
   * long-lived engine reused slots in another order (a stack), llama.cpp did about 2.3x the work per step.
   */
  private readonly freeSlots: number[];
  /** KV tokens reserved by running requests under guaranteed_no_evict. */
  private reserved = 0;
  totalPreemptions = 0;
  /** Sequences whose KV cells compaction moved to a lower id. */
  totalMoves = 0;

  constructor(readonly config: SchedulerConfig) {
    if (
      config.maxBatchSize < 1 ||
      config.maxNumTokens < 1 ||
      config.kvCacheTokens < 1 ||
      config.maxSeqLen < 2
    ) {
      throw new RangeError(`invalid scheduler limits: ${JSON.stringify(config)}`);
    }
    this.freeSlots = Array.from({ length: config.maxBatchSize }, (_, i) => config.maxBatchSize - 1 - i);
  }

  /** Why a request can never run under these limits, or undefined when it can. */
  rejectReason(promptTokens: number, outputTokens: number): string | undefined {
    const c = this.config;
    if (promptTokens < 1) return "empty prompt";
    if (outputTokens < 1) return "output_tokens must be at least 1";
    if (promptTokens + outputTokens > c.maxSeqLen) {
      return `ISL+OSL = ${promptTokens + outputTokens} exceeds max_seq_len ${c.maxSeqLen}`;
    }
    // Even alone, a request must fit the KV budget at its longest, or it could never finish.
    const need = promptTokens + outputTokens - 1;
    if (need > c.kvCacheTokens) return `needs ${need} KV tokens but the KV cache holds ${c.kvCacheTokens}`;
    if (!c.chunkedContext && promptTokens > c.maxNumTokens) {
      return `ISL ${promptTokens} exceeds max_num_tokens ${c.maxNumTokens} and chunked context is disabled`;
    }
    return undefined;
  }

  enqueue(req: SchedRequest): void {
    req.queued = true;
    this.fresh.push(req);
  }

  get numWaiting(): number {
    return this.requeued.length + this.fresh.length - this.staleFresh;
  }
  get numRunning(): number {
    return this.running.length;
  }
  get idle(): boolean {
    return this.numWaiting === 0 && this.running.length === 0;
  }
  /** KV cells in use right now. */
  get kvUsed(): number {
    let used = 0;
    for (const r of this.running) used += r.computed;
    return used;
  }
  runningRequests(): readonly SchedRequest[] {
    return this.running;
  }

  /** Remove a request (finished, stopped or cancelled) and free its slot; returns the slot to clear. */
  release(req: SchedRequest): number {
    const i = this.running.indexOf(req);
    if (i >= 0) {
      this.running.splice(i, 1);
      if (this.config.policy === "guaranteed_no_evict") this.reserved -= req.maxKv;
      const slot = req.slot;
      this.freeSlot(slot);
      req.slot = -1;
      return slot;
    }
    if (req.queued) {
      req.queued = false;
      const w = this.requeued.indexOf(req);
      if (w >= 0) this.requeued.splice(w, 1);
      else this.staleFresh++;
    }
    return -1;
  }

  plan(): StepPlan {
    const c = this.config;
    const admitted: SchedRequest[] = [];
    const preempted: SchedRequest[] = [];
    const clearSlots: number[] = [];

    // Capacity stage.
    if (c.policy === "guaranteed_no_evict") {
      for (let w = this.head(); w && this.running.length < c.maxBatchSize; w = this.head()) {
        if (this.reserved + w.maxKv > c.kvCacheTokens) break;
        this.admit(w);
        this.reserved += w.maxKv;
        admitted.push(w);
      }
    } else {
      // Free KV after every running request has fed what it must feed before its next sample.
      let committed = 0;
      for (const r of this.running) committed += r.known;
      for (let w = this.head(); w && this.running.length < c.maxBatchSize; w = this.head()) {
        if (committed + w.known > c.kvCacheTokens) break;
        this.admit(w);
        committed += w.known;
        admitted.push(w);
      }
    }

    const moves = c.compactSlots ? this.compact() : NO_MOVES;

    // Micro-batch stage (requests stopped early are released by the caller and never fed): decodes first, then context chunks, both in arrival order.
    const order = this.running; // kept sorted by arrival (seq)
    let tokensLeft = c.maxNumTokens;
    const items: StepItem[] = [];
    let decodeTokens = 0;
    let prefillTokens = 0;
    for (const r of order) {
      if (tokensLeft === 0) break;
      if (r.computed > 0 && r.pending === 1) {
        items.push({ req: r, from: r.computed, count: 1, sample: true, decode: true });
        tokensLeft--;
        decodeTokens++;
      }
    }
    for (const r of order) {
      if (tokensLeft === 0) break;
      if (r.computed > 0 && r.pending === 1) continue;
      const pending = r.pending;
      if (pending <= 0) continue;
      let n: number;
      if (c.chunkedContext) n = Math.min(pending, tokensLeft);
      else if (pending <= tokensLeft) n = pending;
      else break; // FCFS: the head context request waits for a step with room, nobody overtakes it
      items.push({ req: r, from: r.computed, count: n, sample: n === pending, decode: false });
      tokensLeft -= n;
      prefillTokens += n;
    }

    if (c.policy === "max_utilization") {
      // Preempt the newest requests until this step's KV growth fits.
      let growth = decodeTokens + prefillTokens;
      while (this.kvUsed + growth > c.kvCacheTokens && this.running.length > 1) {
        const victim = this.running[this.running.length - 1]!;
        const idx = items.findIndex((it) => it.req === victim);
        if (idx >= 0) {
          growth -= items[idx]!.count;
          if (items[idx]!.decode) decodeTokens--;
          else prefillTokens -= items[idx]!.count;
          items.splice(idx, 1);
        }
        clearSlots.push(this.preempt(victim));
        preempted.push(victim);
      }
    }
    // The batch goes to llama.cpp in sequence-id order. With its default per-sequence KV streams, a micro-batch
    // takes only sequences whose ids follow each other in batch order (a stream range it attends to as one
    // block), so a batch in arrival order splits into one full forward pass per break in the ids: after the
    // first wave, every refill (a new request in the lowest free slot, last in arrival order) cost a second pass.
    items.sort(bySlot);
    return { items, admitted, preempted, clearSlots, moves, prefillTokens, decodeTokens };
  }

  /**
   * How many consecutive steps, this one first, would repeat `plan` exactly (every running request feeding the
   * one token it sampled last, at the next position) if no request arrived, was cancelled or sampled EOS: the
   * engine may then run them back to back without planning in between (native decode run). 1 when the plan
   * changes after this step: it holds a context chunk, admits or preempts, leaves a running request out, a
   * waiting request could be admitted next step, or (max_utilization) the KV growth would not fit. Otherwise
   * the steps until the first request reaches its output length (that step included), cut to what the KV
   * budget holds. Waiting requests stay blocked for the whole run: no slot frees and no KV returns until a
   * request finishes, which ends the run.
   */
  decodeRunLength(plan: StepPlan): number {
    const c = this.config;
    const n = plan.items.length;
    if (
      n === 0 ||
      n !== this.running.length ||
      plan.prefillTokens > 0 ||
      plan.admitted.length > 0 ||
      plan.preempted.length > 0 ||
      plan.clearSlots.length > 0
    )
      return 1;
    let steps = Number.POSITIVE_INFINITY;
    for (const it of plan.items) {
      const r = it.req;
      if (!it.decode || it.count !== 1 || !it.sample || r.stopped) return 1;
      steps = Math.min(steps, r.outputTokens - r.generated);
    }
    // After this step every request holds one more KV cell (and has sampled one more token).
    const head = this.head();
    if (head !== undefined && this.running.length < c.maxBatchSize) {
      if (c.policy === "guaranteed_no_evict") {
        if (this.reserved + head.maxKv <= c.kvCacheTokens) return 1;
      } else {
        let committed = n; // each running request's known grows by the token this step samples
        for (const r of this.running) committed += r.known;
        if (committed + head.known <= c.kvCacheTokens) return 1;
      }
    }
    if (c.policy === "max_utilization") {
      // This step's growth (n) was checked by plan(); each further step needs n more cells without preemption.
      const room = c.kvCacheTokens - this.kvUsed - n;
      steps = Math.min(steps, 1 + Math.floor(room / n));
    }
    return Math.max(1, steps);
  }

  /** Apply a step: fed tokens are now in the KV cache; sampled items gained one token. */
  commit(plan: StepPlan): void {
    for (const it of plan.items) {
      it.req.computed += it.count;
      if (it.sample) it.req.generated++;
    }
  }

  /**
   * Speculative decoding, after `commit`: a verification step emitted `tokens` more tokens than the one
   * `commit` counted, and kept `cells` accepted drafts in the KV cache.
   */
  commitAccepted(req: SchedRequest, tokens: number, cells: number): void {
    req.generated += tokens;
    req.computed += cells;
  }

  /**
   * Closes the gaps that admission left below the highest running sequence id: llama.cpp's micro-batches take
   * only sequences whose ids follow each other, so each gap costs a forward pass at every step until it closes.
   * Measured on 2 vCPUs (tiny-llama, batch 64, 512 requests of OSL 130 +- 40): the run's last ~190 steps, as
   * requests finished with nobody to take their slots, had up to 20 passes each. A request admitted this step has
   * nothing cached yet, so it just takes the lower id; others move their KV cells.
   */
  private compact(): ReadonlyArray<readonly [number, number]> {
    let moves: Array<readonly [number, number]> | undefined;
    while (this.freeSlots.length > 0) {
      const low = this.freeSlots[this.freeSlots.length - 1]!;
      let top: SchedRequest | undefined;
      for (const r of this.running) if (top === undefined || r.slot > top.slot) top = r;
      if (top === undefined || top.slot < low) break;
      this.freeSlots.pop();
      const from = top.slot;
      top.slot = low;
      this.freeSlot(from);
      if (top.computed > 0) {
        if (moves === undefined) moves = [];
        moves.push([from, low]);
        this.totalMoves++;
      }
    }
    return moves ?? NO_MOVES;
  }

  private freeSlot(slot: number): void {
    let i = this.freeSlots.length;
    while (i > 0 && this.freeSlots[i - 1]! < slot) i--;
    this.freeSlots.splice(i, 0, slot);
  }

  /** The first waiting request (stale cancelled ones dropped on the way), or undefined. */
  private head(): SchedRequest | undefined {
    if (this.requeued.length > 0) return this.requeued[0];
    let h = this.fresh.peek();
    while (h !== undefined && !h.queued) {
      this.fresh.shift();
      this.staleFresh--;
      h = this.fresh.peek();
    }
    return h;
  }

  /** `w` is the head (see head()). */
  private admit(w: SchedRequest): void {
    if (this.requeued.length > 0) this.requeued.shift();
    else this.fresh.shift();
    w.queued = false;
    w.slot = this.freeSlots.pop()!;
    // Keep running sorted by arrival so FCFS holds for re-admitted (preempted) requests too.
    let i = this.running.length;
    while (i > 0 && this.running[i - 1]!.seq > w.seq) i--;
    this.running.splice(i, 0, w);
  }

  private preempt(r: SchedRequest): number {
    const i = this.running.indexOf(r);
    this.running.splice(i, 1);
    const slot = r.slot;
    this.freeSlot(slot);
    r.slot = -1;
    r.computed = 0;
    r.preemptions++;
    this.totalPreemptions++;
    // Back to the head of the queue, ahead of requests that arrived later (all fresh ones did).
    let j = 0;
    while (j < this.requeued.length && this.requeued[j]!.seq < r.seq) j++;
    this.requeued.splice(j, 0, r);
    r.queued = true;
    return slot;
  }
}
