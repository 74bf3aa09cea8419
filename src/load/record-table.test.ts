import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DatasetRequest } from "../dataset/types.ts";
import type { GenerationResult } from "../engine/types.ts";
import { CROSS_CHECK_SAMPLE, RecordTable, type RowInput } from "./record-table.ts";

function requests(n: number): DatasetRequest[] {
  return Array.from({ length: n }, (_, i) => ({
    taskId: `t${i}`,
    inputIds: new Int32Array([1, 2, 3]),
    prompt: undefined,
    outputTokens: 4,
    line: i + 1,
    loraRequest: undefined,
  })) as unknown as DatasetRequest[];
}

function row(i: number, over: Partial<RowInput> = {}): RowInput {
  return {
    datasetIndex: i,
    numInputTokens: 3,
    scheduledNs: 1e12 + i,
    startNs: 1e12 + i + 0.5,
    streaming: true,
    error: undefined,
    outputIds: undefined,
    sinkTimesNs: undefined,
    ...over,
  };
}

function result(over: Partial<GenerationResult> = {}): GenerationResult {
  return {
    outputIds: [],
    firstTokenNs: 2e12,
    endNs: 3e12,
    decodeIterations: 4,
    finishReason: "length",
    ...over,
  };
}

describe("RecordTable", () => {
  it("reads back every field a plain record had, absent ones as undefined", () => {
    const t = new RecordTable(requests(3), { keepAllTexts: false });
    const a = t.add(
      // The engine's own chunk log wins over the sink's times.
      row(2, { outputIds: [7, 8], sinkTimesNs: [5, 6] }),
      result({
        serverOutputTokens: 2 ** 40,
        serverInputTokens: 3,
        sentNs: 1.5e12,
        firstByteNs: 1.6e12,
        chunkTimesNs: [2e12, 2.5e12],
        chunkTokens: [2 ** 39, 2 ** 39],
        outputText: "ab",
        draftTokens: 6,
        acceptedDraftTokens: 5,
      }),
    );
    assert.deepEqual(a.toJSON(), {
      id: "t2",
      numInputTokens: 3,
      // A server's count is any safe integer: no 32-bit wrap.
      numOutputTokens: 2 ** 40,
      scheduledNs: 1e12 + 2,
      startNs: 1e12 + 2.5,
      firstTokenNs: 2e12,
      endNs: 3e12,
      decodeIterations: 4,
      requestedOutputTokens: 4,
      error: undefined,
      sentNs: 1.5e12,
      firstByteNs: 1.6e12,
      outputIds: [7, 8],
      draftTokens: 6,
      acceptedDraftTokens: 5,
      serverOutputTokens: 2 ** 40,
      serverInputTokens: 3,
      outputText: "ab",
      chunkTimesNs: [2e12, 2.5e12],
      chunkTokens: [2 ** 39, 2 ** 39],
    });
    const b = t.add(row(0, { streaming: false, error: "http_503: busy" }), result({ outputText: "x" }));
    assert.equal(b.firstTokenNs, -1);
    const c = t.add(row(1, { sinkTimesNs: [7, 9] }), result());
    assert.deepEqual([c.chunkTimesNs, c.chunkTokens], [[7, 9], undefined]);
    assert.equal(b.error, "http_503: busy");
    for (const k of [
      "sentNs",
      "firstByteNs",
      "outputIds",
      "draftTokens",
      "serverOutputTokens",
      "clientOutputTokens",
      "serverInputTokens",
      "chunkTimesNs",
      "chunkTokens",
      // A failed request's text is never counted.
      "outputText",
    ] as const) {
      assert.equal(b[k], undefined, k);
    }
    assert.deepEqual(
      t.inDatasetOrder().map((r) => r.id),
      ["t0", "t1", "t2"],
    );
  });

  it("takes the client count's results through its setters", () => {
    const t = new RecordTable(requests(1), { keepAllTexts: false });
    const r = t.add(row(0), result({ outputText: "hello" }));
    assert.equal(r.outputText, "hello");
    r.outputText = undefined;
    r.clientOutputTokens = 2;
    r.numOutputTokens = 2;
    r.outputIds = [1, 2];
    assert.equal(t.textsHeld, 0);
    const [again] = t.inDatasetOrder();
    assert.deepEqual([again!.clientOutputTokens, again!.numOutputTokens, again!.outputIds], [2, 2, [1, 2]]);
  });

  it("keeps the texts the client must count, and a bounded sample of those the server counted", () => {
    const n = 3 * CROSS_CHECK_SAMPLE + 17;
    const t = new RecordTable(requests(n), { keepAllTexts: false });
    let uncounted = 0;
    for (let i = 0; i < n; i++) {
      // Every 10th request without usage: its length is only known from its text.
      const counted = i % 10 !== 0;
      if (!counted) uncounted++;
      const streamedIds = i % 7 === 0 && counted;
      t.add(
        row(i),
        result({
          outputText: `text ${i}`,
          ...(counted ? { serverOutputTokens: 2 } : {}),
          ...(streamedIds ? { clientOutputTokens: 2 } : {}),
        }),
      );
    }
    assert.equal(t.textsHeld, uncounted + CROSS_CHECK_SAMPLE);
    const held = t.inDatasetOrder().filter((r) => r.outputText !== undefined);
    for (const r of held) {
      // Texts of requests counted from streamed ids are never held.
      assert.equal(r.clientOutputTokens, undefined);
    }
    assert.ok(held.filter((r) => r.serverOutputTokens === undefined).length === uncounted);
    // The sample spreads over the run (reservoir), not just its first requests.
    const lastThird = held.filter((r) => Number(r.id.slice(1)) >= 2 * CROSS_CHECK_SAMPLE);
    assert.ok(lastThird.length > CROSS_CHECK_SAMPLE / 10, `${lastThird.length} sampled late`);
  });

  it("keeps every text when each output's ids are wanted", () => {
    const n = CROSS_CHECK_SAMPLE + 5;
    const t = new RecordTable(requests(n), { keepAllTexts: true });
    for (let i = 0; i < n; i++) t.add(row(i), result({ outputText: "t", serverOutputTokens: 1 }));
    assert.equal(t.textsHeld, n);
  });

  it("lists records in dataset order, whether few or most of the dataset finished", () => {
    for (const finished of [[5, 0, 77, 3], Array.from({ length: 90 }, (_, i) => 99 - i)]) {
      const t = new RecordTable(requests(100), { keepAllTexts: false });
      for (const i of finished) t.add(row(i), result());
      assert.deepEqual(
        t.inDatasetOrder().map((r) => r.id),
        [...finished].sort((a, b) => a - b).map((i) => `t${i}`),
      );
    }
  });
});
