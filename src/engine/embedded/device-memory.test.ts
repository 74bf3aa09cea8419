import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setLogSink } from "../../util/log.ts";
import {
  cpuDeviceMemory,
  deviceMemoryFromLlama,
  GIB,
  getDeviceMemory,
  type LlamaMemoryProbe,
} from "./device-memory.ts";

function fakeLlama(
  gpu: string | false,
  total: number,
  names: string[],
): LlamaMemoryProbe & { disposed: boolean } {
  return {
    gpu,
    disposed: false,
    getVramState: async () => ({ total }),
    getGpuDeviceNames: async () => names,
    async dispose() {
      this.disposed = true;
    },
  };
}

describe("device memory", () => {
  it("CPU: system RAM in GiB", () => {
    assert.deepEqual(cpuDeviceMemory(24 * GIB), {
      totalGb: 24,
      backend: "cpu",
      gpuCount: 0,
      gpuNames: [],
      source: "system RAM",
    });
  });
  it("GPU: one device's share of the VRAM, and the device count", async () => {
    const m = await deviceMemoryFromLlama(fakeLlama("cuda", 2 * 80 * GIB, ["H100", "H100"]));
    assert.equal(m.totalGb, 80);
    assert.equal(m.gpuCount, 2);
    assert.equal(m.backend, "cuda");
  });
  it("a backend that reports no VRAM falls back to RAM", async () => {
    const m = await deviceMemoryFromLlama(fakeLlama("vulkan", 0, []), 16 * GIB);
    assert.equal(m.backend, "cpu");
    assert.equal(m.totalGb, 16);
  });
  it("--device_memory wins without probing", async () => {
    let probed = false;
    const m = await getDeviceMemory({
      overrideGb: 140.4,
      probe: async () => {
        probed = true;
        return fakeLlama("cuda", GIB, ["x"]);
      },
    });
    assert.equal(m.totalGb, 140.4);
    assert.equal(m.source, "--device_memory");
    assert.equal(probed, false);
  });
  it("disposes the probe, and survives one that fails", async () => {
    const llama = fakeLlama("metal", 64 * GIB, ["Apple M3"]);
    assert.equal((await getDeviceMemory({ probe: async () => llama })).totalGb, 64);
    assert.equal(llama.disposed, true);
    const lines: string[] = [];
    const prev = setLogSink((l) => lines.push(l));
    try {
      const m = await getDeviceMemory({
        probe: async () => {
          throw new Error("no binary");
        },
      });
      assert.equal(m.backend, "cpu");
    } finally {
      setLogSink(prev);
    }
    assert.match(lines.join("\n"), /Cannot load llama\.cpp to probe devices \(no binary\)/);
  });
});
