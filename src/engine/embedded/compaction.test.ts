/**
 * Sequence-id compaction on a real llama.cpp context (native/greedy.cc moveSequence; scheduler.ts compact()):
 * when a request in the middle finishes with nobody waiting, the highest running sequence moves into its id, KV
 * cells and all. The moved request must go on exactly as if it had stayed, and the freed id must serve a new
 * request with no stale cells.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { writeTinyGguf } from "../../../test/helpers/small-vocab.ts";
import { generateAll, withTinyEngine } from "../../../test/helpers/tiny-engine.ts";
import { tempDir } from "./gguf/test-support.ts";
import { nativePausedArgmaxSteps } from "./native-greedy.ts";

const PROMPTS = [
  [791, 462, 198, 282, 35, 374, 264, 129, 13],
  [300, 400, 500, 600, 700],
  [11, 22, 33, 44, 55, 66, 77],
];
// The middle request stops early: its id (1) frees while the others still decode.
const OSL = [40, 6, 40];

let dir: string;
let cleanup: () => Promise<void>;
let gguf: string;

async function outputs(
  compactSlots: boolean,
  decodeRuns: boolean,
): Promise<{ out: number[][]; late: number[]; moves: number }> {
  const scheduler = {
    maxBatchSize: 3,
    maxNumTokens: 64,
    kvCacheTokens: 3 * 128,
    maxSeqLen: 128,
    compactSlots,
  };
  return withTinyEngine(gguf, scheduler, { decodeRuns }, async (engine) => {
    const results = await generateAll(engine, PROMPTS, OSL, true);
    for (const r of results) assert.equal(r.error, undefined);
    // A request after the others: it takes an id another request held, which must hold no stale cells.
    const late = await engine.generate({
      id: "late",
      inputIds: PROMPTS[2]!,
      maxTokens: 12,
      streaming: false,
    });
    return { out: results.map((r) => r.outputIds), late: late.outputIds, moves: engine.sequenceMoves };
  });
}

describe("sequence-id compaction", { timeout: 120_000 }, () => {
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    // Untied embeddings: with tied ones this dummy model mostly repeats its last token, whatever the context.
    gguf = await writeTinyGguf(dir, "tiny.gguf", { contextLength: 256, tieWordEmbeddings: false });
  });
  after(async () => {
    await cleanup?.();
  });

  it("the moved request continues exactly as it would have in place; the freed id serves a new request", async (t) => {
    if (nativePausedArgmaxSteps() === undefined) {
      t.skip("the native addon is not built here (no C++ compiler): nothing moves sequences");
      return;
    }
    const ref = await outputs(false, false);
    assert.equal(ref.moves, 0);
    assert.deepEqual(
      ref.out.map((o) => o.length),
      OSL,
    );
    // The late request has C's prompt: its tokens are C's first ones, whatever id it gets.
    assert.deepEqual(ref.late, ref.out[2]!.slice(0, 12));
    for (const runs of [false, true]) {
      const got = await outputs(true, runs);
      assert.ok(got.moves >= 1, `runs ${runs}: no sequence moved`);
      assert.deepEqual(got.out, ref.out, `runs ${runs}`);
      assert.deepEqual(got.late, ref.late, `runs ${runs}: the late request`);
    }
  });
});
