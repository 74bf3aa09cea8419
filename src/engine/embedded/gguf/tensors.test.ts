import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UnsupportedError } from "../../../errors.ts";
import { llama3RopeFactors } from "./arch-llama.ts";
import { planArchitecture, storageType, supportedArchitectures } from "./tensors.ts";
import { tinyConfig } from "./test-support.ts";

const shapes = (c = tinyConfig()) =>
  Object.fromEntries(planArchitecture(c, 512).tensors.map((t) => [t.name, t.dims]));
const hp = (c = tinyConfig()) =>
  Object.fromEntries(planArchitecture(c, 512).kvs.map((k) => [k.key, k.value]));

describe("llama plan", () => {
  it("has the Llama tensor set, ne0 first, tied output left out", () => {
    const s = shapes();
    assert.equal(Object.keys(s).length, 2 + 2 * 9);
    assert.deepEqual(s["token_embd.weight"], [64, 128256]);
    assert.equal(s["output.weight"], undefined);
    assert.deepEqual(s["blk.1.attn_q.weight"], [64, 64]);
    assert.deepEqual(s["blk.1.attn_k.weight"], [64, 32]); // 2 kv heads × 16
    assert.deepEqual(s["blk.1.attn_output.weight"], [64, 64]);
    assert.deepEqual(s["blk.0.ffn_gate.weight"], [64, 128]);
    assert.deepEqual(s["blk.0.ffn_down.weight"], [128, 64]);
    assert.deepEqual(s["blk.0.ffn_norm.weight"], [64]);
  });
  it("writes the hparams llama.cpp reads", () => {
    assert.deepEqual(hp(), {
      "llama.vocab_size": 128256,
      "llama.context_length": 512,
      "llama.embedding_length": 64,
      "llama.block_count": 2,
      "llama.feed_forward_length": 128,
      "llama.attention.head_count": 4,
      "llama.attention.head_count_kv": 2,
      "llama.rope.dimension_count": 16,
      "llama.rope.freq_base": 500000,
      "llama.attention.layer_norm_rms_epsilon": 1e-5,
    });
  });
  it("adds output.weight when untied and key/value lengths when head size × heads ≠ hidden", () => {
    const c = tinyConfig({ tieWordEmbeddings: false, headSize: 32 });
    assert.deepEqual(shapes(c)["output.weight"], [64, 128256]);
    assert.deepEqual(shapes(c)["blk.0.attn_q.weight"], [64, 128]);
    assert.equal(hp(c)["llama.attention.key_length"], 32);
  });
  it("mixtral: router and merged 3-D expert tensors plus expert counts", () => {
    const c = tinyConfig({ modelType: "mixtral", numLocalExperts: 4, numExpertsPerTok: 2 });
    const s = shapes(c);
    assert.deepEqual(s["blk.0.ffn_gate_inp.weight"], [64, 4]);
    assert.deepEqual(s["blk.0.ffn_gate_exps.weight"], [64, 128, 4]);
    assert.deepEqual(s["blk.0.ffn_up_exps.weight"], [64, 128, 4]);
    assert.deepEqual(s["blk.0.ffn_down_exps.weight"], [128, 64, 4]);
    assert.equal(s["blk.0.ffn_gate.weight"], undefined);
    assert.equal(hp(c)["llama.expert_count"], 4);
    assert.equal(hp(c)["llama.expert_used_count"], 2);
  });
  it("llama3 rope scaling becomes a rope_freqs tensor (values as llama.cpp's converter computes)", () => {
    const f = llama3RopeFactors(128, 500000, {
      type: "llama3",
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalContext: 8192,
    });
    assert.equal(f.length, 64);
    assert.equal(f[0], 1);
    assert.equal(f[28], 1);
    assert.ok(Math.abs(f[30]! - 1.5534146) < 1e-5);
    assert.ok(Math.abs(f[34]! - 5.2573271) < 1e-5);
    assert.equal(f[35], 8);
    const c = tinyConfig({ raw: { rope_scaling: { rope_type: "llama3", factor: 8 } } });
    assert.deepEqual(shapes(c)["rope_freqs.weight"], [8]);
  });
});

describe("falcon and gptj plans", () => {
  it("falcon: fused qkv [q | k | v], biased norms, second norm for the new decoder architecture", () => {
    const c = tinyConfig({ modelType: "falcon", numKeyValueHeads: 1, intermediateSize: 256 });
    const s = shapes(c);
    assert.deepEqual(s["blk.0.attn_qkv.weight"], [64, 64 + 2 * 16]);
    assert.deepEqual(s["blk.0.attn_norm.bias"], [64]);
    assert.equal(s["blk.0.attn_norm_2.weight"], undefined);
    assert.equal(planArchitecture(c, 512).arch, "falcon");
    const c2 = tinyConfig({ modelType: "falcon", raw: { new_decoder_architecture: true } });
    assert.deepEqual(shapes(c2)["blk.1.attn_norm_2.bias"], [64]);
  });
  it("gptj is written as phi2 with partial rotary and a biased lm_head", () => {
    const c = tinyConfig({ modelType: "gptj", numKeyValueHeads: 4, raw: { rotary_dim: 8 } });
    const p = planArchitecture(c, 512);
    assert.equal(p.arch, "phi2");
    assert.equal(hp(c)["phi2.rope.dimension_count"], 8);
    assert.deepEqual(shapes(c)["output.bias"], [128256]);
    assert.deepEqual(shapes(c)["blk.0.ffn_up.bias"], [128]);
  });
});

describe("architecture selection and storage types", () => {
  it("names the model_type and the supported list when unsupported", () => {
    assert.throws(
      () => planArchitecture(tinyConfig({ modelType: "qwen2" }), 512),
      (e: unknown) =>
        e instanceof UnsupportedError &&
        /"qwen2"/.test(e.message) &&
        e.message.includes("llama, mistral, mixtral"),
    );
    assert.deepEqual(supportedArchitectures().slice(0, 5), ["llama", "mistral", "mixtral", "gptj", "falcon"]);
  });
  it("keeps vectors and the router F32 and falls back to F16 when rows do not fill Q blocks", () => {
    assert.equal(storageType({ name: "n", dims: [64], role: "norm" }, "Q8_0"), "F32");
    assert.equal(storageType({ name: "r", dims: [64, 4], role: "router" }, "Q4_0"), "F32");
    assert.equal(storageType({ name: "m", dims: [64, 4], role: "matrix" }, "Q4_0"), "Q4_0");
    assert.equal(storageType({ name: "m", dims: [48, 4], role: "matrix" }, "Q8_0"), "F16");
    assert.equal(storageType({ name: "m", dims: [48, 4], role: "matrix" }, "BF16"), "BF16");
  });
});
