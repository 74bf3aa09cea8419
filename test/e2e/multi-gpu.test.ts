/**
 * TP/PP engines through the real CLI on a machine without the GPUs they need: every case is a clear error,
 * before any weights load or anything is written. The GPUs nvidia-smi reports come from the fake nvidia-smi
 * (test/fixtures), first on PATH.
 */
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { installFakeNvidiaSmi } from "../fixtures/fake-nvidia-smi.ts";
import { assertTypedError, MODEL, type Run, start } from "../helpers/cli-run.ts";

const cli = (args: string[], env: NodeJS.ProcessEnv): Promise<Run> =>
  start([...MODEL, ...args], 90_000, env).done;

describe("several GPUs asked for, not there", { timeout: 240_000 }, () => {
  let ws: string;
  let fake: Awaited<ReturnType<typeof installFakeNvidiaSmi>>;
  let noSmi: NodeJS.ProcessEnv;
  let withSmi: NodeJS.ProcessEnv;
  let dataset: string;
  const engine = (tp: number, pp: number) => join(ws, "llm-bench", "tiny-llama", `tp_${tp}_pp_${pp}`);

  before(async () => {
    ws = mkdtempSync(join(tmpdir(), "llm-bench-mgpu-"));
    fake = await installFakeNvidiaSmi();
    const { CUDA_VISIBLE_DEVICES: _, ...rest } = process.env;
    noSmi = { ...rest, PATH: `${join(ws, "no-bin")}${delimiter}/usr/bin${delimiter}/bin` };
    withSmi = { ...rest, PATH: `${fake.dir}${delimiter}${process.env["PATH"]}` };
    dataset = join(ws, "d.jsonl");
    const lines = Array.from({ length: 2 }, (_, i) =>
      JSON.stringify({ task_id: i, input_ids: [1, 2, 3, 4, 5, 6, 7, 8], output_tokens: 4 }),
    );
    writeFileSync(dataset, `${lines.join("\n")}\n`);
    const b = await cli(["--workspace", ws, "build", "--dataset", dataset], noSmi);
    assert.equal(b.code, 0, b.stderr);
    // The same engine, recorded as pipeline- and tensor-parallel (the GGUF does not depend on the split).
    for (const [tp, pp] of [
      [1, 2],
      [2, 1],
    ] as const) {
      cpSync(engine(1, 1), engine(tp, pp), { recursive: true });
      const cfgPath = join(engine(tp, pp), "config.json");
      const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
      cfg.pretrained_config.mapping = { tp_size: tp, pp_size: pp, world_size: tp * pp };
      writeFileSync(cfgPath, JSON.stringify(cfg));
    }
  });
  after(async () => {
    await fake?.remove();
    rmSync(ws, { recursive: true, force: true });
  });

  const throughput = (dir: string, extra: string[] = []) => [
    "throughput",
    "--dataset",
    dataset,
    "--engine_dir",
    dir,
    "--warmup",
    "0",
    "--report_json",
    join(ws, "never.json"),
    ...extra,
  ];

  it("pp_size 2 with one GPU visible names the GPU and CUDA_VISIBLE_DEVICES", async () => {
    const r = await cli(throughput(engine(1, 2)), { ...withSmi, CUDA_VISIBLE_DEVICES: "1" });
    assertTypedError(
      r,
      2,
      /config\.json: pp_size 2 needs 2 GPUs, but nvidia-smi lists 1 GPU\(s\) visible to this process with CUDA_VISIBLE_DEVICES="1" \(1: NVIDIA H100 80GB HBM3\)/,
      "pp2 on one GPU",
    );
    assert.equal(existsSync(join(ws, "never.json")), false);
  });

  it("pp_size 2 without any GPU backend fails before loading the weights", async () => {
    const r = await cli(throughput(engine(1, 2)), noSmi);
    assertTypedError(r, 2, /pp_size 2 needs 2 GPUs, but llama\.cpp runs on the CPU here/, "pp2 on a CPU");
    const cpu = await cli(throughput(engine(1, 2), ["--device", "cpu"]), withSmi);
    assertTypedError(
      cpu,
      2,
      /pp_size 2 splits the model over 2 GPUs, but --device cpu was given/,
      "pp2 --device cpu",
    );
  });

  it("tp_size 2 says why the embedded engine cannot run it, at throughput and at build", async () => {
    const r = await cli(throughput(engine(2, 1)), withSmi);
    assertTypedError(
      r,
      1,
      /tp_size 2 asks for tensor parallelism.*node-llama-cpp 3\.21\.1/,
      "tp2 throughput",
    );
    const b = await cli(
      ["--workspace", join(ws, "tp2"), "build", "--dataset", dataset, "--tp_size", "2"],
      withSmi,
    );
    assertTypedError(
      b,
      1,
      /build: tp_size 2 asks for tensor parallelism.*--tp_size 1 --pp_size 2/,
      "tp2 build",
    );
    assert.equal(existsSync(join(ws, "tp2", "llm-bench")), false, "nothing written");
    // --dry_run still plans it, for engines that can run it
    const plan = await cli(
      ["--workspace", join(ws, "tp2"), "build", "--dataset", dataset, "--tp_size", "2", "--dry_run"],
      withSmi,
    );
    assert.equal(plan.code, 0, plan.stderr);
  });
});
