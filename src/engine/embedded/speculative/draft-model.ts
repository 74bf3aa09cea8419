/**
 * The draft engine of draft/target speculative decoding: a second llama.cpp context (any smaller GGUF with the
 * target's vocabulary) holding its own KV cache per sequence, with the same sequence ids (slots) as the target.
 * Its KV is kept in sync lazily: before drafting, a slot catches up on the tokens the target accepted since the
 * last step (the whole prompt on a request's first decode step), then drafts k tokens greedily, one batched
 * llama_decode per draft position over all requests. After verification the caller rolls the rejected cells back.
 */
import { EngineError } from "../../../errors.ts";
import {
  type GreedySampling,
  type LlamaRuntime,
  type LlamaRuntimeShape,
  loadLlamaRuntime,
  type NativeContext,
} from "../llama-native.ts";

export interface DraftModelOptions extends LlamaRuntimeShape {
  ggufPath: string;
}

/** One request to draft for. Drafts are written into `tokens[known, known + k)`. */
export interface DraftJob {
  slot: number;
  /** Identity of the request holding the slot: a new owner invalidates the slot's draft KV. */
  owner: object;
  tokens: Uint32Array;
  known: number;
  k: number;
}

export class DraftModel {
  private readonly owner: Array<object | undefined>;
  /** Cells of each slot's draft KV that hold tokens known to be final. */
  private readonly computed: Int32Array;
  private readonly sampling: GreedySampling;

  private constructor(
    private readonly rt: LlamaRuntime,
    private readonly batchSize: number,
    sequences: number,
  ) {
    this.owner = new Array(sequences).fill(undefined);
    this.computed = new Int32Array(sequences);
    this.sampling = rt.newGreedySampling();
  }

  static async load(opts: DraftModelOptions, target: NativeContext): Promise<DraftModel> {
    // Draft steps feed one token per sequence; only prompt catch-up is large, and it is chunked, so a modest
    // batch keeps the draft's compute buffers small.
    const batchSize = Math.max(opts.sequences, Math.min(opts.batchSize, DRAFT_MAX_BATCH));
    // One sampled position per drafting sequence and step (catch-up samples none).
    const outputs = { max: opts.sequences, perSequence: 1 };
    const rt = await loadLlamaRuntime({ modelPath: opts.ggufPath, ...opts, batchSize, outputs });
    try {
      (
        target as unknown as { ensureDraftContextIsCompatibleForSpeculative(d: unknown): void }
      ).ensureDraftContextIsCompatibleForSpeculative(rt.native);
    } catch (err) {
      await rt.dispose();
      throw new EngineError(`${opts.ggufPath}: cannot draft for this engine: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return new DraftModel(rt, batchSize, opts.sequences);
  }

  /** Drafts `k` tokens for every job (greedy), writing them after each job's known tokens. */
  async propose(jobs: readonly DraftJob[]): Promise<void> {
    const native = this.rt.native;
    for (const j of jobs) {
      if (this.owner[j.slot] !== j.owner) {
        native.removeTokenCellsFromSequence(j.slot, 0, -1);
        this.owner[j.slot] = j.owner;
        this.computed[j.slot] = 0;
      } else if (this.computed[j.slot]! > j.known - 1) {
        this.rollback(j.slot, j.known - 1);
      }
    }
    await this.catchUp(jobs);
    // Draft position i: every job still drafting feeds its token at known - 1 + i and samples the next one.
    const maxK = Math.max(0, ...jobs.map((j) => j.k));
    for (let i = 0; i < maxK; i++) {
      const active = jobs.filter((j) => j.k > i);
      native.initBatch(active.length);
      const at: number[] = [];
      for (const j of active) {
        const pos = j.known - 1 + i;
        at.push(native.addToBatch(j.slot, pos, j.tokens.subarray(pos, pos + 1), LAST)[0]!);
      }
      await native.decodeBatch();
      const sampled = await this.sampling.sample(native, at);
      for (let n = 0; n < active.length; n++) {
        const j = active[n]!;
        j.tokens[j.known + i] = sampled[n]!;
        this.computed[j.slot] = j.known + i;
      }
    }
  }

  /** Keep only the first `keep` cells of a slot's draft KV (after verification rejected the rest). */
  rollback(slot: number, keep: number): void {
    if (this.computed[slot]! <= keep) return;
    this.rt.native.removeTokenCellsFromSequence(slot, keep, -1);
    this.computed[slot] = keep;
  }

  async dispose(): Promise<void> {
    this.sampling.dispose();
    await this.rt.dispose();
  }

  /** Feeds every job's final tokens the draft has not seen yet, except the last one, in chunks of the batch size. */
  private async catchUp(jobs: readonly DraftJob[]): Promise<void> {
    const native = this.rt.native;
    let pending = jobs.filter((j) => this.computed[j.slot]! < j.known - 1);
    while (pending.length > 0) {
      let room = this.batchSize;
      const fed: Array<[DraftJob, number]> = [];
      for (const j of pending) {
        if (room === 0) break;
        const n = Math.min(room, j.known - 1 - this.computed[j.slot]!);
        fed.push([j, n]);
        room -= n;
      }
      native.initBatch(this.batchSize - room);
      for (const [j, n] of fed) {
        const from = this.computed[j.slot]!;
        native.addToBatch(j.slot, from, j.tokens.subarray(from, from + n), NONE);
      }
      await native.decodeBatch();
      for (const [j, n] of fed) this.computed[j.slot]! += n;
      pending = pending.filter((j) => this.computed[j.slot]! < j.known - 1);
    }
  }
}

const DRAFT_MAX_BATCH = 2048;
const NONE = new Uint32Array(0);
const LAST = new Uint32Array([0]);
