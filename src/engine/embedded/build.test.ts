import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { readGgufFileInfo } from "node-llama-cpp";
import { ConfigError, UnsupportedError } from "../../errors.ts";
import { setLogSink } from "../../util/log.ts";
import { type BuildOptions, buildEngine } from "./build.ts";
import { locateWeights } from "./build-weights.ts";
import { readEngineConfig } from "./engine-dir.ts";

let root: string;
let dataset: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "llmb-build-"));
  dataset = join(root, "synthetic_128_128.jsonl");
  const lines: string[] = [];
  for (let i = 0; i < 20; i++) {
    const ids = Array.from({ length: 128 }, (_, j) => 1000 + ((i * 131 + j * 7) % 5000));
    lines.push(JSON.stringify({ task_id: i, input_ids: ids, output_tokens: 128 }));
  }
  await writeFile(dataset, `${lines.join("\n")}\n`);
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Runs a build with captured log lines and step lines; never probes the real devices. */
async function run(opts: Partial<BuildOptions> & { model: string; workspace: string }) {
  const logs: string[] = [];
  const steps: string[] = [];
  const prev = setLogSink((l) => logs.push(l));
  try {
    const result = await buildEngine({
      deviceProbe: async () => undefined,
      out: (l) => steps.push(l),
      ...opts,
    });
    return { result, logs: logs.join("\n"), steps };
  } finally {
    setLogSink(prev);
  }
}

async function listAll(dir: string): Promise<string[]> {
  try {
    return await readdir(dir, { recursive: true });
  } catch {
    return [];
  }
}

describe("buildEngine --dry_run", () => {
  it("plans the quickstart's Llama-3.1-8B FP8 build from a dataset and writes nothing", async () => {
    const workspace = join(root, "ws-dry");
    const { result, logs, steps } = await run({
      model: "meta-llama/Llama-3.1-8B",
      workspace,
      dataset,
      quantization: "FP8",
      dryRun: true,
      deviceMemoryGb: 24,
    });
    assert.equal(result.written, false);
    assert.equal(result.engineDir, join(workspace, "meta-llama", "Llama-3.1-8B", "tp_1_pp_1"));
    assert.deepEqual(await listAll(workspace), []);
    assert.deepEqual(steps, []);
    // 24 GiB, FP8 weights and cache: (24 - 7.48) * 0.95 = 15.70 GB, / (256 tokens x 6.1035e-5 GB) = 1004.49.
    assert.match(logs, /Number of Sequences:\t20\n/);
    assert.match(logs, /Estimated total available memory for KV cache: 16\.52 GB/);
    assert.match(logs, /Estimated max number of requests in KV cache memory: 1004\.49/);
    assert.match(logs, /Estimated max batch size \(after fine-tune\): 1024/);
    assert.match(logs, /Estimated max num tokens \(after fine-tune\): 2048/);
    assert.match(logs, /= ENGINE BUILD INFO[\s\S]*Engine Directory:\t.*Llama-3\.1-8B\/tp_1_pp_1/);
    assert.match(logs, /GGUF Weight Type:\t\tQ8_0\nllama\.cpp KV Cache Type:\tq8_0/);
    assert.equal(result.plan.maxBatchSize, 1024);
    assert.equal(result.plan.maxSeqLen, 256);
    // Q8_0 of 8.03 B parameters (norms stay F32) is about 7.96 GiB.
    assert.ok(
      result.plan.plannedGgufBytes > 7.9 * 1024 ** 3 && result.plan.plannedGgufBytes < 8.0 * 1024 ** 3,
    );
  });

  it("reproduces the 0.17 docs log with heuristic A on an H200 (143771 MiB)", async () => {
    const { result, logs } = await run({
      model: "meta-llama/Llama-3.1-8B",
      workspace: join(root, "ws-a"),
      targetInputLen: 128,
      targetOutputLen: 128,
      maxSeqLen: 256,
      quantization: "FP8",
      dryRun: true,
      deviceMemoryGb: 143771 / 1024,
      heuristicVersion: "A",
    });
    assert.match(logs, /Estimated total available memory for KV cache: 132\.37 GB/);
    assert.match(logs, /Estimated total KV cache memory: 125\.75 GB/);
    assert.match(logs, /Estimated max number of requests in KV cache memory: 8048\.16/);
    assert.equal(result.plan.maxBatchSize, 4096);
    assert.equal(result.plan.maxNumTokens, 8192);
  });

  it("--compat picks the heuristic (0.17: A with rounded-up dataset averages); --heuristic_version overrides", async () => {
    // ISL 114/115 and OSL 128/129 average 114.5 / 128.5: 0.17 (Python, NVFP4, one H100) gives 4096 / 7680.
    const d = join(root, "half.jsonl");
    const line = (i: number, isl: number, osl: number) =>
      JSON.stringify({ task_id: i, input_ids: new Array(isl).fill(7), output_tokens: osl });
    await writeFile(d, `${line(0, 114, 128)}\n${line(1, 115, 129)}\n`);
    const plan = async (over: Partial<BuildOptions>) =>
      (
        await run({
          model: "meta-llama/Llama-3.1-8B",
          workspace: join(root, "ws-compat"),
          dataset: d,
          quantization: "NVFP4",
          dryRun: true,
          deviceMemoryGb: 81559 / 1024,
          ...over,
        })
      ).result.plan;
    const old = await plan({ compat: "0.17" });
    assert.equal(old.heuristic?.estimate.version, "A");
    assert.deepEqual([old.targetInputLen, old.targetOutputLen], [115, 129]);
    assert.deepEqual([old.maxBatchSize, old.maxNumTokens], [4096, 7680]);
    const latest = await plan({ compat: "latest" });
    assert.equal(latest.heuristic?.estimate.version, "B");
    assert.deepEqual([latest.targetInputLen, latest.targetOutputLen], [114, 128]);
    const overridden = await plan({ compat: "0.17", heuristicVersion: "B" });
    assert.equal(overridden.heuristic?.estimate.version, "B");
    assert.deepEqual([overridden.targetInputLen, overridden.targetOutputLen], [114, 128]);
  });

  it("plans a TP2-PP2 70B build although this machine could not run it", async () => {
    const { result } = await run({
      model: "meta-llama/Llama-3.1-70B",
      workspace: join(root, "ws-70b"),
      dataset,
      quantization: "FP8",
      tpSize: 2,
      ppSize: 2,
      dryRun: true,
      deviceMemoryGb: 80,
    });
    // 4 x 80 GiB - 65.71 GiB of FP8 weights, 80 layers x 8 KV heads: 4096 requests / 2 PP stages.
    assert.equal(result.plan.maxBatchSize, 2048);
    assert.equal(result.plan.engineDir, join(root, "ws-70b", "meta-llama", "Llama-3.1-70B", "tp_2_pp_2"));
  });

  it("fails like the seed when the weights do not fit", async () => {
    await assert.rejects(
      run({
        model: "meta-llama/Llama-3.1-8B",
        workspace: join(root, "ws-small"),
        dataset,
        dryRun: true,
        deviceMemoryGb: 4,
      }),
      (e: unknown) => e instanceof UnsupportedError && /requires at least: 14\.96 GB/.test(e.message),
    );
  });
});

