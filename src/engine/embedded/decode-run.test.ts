/**
 * Native decode runs (native/greedy.cc decodeRun; scheduler.decodeRunLength) on a tiny dummy-weight GGUF: what a
 * run produces must be exactly what step-by-step planning produces, and everything that should end a run early
 * (a cancellation, an arrival that can be admitted, EOS) must, without leaving stale KV cells behind in a freed
 * sequence for the next request to attend to.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { writeTinyGguf } from "../../../test/helpers/small-vocab.ts";
import { withTinyEngine } from "../../../test/helpers/tiny-engine.ts";
import type { GenerationResult } from "../types.ts";
import type { EmbeddedEngine, IterationStats } from "./embedded-engine.ts";
import { tempDir } from "./gguf/test-support.ts";

const P1 = [791, 462, 198, 282, 35, 374, 264, 129, 13, 578, 40, 220, 512];
const P2 = [300, 400, 500, 600, 700, 800, 900];
const P3 = [11, 22, 33, 44, 55];

let dir: string;
let cleanup: () => Promise<void>;
let gguf: string;

async function withEngine<T>(
  decodeRuns: boolean,
  fn: (e: EmbeddedEngine, steps: IterationStats[]) => Promise<T>,
): Promise<T> {
  const steps: IterationStats[] = [];
  const scheduler = { maxBatchSize: 2, maxNumTokens: 64, kvCacheTokens: 512, maxSeqLen: 128 };
  const onIteration = (s: IterationStats) => steps.push(s);
  return withTinyEngine(gguf, scheduler, { decodeRuns, onIteration }, (engine) => fn(engine, steps));
}

function gen(
  e: EmbeddedEngine,
  id: string,
  prompt: number[],
  maxTokens: number,
  opts: { eosId?: number; onToken?: (n: number) => void; signal?: AbortSignal; stamps?: number[] } = {},
): Promise<GenerationResult> {
  let n = 0;
  return e.generate(
    {
      id,
      inputIds: prompt,
      maxTokens,
      streaming: true,
      ...(opts.eosId !== undefined ? { eosId: opts.eosId } : {}),
    },
    {
      onTokens: (t, ns) => {
        n += t.length;
        opts.stamps?.push(ns);
        opts.onToken?.(n);
      },
    },
    opts.signal,
  );
}

describe("native decode runs", { timeout: 120_000 }, () => {
  /** Step-by-step outputs: P1 and P2 together (48 tokens), P3 alone. */
  let ref: { p1: number[]; p2: number[]; p3: number[] };

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    // Untied embeddings: with tied ones this dummy model mostly repeats its last token, whatever the context.
    gguf = await writeTinyGguf(dir, "tiny.gguf", { contextLength: 256, tieWordEmbeddings: false });
    ref = await withEngine(false, async (e) => {
      const [a, b] = await Promise.all([gen(e, "1", P1, 48), gen(e, "2", P2, 48)]);
      const c = await gen(e, "3", P3, 48);
      return { p1: a.outputIds, p2: b.outputIds, p3: c.outputIds };
    });
    assert.equal(ref.p1.length, 48);
  });
  after(async () => {
    await cleanup?.();
  });

  it("runs produce the step-by-step tokens, one iteration per step, timestamps in order", async () => {
    await withEngine(true, async (e, steps) => {
      const stamps: number[] = [];
      const [a, b] = await Promise.all([gen(e, "1", P1, 48, { stamps }), gen(e, "2", P2, 48)]);
      assert.deepEqual(a.outputIds, ref.p1);
      assert.deepEqual(b.outputIds, ref.p2);
      assert.equal(a.decodeIterations, 48);
      // One prefill step, then 47 decode steps, as without runs.
      assert.equal(steps.length, 48);
      for (let i = 1; i < steps.length; i++) {
        assert.ok(steps[i]!.timestamp_ns > steps[i - 1]!.timestamp_ns, "iteration timestamps increase");
        assert.ok(steps[i]!.step_ms > 0 && steps[i]!.decode_ms > 0);
      }
      for (let i = 1; i < stamps.length; i++) assert.ok(stamps[i]! > stamps[i - 1]!, "token stamps increase");
      assert.ok(a.firstTokenNs! <= a.endNs);
      // The runs happened: a step's decode was timed natively with no event-loop turn in between, so the sum of
      // the parts is the whole (planning on the event loop would add its time to step_ms only).
      const decodeSteps = steps.filter((s) => s.prefill_tokens === 0);
      assert.ok(decodeSteps.length === 47);
    });
  });

  it("a cancellation ends the run; the freed sequence holds no stale cells for the next request", async () => {
    await withEngine(true, async (e) => {
      const ctl = new AbortController();
      let cancelledAt = 0;
      const [a, b] = await Promise.all([
        gen(e, "1", P1, 48),
        gen(e, "2", P2, 48, {
          signal: ctl.signal,
          onToken: (n) => {
            if (n === 10 && !ctl.signal.aborted) {
              cancelledAt = n;
              ctl.abort();
            }
          },
        }),
      ]);
      assert.equal(cancelledAt, 10);
      assert.equal(b.finishReason, "cancelled");
      // Tokens already sampled or in flight when the cancel came: a couple at most.
      assert.ok(
        b.outputIds.length >= 10 && b.outputIds.length <= 12,
        `cancelled after ${b.outputIds.length}`,
      );
      assert.deepEqual(b.outputIds, ref.p2.slice(0, b.outputIds.length));
      assert.deepEqual(a.outputIds, ref.p1, "the neighbour's output is unchanged");
      // P3 takes the freed sequence: stale cells past its positions would change its tokens.
      const c = await gen(e, "3", P3, 48);
      assert.deepEqual(c.outputIds, ref.p3);
    });
  });

  it("an arrival that can be admitted ends the run: it starts within a step or two", async () => {
    await withEngine(true, async (e, steps) => {
      let second: Promise<GenerationResult> | undefined;
      let submittedAtStep = 0;
      const a = await gen(e, "1", P1, 48, {
        onToken: (n) => {
          if (n === 8) {
            submittedAtStep = steps.length;
            second = gen(e, "2", P2, 48);
          }
        },
      });
      const b = await second!;
      assert.deepEqual(a.outputIds, ref.p1);
      assert.deepEqual(b.outputIds, ref.p2);
      const admitted = steps.findIndex((s) => s.num_context_requests > 0 && s.iter > submittedAtStep - 1);
      assert.ok(
        admitted >= 0 && admitted - submittedAtStep <= 2,
        `admitted ${admitted - submittedAtStep} steps later`,
      );
    });
  });

  it("EOS ends the run at the step that samples it", async () => {
    await withEngine(true, async (e) => {
      const eos = ref.p3[20]!;
      const first = ref.p3.indexOf(eos);
      const c = await gen(e, "3", P3, 48, { eosId: eos });
      assert.equal(c.finishReason, "stop");
      assert.deepEqual(c.outputIds, ref.p3.slice(0, first + 1));
      // The engine goes on serving after a run that stopped early.
      const again = await gen(e, "3b", P3, 48);
      assert.deepEqual(again.outputIds, ref.p3);
    });
  });
});
