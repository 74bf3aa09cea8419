/**
 * The order of a step's tokens in llama.cpp's batch. llama.cpp (per-sequence KV streams, `split_equal` with
 * `sequential`) cuts a batch into micro-batches of sequences whose ids follow each other, with the same number of
 * tokens each, and computes them one after the other; its outputs come out in that processing order. When that is
 * not the batch's own order, llama.cpp reorders its output rows afterwards, one whole row per swap (a selection
 * sort): with samplers in the graph it swaps four vocabulary-long rows each. A mixed step (one decode token per
 * running sequence, plus a prompt chunk that ends in a sampled token) is the common case: the first micro-batch
 * takes one token of every sequence, the prompt's remaining tokens follow, so the prompt's output comes after every
 * decode's, wherever its sequence id sits among them.
 *
 * So the step's tokens are laid out in the order llama.cpp will process them: the items' contiguous layout is
 * split as llama.cpp would split it, and the pieces are emitted micro-batch by micro-batch. Cut the same way
 * again (batch-layout.test.ts cuts it with a model of llama.cpp's `split_equal`), the new order gives
 * the same micro-batches, and the outputs come out in batch order: no reorder.
 */

/** One item of a step: a sequence id and how many tokens it feeds (in increasing position order). */
export interface LayoutItem {
  slot: number;
  count: number;
}

/** `count` tokens of item `item` (index into the items), from its token `from`. */
export interface Segment {
  item: number;
  from: number;
  count: number;
}

/**
 * The items' tokens in the order llama.cpp's sequential `split_equal` computes them, when the batch holds each
 * item's tokens contiguously in the given item order (one item per sequence id).
 */
export function processingOrder(items: readonly LayoutItem[]): Segment[] {
  const used = items.map(() => 0);
  const out: Segment[] = [];
  for (;;) {
    // The sequences of the next micro-batch: scanning the batch, each one whose first unused token comes next and
    // whose id follows the last one taken.
    const set: number[] = [];
    let last = -1;
    for (let i = 0; i < items.length; i++) {
      if (used[i]! >= items[i]!.count) continue;
      if (set.length === 0 || items[i]!.slot === last + 1) {
        set.push(i);
        last = items[i]!.slot;
      }
    }
    if (set.length === 0) return out;
    // As many tokens each as every one of them still has.
    let k = Infinity;
    for (const i of set) k = Math.min(k, items[i]!.count - used[i]!);
    for (const i of set) {
      out.push({ item: i, from: used[i]!, count: k });
      used[i]! += k;
    }
  }
}
