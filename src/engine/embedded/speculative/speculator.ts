/**
 * Speculative decoding on the embedded engine: which drafter runs (prompt n-gram lookup or a draft engine), how
 * many drafts a request may get per step, and the greedy acceptance rule of verification.
 */
import type { LlamaRuntimeShape, NativeContext } from "../llama-native.ts";
import { type DraftJob, DraftModel } from "./draft-model.ts";
import type { MedusaTree } from "./medusa-choices.ts";
import { proposeNgram } from "./ngram.ts";

export type SpeculativeMode = "ngram" | "draft";

export interface SpeculativeConfig {
  mode: SpeculativeMode;
  /** Drafts verified per step and request (the depth of `medusaTree` when one is given). */
  maxDraftLen: number;
  /** Longest n-gram prompt lookup tries to match (ngram mode). */
  ngramSize: number;
  /** The draft engine's GGUF (draft mode). */
  draftGgufPath?: string | undefined;
  /** `--medusa_choices`: validated; only its depth shapes verification (a linear chain, see docs/latency.md). */
  medusaTree?: MedusaTree | undefined;
}

/** The report's `DECODING STATISTICS (<mode>)` name, after TensorRT-LLM's speculative decoding modes. */
export function decodingModeName(mode: SpeculativeMode): string {
  return mode === "ngram" ? "NGRAM" : "DRAFT_TARGET";
}

/** Proposes drafts in place; `k` of each job is lowered to the number actually proposed. */
export interface Drafter {
  propose(jobs: DraftJob[]): Promise<void>;
  /** Verification kept the first `keep` positions of `slot`: drop any drafter state past them. */
  rollback(slot: number, keep: number): void;
  dispose(): Promise<void>;
}

class NgramDrafter implements Drafter {
  constructor(private readonly maxNgram: number) {}
  async propose(jobs: DraftJob[]): Promise<void> {
    for (const j of jobs) j.k = proposeNgram(j.tokens, j.known, this.maxNgram, j.k);
  }
  rollback(): void {}
  async dispose(): Promise<void> {}
}

export async function createDrafter(
  config: SpeculativeConfig,
  draftOpts: LlamaRuntimeShape,
  target: NativeContext,
): Promise<Drafter> {
  if (config.mode === "ngram") return new NgramDrafter(config.ngramSize);
  if (!config.draftGgufPath) throw new RangeError("draft mode needs a draft GGUF");
  return DraftModel.load({ ...draftOpts, ggufPath: config.draftGgufPath }, target);
}
