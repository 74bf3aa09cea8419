import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { loadTokenizerFromFiles } from "../model/hf-tokenizer.ts";
import { bundledTokenizerFor } from "../model/known-models.ts";
import { TokenizeError } from "./prompt-encoder.ts";
import { RequestWorker } from "./request-worker.ts";

describe("RequestWorker: a bounded queue, callers that give up, shutdown", { timeout: 60_000 }, () => {
  let w: RequestWorker;
  before(async () => {
    const b = bundledTokenizerFor("llm-bench/tiny-llama")!;
    const tokenizer = await loadTokenizerFromFiles(b.tokenizerJson, b.tokenizerConfig);
    const limits = {
      maxCharsPerToken: tokenizer.maxCharsPerToken,
      vocabSize: tokenizer.totalVocabSize,
      servedModelName: "m",
      maxSeqLen: 1_000_000,
      maxInputLen: 999_999,
    };
    w = await RequestWorker.start(tokenizer, limits, { timeoutMs: 60_000, maxQueued: 1, heapMb: 1024 });
  });
  after(() => w?.close());

  it("encodes off the event loop with special tokens", async () => {
    assert.deepEqual(await w.encode("Hello world"), [128000, 9906, 1917]);
  });

  it("refuses past its queue, drops callers that give up, and refuses all on close", async () => {
    const isReason = (reason: string) => (e: unknown) => e instanceof TokenizeError && e.reason === reason;
    const running = new AbortController();
    // Seconds of BPE: it keeps the thread busy for the rest of the test.
    const first = w.encode("a".repeat(300_000), running.signal);
    const queued = new AbortController();
    const second = w.encode("Hello", queued.signal);
    await assert.rejects(w.encode("x"), isReason("busy"));
    queued.abort();
    await assert.rejects(second, { name: "AbortError" });
    // The queue has room again; the running job's caller may leave too, without waiting for it.
    const third = w.encode("y");
    running.abort();
    await assert.rejects(first, { name: "AbortError" });
    const thirdRefused = assert.rejects(third, isReason("closed"));
    await w.close();
    await thirdRefused;
    await assert.rejects(w.encode("z"), isReason("closed"));
  });
});
