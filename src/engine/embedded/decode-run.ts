/**
 * The event loop's side of a native decode run (native/greedy.cc's decodeRun; the engine starts one where
 * `Scheduler.decodeRunLength` says the plan will repeat): each step's tokens arrive as the pool thread samples
 * them and are applied here while the next step decodes; the control words keep the run at most one step ahead
 * and stop it before its next step (docs/architecture.md, "Decode runs").
 */
import { fromMonotonicNs } from "../../util/clock.ts";
import type { GreedySampling } from "./llama-native.ts";
import type { StepCallback } from "./native-greedy.ts";
import type { StepPlan } from "./scheduler.ts";

export interface DecodeRunArgs {
  sampling: GreedySampling;
  /** On a SharedArrayBuffer: [0] stop before the next step, [1] steps applied here. Both reset here. */
  control: Int32Array;
  /** The step that starts the run: decode-only, one sampled position per item. */
  plan: StepPlan;
  /** Batch indexes of the plan's sampled positions, in item order. */
  positions: number[];
  /** Per item: its llama.cpp sequence and the EOS token that ends the run (none: undefined). */
  sequences: { slot: number; eosId: number | undefined }[];
  maxSteps: number;
  /** When the first step was planned (its step_ms starts there; each later one at the previous step's end). */
  t0: number;
  /** Applies one step (the run's first plan, then a repeat of it with nothing admitted, preempted or cleared). */
  apply(
    plan: StepPlan,
    tokens: Uint32Array,
    t0: number,
    t1: number,
    decodeNs: number,
    sampleNs: number,
  ): void;
}

export interface DecodeRunOutcome {
  /** A step the pool thread could not decode or sample: that step's plan, to fail its requests. */
  failed?: { err: Error; what: "decode" | "sampling"; plan: StepPlan };
  /** What `apply` threw (the run was stopped; later steps were not applied). */
  thrown?: unknown;
}

/** Runs the steps and returns once every step the pool thread posted has been applied (or skipped after a failure). */
export async function runDecodeSteps(args: DecodeRunArgs): Promise<DecodeRunOutcome> {
  const { plan, control, sequences } = args;
  const n = sequences.length;
  const spec = new Int32Array(3 * n);
  for (let i = 0; i < n; i++) {
    spec[i] = sequences[i]!.slot;
    spec[n + i] = plan.items[i]!.from + 1;
    spec[2 * n + i] = sequences[i]!.eosId ?? -1;
  }
  Atomics.store(control, 0, 0);
  Atomics.store(control, 1, 0);
  const repeat: StepPlan = { ...plan, admitted: [], preempted: [], clearSlots: [], moves: [] };
  const out: DecodeRunOutcome = {};
  let seen = 0;
  let prevEnd = args.t0;
  let expected = Number.POSITIVE_INFINITY;
  let drained: (() => void) | undefined;
  const onStep: StepCallback = (tokens, decodeNs, sampleNs, endNs, error, decodeFailed) => {
    const p = seen === 0 ? plan : repeat;
    seen++;
    if (out.failed === undefined && out.thrown === undefined) {
      if (tokens === null) {
        out.failed = { err: new Error(error), what: decodeFailed ? "decode" : "sampling", plan: p };
      } else {
        try {
          const t1 = fromMonotonicNs(endNs);
          args.apply(p, tokens, prevEnd, t1, decodeNs, sampleNs);
          prevEnd = t1;
        } catch (err) {
          out.thrown = err;
          Atomics.store(control, 0, 1);
        }
      }
    }
    Atomics.add(control, 1, 1);
    if (seen >= expected) drained?.();
  };
  const posted = await args.sampling.decodeRun(
    { positions: Uint32Array.from(args.positions), spec, maxSteps: args.maxSteps, control },
    onStep,
  );
  // The promise can settle before the last steps' callbacks have run (two different wake-ups of the event loop).
  if (seen < posted) {
    await new Promise<void>((resolve) => {
      expected = posted;
      drained = resolve;
    });
  }
  return out;
}
