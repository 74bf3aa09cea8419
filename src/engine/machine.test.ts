import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  computeSummary,
  describeMachine,
  gpuSummary,
  type HostInfo,
  parseGpuCsv,
  probeHost,
  visibleGpus,
} from "./machine.ts";

const CSV = [
  "0, NVIDIA H100 80GB HBM3, 81559, 2619, GPU-aaaa1111-2222, 570.124.06",
  "1, NVIDIA H100 80GB HBM3, 81559, 2619, GPU-bbbb3333-4444, 570.124.06",
  "",
].join("\n");

const host = (gpus = parseGpuCsv(CSV).gpus): HostInfo => ({
  cpu: "Intel Xeon",
  cpuCores: 16,
  memoryGiB: 125.8,
  os: "Linux 6.1",
  gpus,
  driverVersion: "570.124.06",
  cudaVersion: "12.8",
});

describe("machine", { timeout: 20_000 }, () => {
  it("reads nvidia-smi's CSV (MiB -> GiB, MHz -> GHz)", () => {
    const { gpus, driverVersion } = parseGpuCsv(CSV);
    assert.equal(gpus.length, 2);
    assert.equal(gpus[1]!.name, "NVIDIA H100 80GB HBM3");
    assert.equal(gpus[0]!.memoryTotalGiB, 81559 / 1024);
    assert.equal(gpus[0]!.memoryClockGHz, 2.619);
    assert.equal(driverVersion, "570.124.06");
  });

  it("applies CUDA_VISIBLE_DEVICES as CUDA does (indexes, UUID prefixes, stop at the first unknown)", () => {
    const all = parseGpuCsv(CSV).gpus;
    assert.deepEqual(
      visibleGpus(all, "1").map((g) => g.index),
      [1],
    );
    assert.deepEqual(
      visibleGpus(all, "GPU-bbbb,0").map((g) => g.index),
      [1, 0],
    );
    assert.deepEqual(
      visibleGpus(all, "0,7,1").map((g) => g.index),
      [0],
    );
    assert.deepEqual(visibleGpus(all, ""), []);
    assert.equal(visibleGpus(all, undefined).length, 2);
  });

  it("names the GPU that ran, or the CPU, in trtllm-bench's fields", () => {
    const gpu = describeMachine(host(), {
      backend: "cuda",
      devices: ["NVIDIA H100 80GB HBM3"],
      gpuLayers: { offloaded: 33, total: 33 },
      flashAttention: "on",
      threads: 15,
    });
    assert.equal(gpu.name, "NVIDIA H100 80GB HBM3");
    assert.equal(gpu.memoryClockGHz, 2.619);
    assert.equal(
      computeSummary(gpu.compute),
      "cuda (NVIDIA H100 80GB HBM3), 33/33 layers on GPU, flash attention on, 15 threads",
    );
    const cpu = describeMachine(host(), { backend: "cpu", devices: [], threads: 1 });
    assert.equal(cpu.name, "Intel Xeon");
    assert.equal(cpu.memoryTotalGiB, 125.8);
    const remote = describeMachine(host([]), undefined);
    assert.equal(remote.compute.backend, "remote");
    assert.match(computeSummary(remote.compute), /remote server/);
    assert.equal(gpuSummary(host([])), undefined);
    assert.match(
      gpuSummary(host())!,
      /0: NVIDIA H100 80GB HBM3 \(79\.6 GiB\); .*driver 570\.124\.06, CUDA 12\.8/,
    );
  });

  it("probes the host through nvidia-smi when it is on PATH", async () => {
    const dir = await mkdtemp(join(tmpdir(), "llm-bench-smi-"));
    try {
      const smi = join(dir, "nvidia-smi");
      await writeFile(
        smi,
        `#!/bin/sh\nif [ -n "$1" ]; then printf '%s' '${CSV}'; else echo '| NVIDIA-SMI 570.124.06   Driver Version: 570.124.06   CUDA Version: 12.8 |'; fi\n`,
      );
      await chmod(smi, 0o755);
      const h = await probeHost({
        ...process.env,
        PATH: `${dir}:${process.env.PATH}`,
        CUDA_VISIBLE_DEVICES: "1",
      });
      assert.equal(h.gpus.length, 1);
      assert.equal(h.gpus[0]!.index, 1);
      assert.equal(h.cudaVersion, "12.8");
      assert.ok(h.cpuCores >= 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
