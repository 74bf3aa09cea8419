import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError } from "../errors.ts";
import { parseModelConfig, readModelConfigFile } from "./config-reader.ts";
import { packageRoot } from "./known-models.ts";
import { countSafetensorsParams, estimateParamCount } from "./param-count.ts";

/** A valid safetensors file: u64 LE header length, JSON header, then the raw tensor bytes. */
function safetensors(
  tensors: Record<string, { dtype: string; shape: number[]; bytesPerElem: number }>,
): Buffer {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const size = t.shape.reduce((a, b) => a * b, 1) * t.bytesPerElem;
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, Buffer.alloc(offset)]);
}

describe("countSafetensorsParams", () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), "llm-bench-st-"));
  });
  after(async () => rm(tmp, { recursive: true, force: true }));

  it("counts a single model.safetensors by dtype", async () => {
    const dir = join(tmp, "single");
    await mkdir(dir);
    await writeFile(
      join(dir, "model.safetensors"),
      safetensors({
        "embed.weight": { dtype: "BF16", shape: [10, 4], bytesPerElem: 2 },
        "norm.weight": { dtype: "F32", shape: [4], bytesPerElem: 4 },
        scalar: { dtype: "BF16", shape: [], bytesPerElem: 2 },
      }),
    );
    assert.deepEqual(await countSafetensorsParams(dir), { total: 45, byDtype: { BF16: 41, F32: 4 } });
  });

  it("counts every shard named by model.safetensors.index.json once", async () => {
    const dir = join(tmp, "sharded");
    await mkdir(dir);
    await writeFile(
      join(dir, "a.safetensors"),
      safetensors({ x: { dtype: "F16", shape: [3, 5], bytesPerElem: 2 } }),
    );
    await writeFile(
      join(dir, "b.safetensors"),
      safetensors({
        y: { dtype: "F16", shape: [7], bytesPerElem: 2 },
        z: { dtype: "I8", shape: [2, 2], bytesPerElem: 1 },
      }),
    );
    await writeFile(
      join(dir, "model.safetensors.index.json"),
      JSON.stringify({
        metadata: {},
        weight_map: { x: "a.safetensors", y: "b.safetensors", z: "b.safetensors" },
      }),
    );
    assert.deepEqual(await countSafetensorsParams(dir), { total: 26, byDtype: { F16: 22, I8: 4 } });
  });

  it("returns undefined without safetensors and names the file when a header is bad", async () => {
    assert.equal(await countSafetensorsParams(tmp), undefined);
    const dir = join(tmp, "bad");
    await mkdir(dir);
    const file = join(dir, "model.safetensors");
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(1000n);
    await writeFile(file, Buffer.concat([len, Buffer.from("{}")]));
    await assert.rejects(
      countSafetensorsParams(dir),
      (e: unknown) => e instanceof ConfigError && e.message === `${file}: truncated safetensors header`,
    );
    await writeFile(file, "short");
    await assert.rejects(countSafetensorsParams(dir), /not a safetensors file/);
  });
});

describe("estimateParamCount", () => {
  let root: string;
  before(async () => {
    root = await packageRoot();
  });

  it("matches the published Llama-3.1-8B count (8,030,261,248) within 0.5 %", async () => {
    const cfg = await readModelConfigFile(join(root, "models/meta-llama/Llama-3.1-8B/config.json"), "m");
    const est = estimateParamCount(cfg);
    assert.ok(Math.abs(est - 8_030_261_248) / 8_030_261_248 < 0.005, `estimate ${est}`);
    assert.equal(est, 8_030_261_248); // exact for this shape
  });

  it("matches Falcon-7B (6,921,720,704: tied, parallel attention, one LayerNorm) and Mixtral (46,702,792,704)", async () => {
    const falcon = await readModelConfigFile(join(root, "test/fixtures/hf/falcon-7b/config.json"), "f");
    assert.equal(estimateParamCount(falcon), 6_921_720_704);
    const mixtral = await readModelConfigFile(
      join(root, "models/mistralai/Mixtral-8x7B-v0.1/config.json"),
      "x",
    );
    assert.equal(estimateParamCount(mixtral), 46_702_792_704);
  });

  it("is within 0.1 % of trtllm-bench's GPT-J count", async () => {
    const gptj = await readModelConfigFile(join(root, "test/fixtures/hf/gptj/config.json"), "g");
    const est = estimateParamCount(gptj);
    assert.ok(Math.abs(est - 6_053_381_344) / 6_053_381_344 < 0.001, `estimate ${est}`);
  });

  it("counts a hand-sized tied model term by term", () => {
    // vocab 10 × hidden 4 = 40 embedding; per layer: q 4×4 + k,v 2×(4×2) + o 4×4 = 48 attention,
    // 3×4×6 = 72 gated MLP, 2×4 = 8 RMSNorm → 128; 2 layers = 256; final norm 4; tied head 0 → 300.
    const cfg = parseModelConfig(
      {
        model_type: "llama",
        num_hidden_layers: 2,
        num_attention_heads: 2,
        num_key_value_heads: 1,
        hidden_size: 4,
        intermediate_size: 6,
        vocab_size: 10,
        max_position_embeddings: 16,
        tie_word_embeddings: true,
      },
      "hand",
    );
    assert.equal(estimateParamCount(cfg), 300);
    assert.equal(estimateParamCount({ ...cfg, tieWordEmbeddings: false }), 340);
    // Two experts of 72 each plus a 4×2 router replace the 72 MLP: +80 per layer.
    assert.equal(estimateParamCount({ ...cfg, numLocalExperts: 2, numExpertsPerTok: 1 }), 300 + 2 * 80);
  });
});
