import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type LayoutItem, processingOrder } from "./batch-layout.ts";

/** One token of a batch, for `splitEqual`: its sequence id and whether it is an output. */
interface BatchToken {
  slot: number;
  output: boolean;
}

/**
 * A model of llama.cpp's `llama_batch_allocr::split_equal(n_ubatch, sequential = true)` for batches of one sequence
 * id per token, with n_ubatch no smaller than the batch: the micro-batches (batch indexes, in processing order).
 * Outputs come out in this order.
 */
function splitEqual(tokens: readonly BatchToken[]): number[][] {
  const used = tokens.map(() => false);
  const ubatches: number[][] = [];
  for (;;) {
    const set: number[] = [];
    let last = -1;
    for (let i = 0; i < tokens.length; i++) {
      if (used[i]) continue;
      const s = tokens[i]!.slot;
      if (set.includes(s)) continue;
      if (set.length === 0 || s === last + 1) {
        set.push(s);
        last = s;
      }
    }
    if (set.length === 0) return ubatches;
    const unused = set.map((s) => tokens.flatMap((t, i) => (t.slot === s && !used[i] ? [i] : [])));
    const k = Math.min(...unused.map((u) => u.length));
    const ub: number[] = [];
    for (const u of unused) {
      for (const i of u.slice(0, k)) {
        ub.push(i);
        used[i] = true;
      }
    }
    ubatches.push(ub);
  }
}

interface Tok extends BatchToken {
  item: number;
  offset: number;
}

/** Each item's tokens contiguous, items in order; `outputs(i)` says which token offsets of item i are sampled. */
function contiguous(items: LayoutItem[], outputs: (i: number) => Set<number>): Tok[] {
  return items.flatMap((it, i) =>
    Array.from({ length: it.count }, (_, o) => ({
      slot: it.slot,
      output: outputs(i).has(o),
      item: i,
      offset: o,
    })),
  );
}

function laidOut(items: LayoutItem[], outputs: (i: number) => Set<number>): Tok[] {
  const byItem = contiguous(items, outputs);
  const start = items.map((_, i) => byItem.findIndex((t) => t.item === i));
  return processingOrder(items).flatMap((s) =>
    byItem.slice(start[s.item]! + s.from, start[s.item]! + s.from + s.count),
  );
}

/** Batch indexes of the outputs in the order llama.cpp produces them. */
function outputOrder(tokens: Tok[]): number[] {
  return splitEqual(tokens)
    .flat()
    .filter((i) => tokens[i]!.output);
}

const sorted = (xs: number[]) => xs.every((x, i) => i === 0 || xs[i - 1]! < x);

describe("batch layout in llama.cpp's processing order", () => {
  it("a prompt ending among decodes: its output comes last, so it goes last in the batch", () => {
    // Decodes in ids 0, 1, 3, 4; a 4-token prompt chunk in id 2 (a request admitted into a freed id).
    const items = [
      { slot: 0, count: 1 },
      { slot: 1, count: 1 },
      { slot: 2, count: 4 },
      { slot: 3, count: 1 },
      { slot: 4, count: 1 },
    ];
    const last = (i: number) => new Set([items[i]!.count - 1]);
    const before = contiguous(items, last);
    assert.equal(splitEqual(before).length, 2);
    // llama.cpp computes the prompt's output after id 3's and 4's: out of batch order, so it would reorder rows.
    assert.deepEqual(outputOrder(before), [0, 1, 6, 7, 5]);
    assert.deepEqual(processingOrder(items), [
      { item: 0, from: 0, count: 1 },
      { item: 1, from: 0, count: 1 },
      { item: 2, from: 0, count: 1 },
      { item: 3, from: 0, count: 1 },
      { item: 4, from: 0, count: 1 },
      { item: 2, from: 1, count: 3 },
    ]);
    const after = laidOut(items, last);
    assert.equal(splitEqual(after).length, 2);
    assert.deepEqual(outputOrder(after), [0, 1, 3, 4, 7]);
  });

  it("verification steps of equal length keep each sequence's tokens together, as llama.cpp takes them", () => {
    const items = [
      { slot: 0, count: 3 },
      { slot: 1, count: 3 },
    ];
    const all = () => new Set([0, 1, 2]);
    assert.deepEqual(processingOrder(items), [
      { item: 0, from: 0, count: 3 },
      { item: 1, from: 0, count: 3 },
    ]);
    assert.deepEqual(outputOrder(laidOut(items, all)), [0, 1, 2, 3, 4, 5]);
  });

  it("random steps: same micro-batches, outputs in batch order, positions increasing per sequence", () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let trial = 0; trial < 500; trial++) {
      const items: LayoutItem[] = [];
      let slot = rnd(3);
      const n = 1 + rnd(8);
      for (let i = 0; i < n; i++) {
        // mostly one decode token; some prompt chunks and verification runs
        const r = rnd(10);
        items.push({ slot, count: r < 6 ? 1 : r < 8 ? 1 + rnd(4) : 2 + rnd(12) });
        slot += 1 + (rnd(4) === 0 ? 1 + rnd(3) : 0);
      }
      const outs = items.map((it) => {
        const r = rnd(3);
        // the last token (decode, prompt end), every token (verification), or none (a chunk mid-prompt)
        return r === 0
          ? new Set<number>()
          : r === 1
            ? new Set(Array.from({ length: it.count }, (_, o) => o))
            : new Set([it.count - 1]);
      });
      const out = (i: number) => outs[i]!;
      const before = contiguous(items, out);
      const after = laidOut(items, out);
      const ctx = JSON.stringify({ items, outs: outs.map((s) => [...s]) });
      assert.equal(after.length, before.length, ctx);
      assert.equal(splitEqual(after).length, splitEqual(before).length, ctx);
      assert.ok(sorted(outputOrder(after)), ctx);
      for (let i = 0; i < items.length; i++) {
        const offsets = after.filter((t) => t.item === i).map((t) => t.offset);
        assert.deepEqual(
          offsets,
          Array.from({ length: items[i]!.count }, (_, o) => o),
          ctx,
        );
      }
    }
  });
});
