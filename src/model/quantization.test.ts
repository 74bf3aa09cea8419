import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ConfigError, UsageError } from "../errors.ts";
import {
  GGUF_BYTES_PER_WEIGHT,
  KV_OVERRIDE_MISMATCH,
  planQuantization,
  readHfQuantConfig,
  resolveKvCacheQuant,
  VALID_QUANT_ALGOS,
} from "./quantization.ts";

describe("quantization → llama.cpp types", () => {
  it("lists trtllm-bench's VALID_QUANT_ALGOS", () => {
    assert.deepEqual(
      [...VALID_QUANT_ALGOS],
      ["W8A16", "W4A16", "W4A16_AWQ", "W4A8_AWQ", "W4A16_GPTQ", "FP8", "INT8", "NVFP4"],
    );
  });
  it("none keeps the model dtype for weights and cache", () => {
    const bf = planQuantization({ quantization: undefined, dtype: "bfloat16", hfQuant: undefined });
    assert.deepEqual(bf, {
      quantAlgo: null,
      kvCacheQuantAlgo: null,
      weightType: "BF16",
      kvCacheType: "bf16",
      source: "none",
    });
    const fp = planQuantization({ quantization: null, dtype: "float16", hfQuant: undefined });
    assert.equal(fp.weightType, "F16");
    assert.equal(fp.kvCacheType, "f16");
    assert.equal(
      planQuantization({ quantization: null, dtype: "float32", hfQuant: undefined }).weightType,
      "F16",
    );
  });
  it("FP8 → Q8_0 weights and an 8-bit (FP8 → q8_0) KV cache", () => {
    assert.deepEqual(planQuantization({ quantization: "FP8", dtype: "bfloat16", hfQuant: undefined }), {
      quantAlgo: "FP8",
      kvCacheQuantAlgo: "FP8",
      weightType: "Q8_0",
      kvCacheType: "q8_0",
      source: "cli",
    });
  });
  it("NVFP4 → Q4_0 weights with an 8-bit KV cache", () => {
    const p = planQuantization({ quantization: "NVFP4", dtype: "bfloat16", hfQuant: undefined });
    assert.equal(p.weightType, "Q4_0");
    assert.equal(p.kvCacheQuantAlgo, "FP8");
    assert.equal(p.kvCacheType, "q8_0");
  });
  it("weight-only algorithms leave the KV cache in the model dtype", () => {
    const p = planQuantization({ quantization: "W4A16_AWQ", dtype: "float16", hfQuant: undefined });
    assert.equal(p.weightType, "Q4_0");
    assert.equal(p.kvCacheQuantAlgo, null);
    assert.equal(p.kvCacheType, "f16");
    assert.equal(
      planQuantization({ quantization: "W8A16", dtype: "float16", hfQuant: undefined }).weightType,
      "Q8_0",
    );
  });
  it("knows the GGUF block sizes", () => {
    assert.equal(GGUF_BYTES_PER_WEIGHT.Q8_0 * 32, 34);
    assert.equal(GGUF_BYTES_PER_WEIGHT.Q4_0 * 32, 18);
  });
});

describe("KV dtype rules (brief §6)", () => {
  it("follows the documented table with kv_cache_dtype auto", () => {
    assert.equal(resolveKvCacheQuant(null, null), null);
    assert.equal(resolveKvCacheQuant("FP8", "FP8"), "FP8");
    assert.equal(resolveKvCacheQuant("FP8", null), "FP8");
    assert.equal(resolveKvCacheQuant("NVFP4", null), "FP8");
    assert.equal(resolveKvCacheQuant("W4A16", null), null);
  });
  it("forces fp8 / nvfp4 when the checkpoint leaves the cache open, case-insensitively", () => {
    assert.equal(resolveKvCacheQuant(null, null, "fp8"), "FP8");
    assert.equal(resolveKvCacheQuant("FP8", null, "NVFP4"), "NVFP4");
    assert.equal(resolveKvCacheQuant("FP8", "FP8", "fp8"), "FP8");
  });
  it("refuses to override a pre-quantized KV cache with a different one", () => {
    assert.throws(
      () => resolveKvCacheQuant("FP8", "FP8", "nvfp4"),
      (e: unknown) => {
        return e instanceof UsageError && e.message === KV_OVERRIDE_MISMATCH;
      },
    );
  });
  it("rejects an invalid kv_cache_dtype naming the source", () => {
    assert.throws(
      () => resolveKvCacheQuant(null, null, "int4", "kv_cache_config.dtype"),
      /kv_cache_config\.dtype: 'int4' is not a valid KV cache dtype; choose one of auto, fp8, nvfp4/,
    );
  });
});

describe("hf_quant_config.json", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  async function ckpt(body: string | undefined): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), "llmb-quant-"));
    dirs.push(d);
    if (body !== undefined) await writeFile(join(d, "hf_quant_config.json"), body);
    return d;
  }

  it("is optional", async () => {
    assert.equal(await readHfQuantConfig(await ckpt(undefined)), undefined);
    assert.equal(await readHfQuantConfig(undefined), undefined);
  });
  it("an FP8 checkpoint with a null KV quant gets an FP8 cache; no flag needed", async () => {
    const dir = await ckpt(
      '{"producer":{"name":"modelopt","version":"0.23.0rc1"},"quantization":{"quant_algo":"FP8","kv_cache_quant_algo":null}}',
    );
    const hf = await readHfQuantConfig(dir);
    assert.deepEqual(hf, {
      file: join(dir, "hf_quant_config.json"),
      quantAlgo: "FP8",
      kvCacheQuantAlgo: null,
    });
    const p = planQuantization({ quantization: undefined, dtype: "bfloat16", hfQuant: hf });
    assert.equal(p.source, "checkpoint");
    assert.equal(p.kvCacheQuantAlgo, "FP8");
    assert.equal(p.weightType, "Q8_0");
    assert.equal(planQuantization({ quantization: "FP8", dtype: "bfloat16", hfQuant: hf }).quantAlgo, "FP8");
  });
  it("a --quantization that contradicts the checkpoint is an error", async () => {
    const hf = await readHfQuantConfig(await ckpt('{"quantization":{"quant_algo":"NVFP4"}}'));
    assert.throws(
      () => planQuantization({ quantization: "FP8", dtype: "bfloat16", hfQuant: hf }),
      /--quantization FP8 does not match the pre-quantized checkpoint .*quant_algo NVFP4/,
    );
  });
  it("a checkpoint KV quant that contradicts the forced one is the override error", async () => {
    const hf = await readHfQuantConfig(
      await ckpt('{"quantization":{"quant_algo":null,"kv_cache_quant_algo":"INT8"}}'),
    );
    assert.throws(() => planQuantization({ quantization: "FP8", dtype: "bfloat16", hfQuant: hf }), {
      message: KV_OVERRIDE_MISMATCH,
    });
    const keep = planQuantization({ quantization: "W8A16", dtype: "bfloat16", hfQuant: hf });
    assert.equal(keep.kvCacheQuantAlgo, "INT8");
    assert.equal(keep.kvCacheType, "q8_0");
  });
  it("names the file and field of a bad value", async () => {
    const dir = await ckpt('{"quantization":{"quant_algo":"FP3"}}');
    await assert.rejects(readHfQuantConfig(dir), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /hf_quant_config\.json: field 'quantization\.quant_algo': "FP3" is not one of/);
      return true;
    });
    await assert.rejects(readHfQuantConfig(await ckpt("{")), /hf_quant_config\.json: not valid JSON/);
    await assert.rejects(readHfQuantConfig(await ckpt("{}")), /field 'quantization': expected an object/);
  });
});
