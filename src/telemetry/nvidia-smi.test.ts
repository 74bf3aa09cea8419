import assert from "node:assert/strict";
import { delimiter } from "node:path";
import { after, before, describe, test } from "node:test";
import { installFakeNvidiaSmi } from "../../test/fixtures/fake-nvidia-smi.ts";
import { UnsupportedError } from "../errors.ts";
import { summarizeGpuMetrics } from "../metrics/gpu-telemetry.ts";
import { nowNs, sleep } from "../util/clock.ts";
import { setLogSink } from "../util/log.ts";
import { cell, GpuSampler, parseTimestamp, probeNvidiaSmi, samplerArgs } from "./nvidia-smi.ts";

let fake: Awaited<ReturnType<typeof installFakeNvidiaSmi>>;
const savedPath = process.env["PATH"];
const logs: string[] = [];
let restoreLog: ((l: string) => void) | undefined;

before(async () => {
  fake = await installFakeNvidiaSmi();
  process.env["PATH"] = `${fake.dir}${delimiter}${savedPath}`;
  restoreLog = setLogSink((l) => logs.push(l));
});
after(async () => {
  process.env["PATH"] = savedPath;
  delete process.env["FAKE_NVSMI_OLD_DRIVER"];
  delete process.env["FAKE_NVSMI_DIE_AFTER"];
  if (restoreLog) setLogSink(restoreLog);
  await fake.remove();
});

describe("nvidia-smi sampling", { timeout: 20_000 }, () => {
  test("the command line is nvidia-smi's long-running CSV query", () => {
    assert.deepEqual(samplerArgs("power.draw.instant", 250, undefined), [
      "--query-gpu=timestamp,index,power.draw.instant,utilization.gpu,utilization.memory,memory.used,memory.total,clocks.sm,clocks.mem",
      "--format=csv,noheader,nounits",
      "-lms",
      "250",
    ]);
    assert.deepEqual(samplerArgs("power.draw", 250, "0,1").slice(-2), ["-i", "0,1"]);
  });

  test("cells and timestamps as nvidia-smi prints them", () => {
    assert.equal(cell(" 312.45"), 312.45);
    assert.equal(cell(" [N/A]"), null);
    assert.equal(cell("[Not Supported]"), null);
    assert.equal(cell(""), null);
    const t = parseTimestamp("2025/03/04 05:06:07.089");
    assert.equal(t, new Date(2025, 2, 4, 5, 6, 7, 89).getTime());
    assert.equal(parseTimestamp("yesterday"), undefined);
  });

  test("probe lists the GPUs; an old driver falls back to power.draw", async () => {
    const p = await probeNvidiaSmi();
    assert.equal(p.powerField, "power.draw.instant");
    assert.deepEqual(
      p.gpus.map((g) => [g.index, g.name]),
      [
        [0, "NVIDIA H100 80GB HBM3"],
        [1, "NVIDIA H100 80GB HBM3"],
      ],
    );
    process.env["FAKE_NVSMI_OLD_DRIVER"] = "1";
    try {
      assert.equal((await probeNvidiaSmi({ gpus: "1" })).powerField, "power.draw");
    } finally {
      delete process.env["FAKE_NVSMI_OLD_DRIVER"];
    }
  });

  test("without nvidia-smi the probe is a clear UnsupportedError", async () => {
    await assert.rejects(
      probeNvidiaSmi({ bin: "/nonexistent/nvidia-smi" }),
      (e: unknown) => e instanceof UnsupportedError && /nvidia-smi/.test(e.message),
    );
  });

  test("samples both GPUs at 4 Hz and integrates their constant power exactly", async () => {
    const sampler = await GpuSampler.start();
    await sampler.firstSample();
    const a = nowNs();
    await sleep(700);
    const b = nowNs();
    await sampler.sampleAfter(b);
    const s = await sampler.stop();
    assert.equal(s.exitedEarly, undefined);
    assert.equal(s.badLines, 0);
    assert.deepEqual(
      s.gpus.map((g) => g.info.index),
      [0, 1],
    );
    for (const g of s.gpus)
      assert.ok(g.timeline.length >= 3, `GPU ${g.info.index}: ${g.timeline.length} samples`);
    const r = summarizeGpuMetrics(s, [a, b], 70, a);
    const w = (b - a) / 1e9;
    // 100 W + 200 W over the window; timestamps have 1 ms resolution.
    assert.ok(Math.abs(r.energyJ! - 300 * w) < 300 * 0.002 + 1e-6, `${r.energyJ} vs ${300 * w}`);
    assert.ok(Math.abs(r.avgPowerW! - 300) < 1);
    assert.ok(Math.abs(r.energyPerOutputTokenJ! - (300 * w) / 70) < 0.05);
    assert.equal(r.gpus[1]!.avgUtilGpuPct, 51);
    assert.equal(r.gpus[1]!.maxMemoryUsedMib, 2000);
    assert.equal(r.gpus[0]!.avgSmClockMhz, 1980);
    assert.equal(r.gpus[0]!.coverage, 1);
  });

  test("nvidia-smi dying mid-run is reported, not fatal", async () => {
    process.env["FAKE_NVSMI_DIE_AFTER"] = "2";
    try {
      const sampler = await GpuSampler.start({ gpus: "0" });
      // Never satisfied by a sample: resolves when nvidia-smi exits.
      await sampler.sampleAfter(Number.POSITIVE_INFINITY, 15_000);
      const s = await sampler.stop();
      assert.match(s.exitedEarly ?? "", /^exit 3/);
      assert.equal(s.gpus[0]!.timeline.length, 2);
      assert.ok(logs.some((l) => /nvidia-smi stopped during the run/.test(l)));
    } finally {
      delete process.env["FAKE_NVSMI_DIE_AFTER"];
    }
  });
});
