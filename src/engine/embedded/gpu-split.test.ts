import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UnsupportedError, UsageError } from "../../errors.ts";
import type { GpuInfo } from "../machine.ts";
import { checkSplitDevices, describeSplit, planGpuSplit } from "./gpu-split.ts";

const gpu = (index: number): GpuInfo => ({
  index,
  name: "NVIDIA H100 80GB HBM3",
  memoryTotalGiB: 79.6,
  memoryClockGHz: 2.619,
  uuid: `GPU-${index}aaaaaaa-0000`,
});
const four = [0, 1, 2, 3].map(gpu);
const base = { configPath: "/e/config.json", device: "auto", visible: four, cudaVisibleDevices: undefined };

describe("planGpuSplit", { timeout: 5_000 }, () => {
  it("pp_size N takes the first N visible GPUs and narrows CUDA_VISIBLE_DEVICES to them", () => {
    const p = planGpuSplit({ ...base, tpSize: 1, ppSize: 2 });
    assert.equal(p.split, "layer");
    assert.equal(p.worldSize, 2);
    assert.deepEqual(
      p.gpus.map((g) => g.index),
      [0, 1],
    );
    assert.equal(p.cudaVisibleDevices, "0,1");
    assert.equal(describeSplit(p), "layers split over 2 GPUs (0, 1)");
  });

  it("keeps the user's CUDA_VISIBLE_DEVICES order and spelling (indexes or UUID prefixes)", () => {
    const visible = [gpu(3), gpu(1), gpu(2)];
    const p = planGpuSplit({ ...base, visible, cudaVisibleDevices: "3,GPU-1aaa,2", tpSize: 1, ppSize: 2 });
    assert.equal(p.cudaVisibleDevices, "3,GPU-1aaa");
    assert.deepEqual(
      p.gpus.map((g) => g.index),
      [3, 1],
    );
  });

  it("pins a one-GPU engine to one GPU, so llama.cpp does not spread it over all it sees", () => {
    const p = planGpuSplit({ ...base, tpSize: 1, ppSize: 1 });
    assert.equal(p.split, "none");
    assert.equal(p.cudaVisibleDevices, "0");
    assert.equal(describeSplit(p), undefined);
    // one GPU visible, or the CPU asked for, or no nvidia-smi: nothing to change
    assert.equal(
      planGpuSplit({ ...base, visible: [gpu(5)], tpSize: 1, ppSize: 1 }).cudaVisibleDevices,
      undefined,
    );
    assert.equal(
      planGpuSplit({ ...base, device: "cpu", tpSize: 1, ppSize: 1 }).cudaVisibleDevices,
      undefined,
    );
    assert.equal(planGpuSplit({ ...base, visible: [], tpSize: 1, ppSize: 1 }).cudaVisibleDevices, undefined);
  });

  it("more GPUs than visible is a usage error naming what was found", () => {
    assert.throws(
      () => planGpuSplit({ ...base, visible: [gpu(1)], cudaVisibleDevices: "1", tpSize: 1, ppSize: 2 }),
      (e: Error) =>
        e instanceof UsageError &&
        /\/e\/config\.json: pp_size 2 needs 2 GPUs, but nvidia-smi lists 1 GPU\(s\) visible to this process with CUDA_VISIBLE_DEVICES="1" \(1: NVIDIA H100 80GB HBM3\)/.test(
          e.message,
        ),
    );
    assert.throws(
      () => planGpuSplit({ ...base, device: "cpu", tpSize: 1, ppSize: 2 }),
      (e: Error) => e instanceof UsageError && /--device cpu/.test(e.message),
    );
  });

  it("tp_size > 1 is refused with the reason and the way out, whatever the GPUs", () => {
    assert.throws(
      () => planGpuSplit({ ...base, tpSize: 2, ppSize: 1 }),
      (e: Error) =>
        e instanceof UnsupportedError &&
        /row split .* not exposed by node-llama-cpp 3\.21\.1/.test(e.message) &&
        /--tp_size 1 --pp_size 2/.test(e.message),
    );
  });

  it("without nvidia-smi the GPU count is checked once llama.cpp has loaded", () => {
    const p = planGpuSplit({ ...base, visible: [], tpSize: 1, ppSize: 2 });
    assert.equal(p.split, "layer");
    assert.equal(p.cudaVisibleDevices, undefined);
    assert.equal(describeSplit(p), "layers split over 2 GPUs");
    checkSplitDevices(p, "vulkan", ["A", "B"], "/e/config.json");
    assert.throws(
      () => checkSplitDevices(p, "vulkan", ["A"], "/e/config.json"),
      (e: Error) => e instanceof UsageError && /vulkan backend sees 1 GPU\(s\) \(A\)/.test(e.message),
    );
    assert.throws(
      () => checkSplitDevices(p, "cpu", [], "/e/config.json"),
      (e: Error) => e instanceof UsageError && /runs on the CPU here/.test(e.message),
    );
    // one device: nothing to check
    checkSplitDevices(planGpuSplit({ ...base, tpSize: 1, ppSize: 1 }), "cpu", [], "/e/config.json");
  });
});
