/**
 * The runtime bounds llama.cpp's outputs per decode (llama-native.ts limitedOutputs, native/greedy.cc
 * limitOutputs): node-llama-cpp's AddonContext class is swapped for a subclass only while the context is created,
 * and a decode that samples as many positions as the bound allows (several per sequence, as speculative
 * verification does) runs. llama.cpp aborts on more, so the step loop's own check is what keeps it from that.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { writeTinyGguf } from "../../../test/helpers/small-vocab.ts";
import { setLogLevel, setLogSink } from "../../util/log.ts";
import { tempDir } from "./gguf/test-support.ts";
import { loadLlamaRuntime } from "./llama-native.ts";
import { nativePausedArgmaxSteps } from "./native-greedy.ts";

let dir: string;
let cleanup: () => Promise<void>;
let gguf: string;

describe("outputs per decode", { timeout: 60_000 }, () => {
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    gguf = await writeTinyGguf(dir, "tiny.gguf", { contextLength: 256 });
  });
  after(async () => {
    await cleanup?.();
  });

  it("are bounded at context creation, and a decode up to the bound runs", async (t) => {
    if (nativePausedArgmaxSteps() === undefined) {
      t.skip("the native addon is not built here (no C++ compiler): llama.cpp keeps its default");
      return;
    }
    // llama.cpp's own report of its context parameters (its messages reach the log at debug level; this file
    // runs in its own process, so this is the first llama.cpp load here).
    const lines: string[] = [];
    setLogLevel("debug");
    const prev = setLogSink((line) => lines.push(line));
    let rt: Awaited<ReturnType<typeof loadLlamaRuntime>>;
    try {
      rt = await loadLlamaRuntime({
        modelPath: gguf,
        sequences: 3,
        contextSize: 256,
        batchSize: 64,
        threads: 1,
        gpu: false,
        kvCacheType: "F16",
        outputs: { max: 6, perSequence: 2 },
      });
    } finally {
      setLogSink(prev);
      setLogLevel("info");
    }
    try {
      assert.equal(rt.maxOutputs, 6);
      const said = (key: string) => lines.find((l) => new RegExp(`llama_context: ${key} += `).test(l));
      assert.match(said("n_outputs_max") ?? "", /= 6$/);
      assert.match(said("n_outputs_max_per_seq") ?? "", /= 2$/);
      const bindings = (rt.llama as unknown as { _bindings: { AddonContext: object } })._bindings;
      // node-llama-cpp's own class again (a subclass's prototype is the class it extends).
      assert.equal(Object.getPrototypeOf(bindings.AddonContext), Function.prototype);
      const sampling = rt.newGreedySampling();
      try {
        rt.native.initBatch(12);
        const at: number[] = [];
        for (let seq = 0; seq < 3; seq++) {
          const tokens = Uint32Array.from([10 + seq, 20, 30, 40]);
          for (const i of rt.native.addToBatch(seq, 0, tokens, Uint32Array.from([2, 3]))) at.push(i);
        }
        const timings = new Float64Array(2);
        const tokens = await sampling.decodeAndSample(rt.native, at, timings);
        assert.equal(tokens.length, 6);
      } finally {
        sampling.dispose();
      }
    } finally {
      await rt.dispose();
    }
  });
});
