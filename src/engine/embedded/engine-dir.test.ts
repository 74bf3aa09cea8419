import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ConfigError, UsageError } from "../../errors.ts";
import {
  ENGINE_FORMAT,
  type EngineConfig,
  engineDirFor,
  llmBenchVersion,
  readEngineConfig,
  writeEngineConfig,
} from "./engine-dir.ts";

function sample(): EngineConfig {
  return {
    version: "0.1.0",
    pretrained_config: {
      architecture: "LlamaForCausalLM",
      dtype: "bfloat16",
      quantization: { quant_algo: "FP8", kv_cache_quant_algo: "FP8" },
      mapping: { tp_size: 1, pp_size: 1, world_size: 1 },
    },
    build_config: {
      max_batch_size: 4096,
      max_num_tokens: 8192,
      max_seq_len: 256,
      max_input_len: 256,
      speculative_decoding_mode: "none",
    },
    llm_bench: {
      format: ENGINE_FORMAT,
      model_name: "meta-llama/Llama-3.1-8B",
      gguf_file: "model.gguf",
      gguf_bytes: 3,
      weight_type: "Q8_0",
      kv_cache_type: "q8_0",
      weights_source: "dummy",
      dummy_seed: 0,
      param_count: 8030261248,
      model_config: { model_type: "llama", hidden_size: 4096 },
      tokenizer_files: ["tokenizer.json", "tokenizer_config.json"],
      build_time: "2026-01-01T00:00:00.000Z",
      build_seconds: 1.5,
    },
  };
}

describe("engine directory path", () => {
  it("is <workspace>/<org>/<model>/tp_X_pp_Y", () => {
    assert.equal(
      engineDirFor("/tmp", "meta-llama/Llama-3.1-8B", 1, 1),
      "/tmp/meta-llama/Llama-3.1-8B/tp_1_pp_1",
    );
    assert.equal(engineDirFor("/w", "gpt2", 2, 4), "/w/gpt2/tp_2_pp_4");
  });
  it("refuses names that would leave the workspace", () => {
    for (const bad of ["../etc", "/abs/model", "org//m", "org/./m", ""]) {
      assert.throws(() => engineDirFor("/tmp", bad, 1, 1), UsageError, bad);
    }
  });
});

describe("config.json", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  async function engineDir(): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), "llmb-engine-"));
    dirs.push(d);
    for (const f of ["model.gguf", "tokenizer.json", "tokenizer_config.json"])
      await writeFile(join(d, f), "x");
    return d;
  }

  it("round-trips, with the trtllm-bench field names throughput reads", async () => {
    const dir = await engineDir();
    const file = await writeEngineConfig(dir, sample());
    assert.equal(file, join(dir, "config.json"));
    const raw = JSON.parse(await readFile(file, "utf8"));
    assert.equal(raw.pretrained_config.quantization.kv_cache_quant_algo, "FP8");
    assert.equal(raw.build_config.max_num_tokens, 8192);
    assert.deepEqual(await readEngineConfig(dir), sample());
    assert.deepEqual((await readdir(dir)).sort(), [
      "config.json",
      "model.gguf",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
  });

  it("names the file and field of a bad value", async () => {
    const dir = await engineDir();
    const bad = sample() as unknown as { build_config: { max_batch_size: unknown } };
    bad.build_config.max_batch_size = "lots";
    await writeFile(join(dir, "config.json"), JSON.stringify(bad));
    await assert.rejects(readEngineConfig(dir), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /config\.json: field 'build_config\.max_batch_size': /);
      assert.ok(e.message.startsWith(join(dir, "config.json")));
      return true;
    });
  });

  it("checks the mapping, the input length and the files it names", async () => {
    const dir = await engineDir();
    const world = sample();
    world.pretrained_config.mapping = { tp_size: 2, pp_size: 2, world_size: 2 };
    await assert.rejects(
      writeEngineConfig(dir, world),
      /mapping\.world_size': 2 is not tp_size \* pp_size = 4/,
    );
    const len = sample();
    len.build_config.max_input_len = 512;
    await assert.rejects(writeEngineConfig(dir, len), /max_input_len': 512 exceeds max_seq_len 256/);
    const missing = sample();
    missing.llm_bench.gguf_file = "other.gguf";
    await writeEngineConfig(dir, missing);
    await assert.rejects(readEngineConfig(dir), /field 'llm_bench\.gguf_file': .*other\.gguf does not exist/);
    const outside = sample();
    outside.llm_bench.tokenizer_files = ["../tokenizer.json"];
    await assert.rejects(
      writeEngineConfig(dir, outside),
      /llm_bench\.tokenizer_files\.0': must be a plain file name/,
    );
  });

  it("reports a missing or broken config.json", async () => {
    const dir = await engineDir();
    await assert.rejects(readEngineConfig(dir), /config\.json: not found/);
    await writeFile(join(dir, "config.json"), "{");
    await assert.rejects(readEngineConfig(dir), /config\.json: not valid JSON/);
  });

  it("writes llm-bench's package version", async () => {
    // Tests run from the project root, both from src (tsx) and from dist.
    const pkg = JSON.parse(await readFile(join(process.cwd(), "package.json"), "utf8"));
    assert.equal(await llmBenchVersion(), pkg.version);
  });
});