describe("buildEngine (real build, llm-bench/tiny-llama)", () => {
  it("writes config.json, the GGUF and the tokenizer files, and can rebuild in place", async () => {
    const workspace = join(root, "ws-tiny");
    const { result, logs, steps } = await run({
      model: "llm-bench/tiny-llama",
      workspace,
      dataset,
      quantization: "FP8",
    });
    const dir = join(workspace, "llm-bench", "tiny-llama", "tp_1_pp_1");
    assert.equal(result.engineDir, dir);
    assert.equal(result.written, true);
    assert.deepEqual((await readdir(dir)).sort(), [
      "config.json",
      "tiny-llama-Q8_0.gguf",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    const cfg = await readEngineConfig(dir);
    assert.deepEqual(cfg.pretrained_config.quantization, { quant_algo: "FP8", kv_cache_quant_algo: "FP8" });
    assert.deepEqual(cfg.pretrained_config.mapping, { tp_size: 1, pp_size: 1, world_size: 1 });
    assert.equal(cfg.build_config.max_seq_len, 256);
    assert.equal(cfg.build_config.max_batch_size, 4096);
    assert.equal(cfg.llm_bench.weight_type, "Q8_0");
    assert.equal(cfg.llm_bench.kv_cache_type, "q8_0");
    assert.equal(cfg.llm_bench.gguf_bytes, (await stat(join(dir, cfg.llm_bench.gguf_file))).size);
    assert.equal(cfg.llm_bench.model_config["hidden_size"], 256);
    // The GGUF records the model's context length (max_position_embeddings), not the dataset's 256, so that
    // llama-server loads it without --override-kv; the run's limits live in config.json.
    const gguf = await readGgufFileInfo(join(dir, cfg.llm_bench.gguf_file), {
      logWarnings: false,
      readTensorInfo: false,
    });
    assert.equal(
      (gguf.metadata as unknown as { llama: Record<string, unknown> }).llama["context_length"],
      4096,
    );
    assert.ok(
      Math.abs(cfg.llm_bench.gguf_bytes - result.plan.plannedGgufBytes) / cfg.llm_bench.gguf_bytes < 0.05,
    );
    assert.deepEqual(
      steps.filter((s) => s.startsWith("Loading Model:")).map((s) => s.split("\t")[0]),
      ["Loading Model: [1/3]", "Loading Model: [2/3]", "Loading Model: [3/3]"],
    );
    assert.equal(steps.filter((s) => /^Time: \d+\.\d{3}s$/.test(s)).length, 3);
    assert.match(logs, new RegExp(`ENGINE SAVED: ${dir}\n`));

    const again = await run({
      model: "llm-bench/tiny-llama",
      workspace,
      maxSeqLen: 64,
      maxBatchSize: 8,
      maxNumTokens: 256,
    });
    assert.equal((await readEngineConfig(dir)).build_config.max_batch_size, 8);
    assert.equal(again.result.plan.quant.weightType, "BF16");
    assert.deepEqual(await readdir(join(workspace, "llm-bench", "tiny-llama")), ["tp_1_pp_1"]);
  });

  it("reuses an existing GGUF as is", async () => {
    const ckpt = join(root, "ckpt-gguf");
    await mkdir(ckpt);
    await copyFile(
      join(process.cwd(), "models", "llm-bench", "tiny-llama", "config.json"),
      join(ckpt, "config.json"),
    );
    const src = join(root, "ws-tiny", "llm-bench", "tiny-llama", "tp_1_pp_1", "tiny-llama-BF16.gguf");
    await copyFile(src, join(ckpt, "mine.gguf"));
    const workspace = join(root, "ws-reuse");
    const { result } = await run({
      model: "llm-bench/tiny-llama",
      modelPath: ckpt,
      workspace,
      maxSeqLen: 128,
      maxBatchSize: 4,
      maxNumTokens: 128,
    });
    const cfg = await readEngineConfig(result.engineDir);
    assert.equal(cfg.llm_bench.weights_source, "gguf");
    assert.equal(cfg.llm_bench.gguf_file, "mine.gguf");
    assert.equal(cfg.llm_bench.weight_type, "BF16");
    assert.equal(cfg.llm_bench.gguf_bytes, (await stat(src)).size);
  });

  it("refuses, before writing, a PP>1 build on a machine without GPUs, and any TP>1 build", async () => {
    const workspace = join(root, "ws-pp2");
    await assert.rejects(
      run({ model: "llm-bench/tiny-llama", workspace, maxSeqLen: 64, ppSize: 2 }),
      (e: unknown) =>
        e instanceof UnsupportedError &&
        /TP1-PP2 needs 2 GPUs for llama\.cpp to split the model over, but llama\.cpp runs on the CPU here/.test(
          e.message,
        ),
    );
    await assert.rejects(
      run({ model: "llm-bench/tiny-llama", workspace, maxSeqLen: 64, tpSize: 2 }),
      (e: unknown) => e instanceof UnsupportedError && /row split \(LLAMA_SPLIT_MODE_ROW\)/.test(e.message),
    );
    assert.equal(existsSync(workspace), false, "nothing written");
  });

  it("refuses an engine larger than the device memory", async () => {
    await assert.rejects(
      run({
        model: "llm-bench/tiny-llama",
        workspace: join(root, "ws-mem"),
        maxSeqLen: 64,
        deviceMemoryGb: 0.01,
      }),
      /more than the 0\.01 GiB of device memory \(--device_memory\)/,
    );
  });
});

describe("locateWeights", () => {
  it("picks dummy, safetensors or GGUF weights", async () => {
    const d = join(root, "weights");
    await mkdir(join(d, "empty"), { recursive: true });
    await mkdir(join(d, "st"));
    await writeFile(join(d, "st", "model.safetensors.index.json"), "{}");
    await mkdir(join(d, "one"));
    await writeFile(join(d, "one", "a.gguf"), "");
    await mkdir(join(d, "two"));
    await writeFile(join(d, "two", "a.gguf"), "");
    await writeFile(join(d, "two", "b.gguf"), "");
    await writeFile(join(d, "x.bin"), "");
    const prev = setLogSink(() => {});
    try {
      assert.deepEqual(await locateWeights(undefined, false, 7), { kind: "dummy", seed: 7 });
      assert.deepEqual(await locateWeights(join(d, "empty"), false, 0), { kind: "dummy", seed: 0 });
      assert.deepEqual(await locateWeights(join(d, "st"), false, 0), {
        kind: "safetensors",
        dir: join(d, "st"),
      });
      assert.deepEqual(await locateWeights(join(d, "st"), true, 0), { kind: "dummy", seed: 0 });
      assert.deepEqual(await locateWeights(join(d, "one"), false, 0), {
        kind: "gguf",
        file: join(d, "one", "a.gguf"),
      });
      assert.deepEqual(await locateWeights(join(d, "one", "a.gguf"), false, 0), {
        kind: "gguf",
        file: join(d, "one", "a.gguf"),
      });
      await assert.rejects(
        locateWeights(join(d, "two"), false, 0),
        /several GGUF files \(a\.gguf, b\.gguf\)/,
      );
      await assert.rejects(locateWeights(join(d, "x.bin"), false, 0), ConfigError);
      await assert.rejects(locateWeights(join(d, "nope"), false, 0), /--model_path does not exist/);
    } finally {
      setLogSink(prev);
    }
  });
});
