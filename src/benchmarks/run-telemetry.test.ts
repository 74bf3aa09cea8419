import assert from "node:assert/strict";
import { delimiter } from "node:path";
import { after, before, describe, test } from "node:test";
import { installFakeNvidiaSmi } from "../../test/fixtures/fake-nvidia-smi.ts";
import { openaiBackend } from "../engine/openai/index.ts";
import type { Engine } from "../engine/types.ts";
import { UsageError } from "../errors.ts";
import { setLogSink } from "../util/log.ts";
import { RunTelemetry, serverMetricsTarget, visibleGpuList } from "./run-telemetry.ts";

let fake: Awaited<ReturnType<typeof installFakeNvidiaSmi>>;
const savedPath = process.env["PATH"];
const logs: string[] = [];
let restore: ((l: string) => void) | undefined;
before(async () => {
  fake = await installFakeNvidiaSmi();
  restore = setLogSink((l) => logs.push(l));
});
after(async () => {
  process.env["PATH"] = savedPath;
  if (restore) setLogSink(restore);
  await fake.remove();
});

const engineOn = (device: string | undefined) => ({ device }) as unknown as Engine;

describe("RunTelemetry", { timeout: 20_000 }, () => {
  test("GPU telemetry starts by itself for an engine on CUDA when nvidia-smi exists, and only then", async () => {
    process.env["PATH"] = `${fake.dir}${delimiter}${savedPath}`;
    const cuda = await RunTelemetry.start(undefined, engineOn("cuda"), undefined);
    assert.equal(cuda.active, true);
    const got = await cuda.stop(undefined);
    assert.equal(got.gpu!.gpus.length, 2);
    for (const [opts, device] of [
      [undefined, "cpu"],
      [undefined, undefined],
      [{ gpuMetrics: false }, "cuda"],
    ] as const) {
      const t = await RunTelemetry.start(opts, engineOn(device), undefined);
      assert.equal(t.active, false, `${device} ${JSON.stringify(opts)}`);
    }
    // No nvidia-smi: the automatic start steps aside; an explicit --gpu_metrics would have failed before the run.
    process.env["PATH"] = "/nonexistent";
    logs.length = 0;
    const none = await RunTelemetry.start(undefined, engineOn("cuda"), undefined);
    assert.equal(none.active, false);
    assert.ok(
      logs.some((l) =>
        /GPU telemetry off: the engine runs on CUDA but GPU telemetry needs nvidia-smi/.test(l),
      ),
    );
    await assert.rejects(RunTelemetry.start({ gpuMetrics: true }, engineOn("cpu"), undefined), /nvidia-smi/);
    process.env["PATH"] = savedPath;
  });

  test("the scrape target: <base_url>/metrics without /v1; credentials only for the benchmarked server", () => {
    const openai = openaiBackend.server({
      baseUrl: "http://127.0.0.1:8000/v1/",
      endpoint: "completions" as const,
      requestTimeoutMs: 1000,
      apiKey: "sk-1",
      headers: { "x-org": "a" },
    });
    assert.deepEqual(serverMetricsTarget({ intervalS: 1 }, openai), {
      url: "http://127.0.0.1:8000/metrics",
      headers: { "x-org": "a", authorization: "Bearer sk-1" },
    });
    assert.deepEqual(serverMetricsTarget({ url: "http://127.0.0.1:9400/metrics", intervalS: 1 }, openai), {
      url: "http://127.0.0.1:9400/metrics",
      headers: {},
    });
    assert.throws(() => serverMetricsTarget({ intervalS: 1 }, undefined), UsageError);
    assert.throws(() => serverMetricsTarget({ url: "nope", intervalS: 1 }, undefined), /is not a URL/);
  });
});

describe("GPU selection for telemetry", { timeout: 5_000 }, () => {
  test("CUDA_VISIBLE_DEVICES becomes nvidia-smi's -i list, up to the first empty entry", () => {
    assert.equal(visibleGpuList(undefined), undefined);
    assert.equal(visibleGpuList(""), undefined);
    assert.equal(visibleGpuList("1, 0"), "1,0");
    assert.equal(visibleGpuList("GPU-aaaa,,2"), "GPU-aaaa");
  });
});
