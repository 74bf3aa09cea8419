import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError } from "../errors.ts";
import { parseModelConfig, readModelConfigFile } from "./config-reader.ts";
import { packageRoot } from "./known-models.ts";

let root: string;
const bundled = (name: string) => readModelConfigFile(join(root, "models", name, "config.json"), name);
const fixture = (name: string) =>
  readModelConfigFile(join(root, "test", "fixtures", "hf", name, "config.json"), name);

describe("parseModelConfig", () => {
  before(async () => {
    root = await packageRoot();
  });

  it("reads Llama-3.1-8B", async () => {
    const c = await bundled("meta-llama/Llama-3.1-8B");
    assert.deepEqual(
      { ...c, raw: undefined },
      {
        name: "meta-llama/Llama-3.1-8B",
        modelType: "llama",
        architecture: "LlamaForCausalLM",
        numHiddenLayers: 32,
        numAttentionLayers: 32,
        numAttentionHeads: 32,
        numKeyValueHeads: 8,
        hiddenSize: 4096,
        headSize: 128,
        intermediateSize: 14336,
        vocabSize: 128256,
        maxPositionEmbeddings: 131072,
        dtype: "bfloat16",
        paramCount: undefined,
        ropeTheta: 500000,
        rmsNormEps: 1e-5,
        tieWordEmbeddings: false,
        numLocalExperts: undefined,
        numExpertsPerTok: undefined,
        raw: undefined,
      },
    );
  });

  it("reads GPT-J's n_layer/n_head/n_embd/n_positions and defaults dtype to float16", async () => {
    const c = await fixture("gptj");
    assert.equal(c.numHiddenLayers, 28);
    assert.equal(c.numAttentionHeads, 16);
    assert.equal(c.numKeyValueHeads, 16);
    assert.equal(c.hiddenSize, 4096);
    assert.equal(c.headSize, 256);
    assert.equal(c.intermediateSize, 16384); // n_inner: null → 4 × n_embd
    assert.equal(c.maxPositionEmbeddings, 2048);
    assert.equal(c.dtype, "float16");
    assert.equal(c.rmsNormEps, 1e-5);
    assert.equal(c.tieWordEmbeddings, false);
  });

  it("reads Falcon: num_kv_heads, class defaults, and multi-query with one KV head", async () => {
    const big = await bundled("tiiuae/falcon-180B");
    assert.equal(big.numKeyValueHeads, 8);
    assert.equal(big.headSize, 64);
    assert.equal(big.intermediateSize, 4 * 14848);
    assert.equal(big.maxPositionEmbeddings, 2048); // absent from the file: FalconConfig's default
    assert.equal(big.tieWordEmbeddings, true);
    const small = await fixture("falcon-7b");
    assert.equal(small.numKeyValueHeads, 1);
    assert.equal(small.numAttentionHeads, 71);
    assert.equal(small.headSize, 64);
  });

  it("reads Mixtral's experts", async () => {
    const c = await bundled("mistralai/Mixtral-8x7B-v0.1");
    assert.equal(c.numLocalExperts, 8);
    assert.equal(c.numExpertsPerTok, 2);
    assert.equal(c.ropeTheta, 1e6);
    assert.equal(c.maxPositionEmbeddings, 32768);
  });

  it("falls back to text_config and language_config", async () => {
    const c = await fixture("multimodal");
    assert.equal(c.modelType, "llava");
    assert.equal(c.numHiddenLayers, 32);
    assert.equal(c.numKeyValueHeads, 8);
    assert.equal(c.hiddenSize, 4096);
    assert.equal(c.vocabSize, 32064);
    assert.equal(c.maxPositionEmbeddings, 32768);
    assert.equal(c.ropeTheta, 1e6);
    assert.equal(c.dtype, "float16");
    const lang = parseModelConfig(
      {
        model_type: "deepseek_vl_v2",
        language_config: {
          num_hidden_layers: 12,
          num_attention_heads: 10,
          num_key_value_heads: 2,
          hidden_size: 1280,
          vocab_size: 1000,
          max_position_embeddings: 4096,
        },
      },
      "x/vl",
    );
    assert.equal(lang.numHiddenLayers, 12);
    assert.equal(lang.numKeyValueHeads, 2);
    assert.equal(lang.hiddenSize, 1280);
    assert.equal(lang.headSize, 128);
  });

  const minimal = {
    model_type: "llama",
    num_hidden_layers: 2,
    num_attention_heads: 4,
    hidden_size: 64,
    vocab_size: 100,
    max_position_embeddings: 128,
  };

  it("prefers dtype over torch_dtype, maps aliases, counts hybrid attention layers", () => {
    assert.equal(
      parseModelConfig({ ...minimal, dtype: "float32", torch_dtype: "bfloat16" }, "m").dtype,
      "float32",
    );
    assert.equal(parseModelConfig({ ...minimal, torch_dtype: "bf16" }, "m").dtype, "bfloat16");
    const h = parseModelConfig({ ...minimal, num_hidden_layers: 7, hybrid_override_pattern: "M-M*-M*" }, "m");
    assert.equal(h.numAttentionLayers, 2);
    assert.equal(h.numHiddenLayers, 7);
    assert.equal(parseModelConfig({ ...minimal, head_dim: 32 }, "m").headSize, 32);
    // num_experts_per_tok alone does not make a dense model MoE.
    assert.equal(parseModelConfig({ ...minimal, num_experts_per_tok: 2 }, "m").numExpertsPerTok, undefined);
  });

  it("names the file and the field for missing or invalid values", () => {
    const f = "/x/config.json";
    const { num_hidden_layers: _, ...noLayers } = minimal;
    assert.throws(
      () => parseModelConfig(noLayers, "m", f),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message ===
          `${f}: field num_hidden_layers|n_layer|text_config.num_hidden_layers|language_config.num_hidden_layers: missing`,
    );
    assert.throws(
      () => parseModelConfig({ ...minimal, hidden_size: "64" }, "m", f),
      new ConfigError('field hidden_size: expected a positive integer, got "64"', f),
    );
    assert.throws(
      () => parseModelConfig({ ...minimal, torch_dtype: "int8" }, "m", f),
      /config\.json: field torch_dtype: expected float16, bfloat16 or float32, got "int8"/,
    );
    assert.throws(
      () => parseModelConfig({ ...minimal, rope_theta: -1 }, "m", f),
      /field rope_theta: expected a positive/,
    );
    assert.throws(() => parseModelConfig([], "m", f), /config\.json must be a JSON object/);
    // Without a file the model name is given instead.
    assert.throws(
      () => parseModelConfig({ ...minimal, model_type: undefined }, "org/m"),
      /field model_type: missing \(config of org\/m\)/,
    );
    // Unknown model type with no max_position_embeddings: no default to fall back on.
    const { max_position_embeddings: __, ...noMax } = minimal;
    assert.throws(
      () => parseModelConfig({ ...noMax, model_type: "exotic" }, "m", f),
      /field max_position_embeddings\|/,
    );
  });
});

describe("readModelConfigFile", () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), "llm-bench-cfg-"));
  });
  after(async () => rm(tmp, { recursive: true, force: true }));

  it("names the file on unreadable or invalid JSON", async () => {
    const bad = join(tmp, "config.json");
    await writeFile(bad, "{");
    await assert.rejects(readModelConfigFile(bad, "m"), new RegExp(`^ConfigError: ${bad}: invalid JSON`));
    await assert.rejects(
      readModelConfigFile(join(tmp, "none.json"), "m"),
      /none\.json: cannot read config\.json/,
    );
  });
});
