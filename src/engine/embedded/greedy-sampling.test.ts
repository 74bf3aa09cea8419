import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EngineError } from "../../errors.ts";
import {
  GreedySampling,
  gpuChoice,
  llamaLoadError,
  type NativeContext,
  type NativeSampler,
  threadPoolSize,
} from "./llama-native.ts";

/** A native context whose sampling calls finish after a random delay, recording how samplers are shared. */
function fakeNative() {
  const inUse = new Set<NativeSampler>();
  const state = { maxParallel: 0, running: 0, firstDoneBeforeOthers: true, calls: [] as number[] };
  let firstDone = false;
  const native = {
    sampleToken(pos: number, sampler: NativeSampler): Promise<number> {
      assert.ok(!inUse.has(sampler), "a sampler was used by two calls at once");
      if (state.calls.length > 0 && !firstDone) state.firstDoneBeforeOthers = false;
      state.calls.push(pos);
      inUse.add(sampler);
      state.running++;
      state.maxParallel = Math.max(state.maxParallel, state.running);
      return new Promise((resolve) =>
        setTimeout(() => {
          inUse.delete(sampler);
          state.running--;
          firstDone = true;
          resolve(pos * 10);
        }, Math.random() * 3),
      );
    },
  } as unknown as NativeContext;
  return { native, state };
}

function fakeSampler(): NativeSampler {
  return { applyConfig() {}, dispose() {} };
}

describe("GreedySampling", { timeout: 20_000 }, () => {
  it("samples every position in order, the first alone, lanes never sharing a sampler", async () => {
    let made = 0;
    const g = new GreedySampling(() => {
      made++;
      return fakeSampler();
    }, 4);
    const { native, state } = fakeNative();
    const positions = Array.from({ length: 37 }, (_, i) => i * 3);
    const out = await g.sample(native, positions);
    assert.deepEqual(
      out,
      positions.map((p) => p * 10),
    );
    assert.ok(state.firstDoneBeforeOthers, "the first read must finish before the parallel ones start");
    assert.equal(state.maxParallel, 4);
    assert.equal(made, 4, "one sampler per lane, reused across steps");
    await g.sample(native, positions.slice(0, 3));
    assert.equal(made, 4);
    assert.deepEqual(await g.sample(native, []), []);
    g.dispose();
    await assert.rejects(g.sample(native, [1]), EngineError);
  });

  it("reads the pool size libuv uses", () => {
    assert.equal(threadPoolSize({}), 4);
    assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: "16" }), 16);
    assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: "junk" }), 4);
    assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: "5000" }), 1024);
  });
});

describe("device selection and load errors", () => {
  it("maps --device to node-llama-cpp's gpu option", () => {
    assert.equal(gpuChoice(undefined), "auto");
    assert.equal(gpuChoice("cpu"), false);
    assert.equal(gpuChoice("cuda"), "cuda");
  });

  it("turns NoBinaryFoundError into one message naming the package and the ways out", () => {
    const err = Object.assign(new Error("NoBinaryFoundError"), { name: "NoBinaryFoundError" });
    const e = llamaLoadError(err, "cuda");
    assert.ok(e instanceof EngineError);
    assert.match(e.message, /no llama\.cpp binary for CUDA/);
    assert.match(e.message, /@node-llama-cpp\/[a-z0-9]+-[a-z0-9]+-cuda/);
    assert.match(e.message, /source build --gpu cuda/);
    assert.match(e.message, /--device cpu/);
    assert.match(
      llamaLoadError(new Error("boom"), false).message,
      /cannot load llama\.cpp for the CPU .*boom/,
    );
  });
});
