import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { readModelConfigFile } from "./config-reader.ts";
import {
  bundledConfigPath,
  bundledTokenizerFor,
  findKnownModel,
  listKnownModels,
  packageRoot,
} from "./known-models.ts";
import { estimateParamCount } from "./param-count.ts";

describe("known models", () => {
  let root: string;
  before(async () => {
    root = await packageRoot();
  });

  it("lists exactly the configs bundled under models/", async () => {
    const onDisk: string[] = [];
    for (const org of await readdir(join(root, "models"))) {
      for (const name of await readdir(join(root, "models", org))) {
        assert.deepEqual(await readdir(join(root, "models", org, name)), ["config.json"]);
        onDisk.push(`${org}/${name}`);
      }
    }
    assert.deepEqual([...listKnownModels()].sort(), onDisk.sort());
    assert.equal(onDisk.length, 16);
  });

  it("keeps each bundled param count consistent with its config's shape", async () => {
    for (const name of listKnownModels()) {
      const known = findKnownModel(name);
      assert.ok(known);
      const cfg = await readModelConfigFile((await bundledConfigPath(name)) as string, name);
      const est = estimateParamCount(cfg);
      if (known.paramCountSource === "trtllm-bench") {
        assert.ok(Math.abs(est - known.paramCount) / known.paramCount < 0.001, `${name}: ${est}`);
      } else {
        assert.equal(est, known.paramCount, name);
      }
    }
  });

  it("has the tiny-llama shape (Llama-3 vocabulary, 4 layers, 8 heads, 4 KV heads of 32)", async () => {
    const cfg = await readModelConfigFile((await bundledConfigPath("llm-bench/tiny-llama")) as string, "t");
    assert.deepEqual(
      [
        cfg.modelType,
        cfg.hiddenSize,
        cfg.numHiddenLayers,
        cfg.numAttentionHeads,
        cfg.numKeyValueHeads,
        cfg.headSize,
      ],
      ["llama", 256, 4, 8, 4, 32],
    );
    assert.deepEqual(
      [cfg.intermediateSize, cfg.vocabSize, cfg.maxPositionEmbeddings, cfg.ropeTheta, cfg.rmsNormEps],
      [768, 128256, 4096, 500000, 1e-5],
    );
    assert.equal(cfg.tieWordEmbeddings, true);
    assert.equal(cfg.dtype, "bfloat16");
  });

  it("finds names case-insensitively and through the Hub's old Llama-3.1 names", () => {
    assert.equal(findKnownModel("META-LLAMA/llama-3.1-8b")?.name, "meta-llama/Llama-3.1-8B");
    assert.equal(
      findKnownModel("meta-llama/Meta-Llama-3.1-8B-Instruct")?.name,
      "meta-llama/Llama-3.1-8B-Instruct",
    );
    assert.equal(findKnownModel("meta-llama/Llama-3.2-1B"), undefined);
    assert.equal(findKnownModel("EleutherAI/gpt-j-6b")?.paramCount, 6_053_381_344);
    assert.equal(findKnownModel("meta-llama/Llama-3.1-8B")?.paramCount, 8_030_261_248);
  });

  it("bundles the npm tokenizer for the Llama-3/3.1 family and tiny-llama only", () => {
    for (const name of [
      "meta-llama/Meta-Llama-3-8B",
      "meta-llama/Meta-Llama-3-70B-Instruct",
      "meta-llama/Llama-3.1-405B-Instruct",
      "meta-llama/Meta-Llama-3.1-8B",
      "llm-bench/tiny-llama",
    ]) {
      const b = bundledTokenizerFor(name);
      assert.ok(b, name);
      assert.ok(b.tokenizerJson.endsWith(join("@lenml", "tokenizer-llama3_1", "models", "tokenizer.json")));
    }
    assert.equal(bundledTokenizerFor("meta-llama/Llama-3.1-8B")?.eosToken, "<|end_of_text|>");
    assert.equal(bundledTokenizerFor("meta-llama/Llama-3.1-8B-Instruct")?.eosToken, undefined);
    assert.equal(bundledTokenizerFor("mistralai/Mistral-7B-v0.1"), undefined);
    assert.equal(bundledTokenizerFor("meta-llama/Llama-2-7b-hf"), undefined);
    assert.equal(bundledTokenizerFor("other/Llama-3.1-8B"), undefined);
  });
});
