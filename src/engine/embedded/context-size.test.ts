/**
 * The embedded runtime sizes its llama.cpp context from the run's max sequence length, whatever context length
 * the GGUF records: the model's own (what `build` writes now, 4096 here), or a shorter one (engines built before,
 * which recorded the dataset's max_seq_len).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { writeTinyGguf } from "../../../test/helpers/small-vocab.ts";
import type { EngineInfo } from "../types.ts";
import { EmbeddedEngine } from "./embedded-engine.ts";
import { tempDir } from "./gguf/test-support.ts";

let dir: string;
let cleanup: () => Promise<void>;
const INFO = { backend: "test", model: "tiny" } as unknown as EngineInfo;

function gguf(name: string, contextLength: number): Promise<string> {
  return writeTinyGguf(dir, name, { contextLength });
}

async function run(ggufPath: string, maxSeqLen: number, isl: number, osl: number) {
  const engine = await EmbeddedEngine.start({
    ggufPath,
    info: INFO,
    scheduler: {
      maxBatchSize: 2,
      maxNumTokens: 128,
      kvCacheTokens: 2 * maxSeqLen,
      maxSeqLen,
      policy: "guaranteed_no_evict",
      chunkedContext: true,
    },
    threads: 1,
    gpu: false,
    kvCacheType: "F16",
  });
  try {
    const prompt = Array.from({ length: isl }, (_, i) => 100 + i);
    const r = await engine.generate({ id: "1", inputIds: prompt, maxTokens: osl, streaming: true });
    return { cells: engine.contextCells, result: r };
  } finally {
    await engine.stop();
  }
}

describe("embedded context size comes from the run", { timeout: 120_000 }, () => {
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());

  it("a GGUF with the model's 4096-token context: cells per sequence follow max_seq_len (padded to 256)", async () => {
    const { cells, result } = await run(await gguf("long.gguf", 4096), 300, 200, 100);
    assert.equal(cells, 512);
    assert.equal(result.error, undefined);
    assert.equal(result.outputIds.length, 100);
  });

  it("a GGUF recording a shorter context than the run: the run's length still holds", async () => {
    const { cells, result } = await run(await gguf("short.gguf", 64), 300, 200, 100);
    assert.equal(cells, 512);
    assert.equal(result.error, undefined);
    assert.equal(result.outputIds.length, 100);
  });
});
