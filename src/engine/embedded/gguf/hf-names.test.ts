import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError, UnsupportedError } from "../../../errors.ts";
import { checkpointValues, llamaSources, permuteRopeRows, resolveSources } from "./hf-names.ts";
import { CheckpointReader, indexCheckpoint } from "./safetensors.ts";
import { planArchitecture } from "./tensors.ts";
import { tempDir, tinyConfig, writeSafetensors } from "./test-support.ts";

describe("q/k rope permutation", () => {
  it("interleaves the two halves of each head (head size 4, two heads)", () => {
    const rows = Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(Array.from(permuteRopeRows(rows, 1, 4)), [0, 2, 1, 3, 4, 6, 5, 7]);
  });
  it("moves whole rows (head size 8, rows of 2)", () => {
    const rows = Float32Array.from({ length: 16 }, (_, i) => i);
    const out = permuteRopeRows(rows, 2, 8);
    // Row order 0,4,1,5,2,6,3,7; each row is [2r, 2r+1].
    assert.deepEqual(Array.from(out), [0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15]);
  });
});

describe("HF llama names", () => {
  it("maps GGUF tensors to HF tensors, experts stacked in order", () => {
    const c = tinyConfig({ modelType: "mixtral", numLocalExperts: 2, numExpertsPerTok: 1 });
    const p = planArchitecture(c, 64).tensors;
    const by = (n: string) => llamaSources(p.find((t) => t.name === n)!, c);
    assert.deepEqual(by("token_embd.weight"), [{ hf: "model.embed_tokens.weight" }]);
    assert.deepEqual(by("blk.1.attn_q.weight"), [
      { hf: "model.layers.1.self_attn.q_proj.weight", ropeHeads: 4 },
    ]);
    assert.deepEqual(by("blk.1.attn_k.weight"), [
      { hf: "model.layers.1.self_attn.k_proj.weight", ropeHeads: 2 },
    ]);
    assert.deepEqual(by("blk.0.ffn_gate_inp.weight"), [
      { hf: "model.layers.0.block_sparse_moe.gate.weight" },
    ]);
    assert.deepEqual(by("blk.0.ffn_down_exps.weight"), [
      { hf: "model.layers.0.block_sparse_moe.experts.0.w2.weight" },
      { hf: "model.layers.0.block_sparse_moe.experts.1.w2.weight" },
    ]);
  });
  it("refuses other architectures", () => {
    const c = tinyConfig({ modelType: "falcon" });
    const t = planArchitecture(c, 64).tensors[0]!;
    assert.throws(() => llamaSources(t, c), UnsupportedError);
  });
});

describe("safetensors checkpoints", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());

  it("reads F32/F16/BF16 tensors from index.json shards", async () => {
    const d = join(dir, "sharded");
    await mkdir(d);
    const v = Float32Array.from([1, -2, 0.5, 3.140625]);
    await writeSafetensors(join(d, "a.safetensors"), [{ name: "x", shape: [2, 2], dtype: "F16", data: v }]);
    await writeSafetensors(join(d, "b.safetensors"), [
      { name: "y", shape: [4], dtype: "BF16", data: v },
      { name: "z", shape: [4], dtype: "F32", data: v },
    ]);
    await writeFile(
      join(d, "model.safetensors.index.json"),
      JSON.stringify({ weight_map: { x: "a.safetensors", y: "b.safetensors", z: "b.safetensors" } }),
    );
    const idx = await indexCheckpoint(d);
    assert.deepEqual([...idx.keys()].sort(), ["x", "y", "z"]);
    assert.deepEqual(idx.get("x")!.shape, [2, 2]);
    const r = new CheckpointReader();
    try {
      for (const n of ["x", "y", "z"])
        assert.deepEqual(Array.from(await r.read(idx.get(n)!, 0, 4)), Array.from(v));
      assert.deepEqual(Array.from(await r.read(idx.get("z")!, 2, 2)), [0.5, 3.140625]);
    } finally {
      await r.close();
    }
  });

  it("checks names, shapes and leftovers against the plan, and permutes q while streaming", async () => {
    const c = tinyConfig({ numHiddenLayers: 1 });
    const plan = planArchitecture(c, 64).tensors;
    const d = join(dir, "ckpt");
    await mkdir(d);
    const hf = (name: string, shape: number[], fill?: (i: number) => number) => ({
      name,
      shape,
      dtype: "F32" as const,
      data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => (fill ? fill(i) : 0)),
    });
    const L = "model.layers.0.";
    const full = [
      hf("model.embed_tokens.weight", [128256, 64]),
      hf("model.norm.weight", [64]),
      hf(`${L}input_layernorm.weight`, [64]),
      hf(`${L}post_attention_layernorm.weight`, [64]),
      // Each q row holds its own row number, so the permutation is visible in the values.
      hf(`${L}self_attn.q_proj.weight`, [64, 64], (i) => Math.floor(i / 64)),
      hf(`${L}self_attn.k_proj.weight`, [32, 64]),
      hf(`${L}self_attn.v_proj.weight`, [32, 64]),
      hf(`${L}self_attn.o_proj.weight`, [64, 64]),
      hf(`${L}mlp.gate_proj.weight`, [128, 64]),
      hf(`${L}mlp.up_proj.weight`, [128, 64]),
      hf(`${L}mlp.down_proj.weight`, [64, 128]),
      hf(`${L}self_attn.rotary_emb.inv_freq`, [8]),
    ];
    await writeSafetensors(join(d, "model.safetensors"), full);
    const src = resolveSources(plan, c, await indexCheckpoint(d), d);
    const q = plan.find((t) => t.name === "blk.0.attn_q.weight")!;
    const r = new CheckpointReader();
    const got: number[] = [];
    try {
      for await (const chunk of checkpointValues(q, src.get(q.name)!, r, 16)) {
        for (let row = 0; row < chunk.length / 64; row++) got.push(chunk[row * 64]!);
      }
    } finally {
      await r.close();
    }
    // Head size 16: GGUF row 2i+j comes from HF row 8j+i within each head.
    assert.deepEqual(got.slice(0, 6), [0, 8, 1, 9, 2, 10]);
    assert.deepEqual(got.slice(16, 18), [16, 24]);

    assert.throws(
      () => resolveSources(plan, c, new Map(), d),
      (e: unknown) => e instanceof ConfigError && e.message.includes("model.embed_tokens.weight"),
    );
    const wrong = [hf("model.embed_tokens.weight", [128256, 32]), ...full.slice(1)];
    await writeSafetensors(join(d, "model.safetensors"), wrong);
    assert.throws(
      () => resolveSources(plan, c, new Map([...idxOf(wrong, d)]), d),
      (e: unknown) =>
        e instanceof ConfigError && /\[128256, 32\], the config implies \[128256, 64\]/.test(e.message),
    );
    await writeSafetensors(join(d, "model.safetensors"), [...full, hf(`${L}self_attn.q_proj.bias`, [64])]);
    await assert.rejects(
      async () => resolveSources(plan, c, await indexCheckpoint(d), d),
      (e: unknown) => e instanceof UnsupportedError && e.message.includes("q_proj.bias"),
    );
  });
});

/** A fake index for shape checks (no file reads happen in resolveSources). */
function idxOf(ts: { name: string; shape: number[] }[], file: string) {
  return ts.map(
    (t) => [t.name, { name: t.name, file, dtype: "F32" as const, shape: t.shape, start: 0 }] as const,
  );
}
