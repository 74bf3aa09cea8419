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
import { DECODE_FAILED, nativePausedArgmaxSteps } from "./native-greedy.ts";

type Runtime = Awaited<ReturnType<typeof loadLlamaRuntime>>;

/** 3 sequences on the CPU, at most 6 outputs a decode and 2 a sequence. */
function load(deviceSampling: boolean): Promise<Runtime> {
  return loadLlamaRuntime({
    modelPath: gguf,
    sequences: 3,
    contextSize: 256,
    batchSize: 64,
    threads: 1,
    gpu: false,
    kvCacheType: "F16",
    outputs: { max: 6, perSequence: 2 },
    deviceSampling,
  });
}

/** One decode of 4 tokens for each of 3 sequences from `from`, sampling the last 2 of each. */
async function twoEach(
  rt: Runtime,
  sampling: ReturnType<Runtime["newGreedySampling"]>,
  from: number,
): Promise<number[]> {
  rt.native.initBatch(12);
  const at: number[] = [];
  for (let seq = 0; seq < 3; seq++) {
    const tokens = Uint32Array.from([10 + seq, 20 + from, 30, 40]);
    for (const i of rt.native.addToBatch(seq, from, tokens, Uint32Array.from([2, 3]))) at.push(i);
  }
  return sampling.decodeAndSample(rt.native, at, new Float64Array(2));
}

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
    const said = (key: string) => lines.find((l) => new RegExp(`llama_context: ${key} += `).test(l));
    setLogLevel("debug");
    const prev = setLogSink((line) => lines.push(line));
    let rt: Runtime;
    try {
      rt = await load(false);
      // node-llama-cpp hands llama.cpp's messages to JS through a thread-safe callback: they may arrive after the
      // context is returned.
      for (let waited = 0; said("n_outputs_max_per_seq") === undefined && waited < 5_000; waited += 20) {
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      setLogSink(prev);
      setLogLevel("info");
    }
    try {
      assert.equal(rt.maxOutputs, 6);
      assert.match(said("n_outputs_max") ?? "", /= 6$/);
      assert.match(said("n_outputs_max_per_seq") ?? "", /= 2$/);
      const bindings = (rt.llama as unknown as { _bindings: { AddonContext: object } })._bindings;
      // node-llama-cpp's own class again (a subclass's prototype is the class it extends).
      assert.equal(Object.getPrototypeOf(bindings.AddonContext), Function.prototype);
      const sampling = rt.newGreedySampling();
      try {
        assert.equal((await twoEach(rt, sampling, 0)).length, 6);
      } finally {
        sampling.dispose();
      }
    } finally {
      await rt.dispose();
    }
  });

  it("per sequence too, with samplers in the graph: up to the bound runs, beyond it fails the decode", async (t) => {
    if (nativePausedArgmaxSteps() === undefined) {
      t.skip("the native addon is not built here (no C++ compiler): nothing samples in the graph");
      return;
    }
    const rt = await load(true);
    const sampling = rt.newGreedySampling();
    try {
      const host = await twoEach(rt, sampling, 0);
      assert.equal(sampling.path, "llama.cpp greedy in the graph");
      const graph = await twoEach(rt, sampling, 4);
      assert.equal(graph.length, 6);
      assert.ok(
        graph.every((t) => Number.isInteger(t) && t >= 0),
        String(graph),
      );
      assert.equal(host.length, 6);
      // Three outputs of one sequence: llama.cpp refuses the batch (no abort), and the step fails.
      rt.native.initBatch(4);
      const at = Array.from(
        rt.native.addToBatch(0, 8, Uint32Array.from([1, 2, 3, 4]), Uint32Array.from([1, 2, 3])),
      );
      await assert.rejects(sampling.decodeAndSample(rt.native, at, new Float64Array(2)), (err: Error) => {
        assert.equal((err as { code?: string }).code, DECODE_FAILED);
        return true;
      });
    } finally {
      sampling.dispose();
      await rt.dispose();
    }
  });
});
