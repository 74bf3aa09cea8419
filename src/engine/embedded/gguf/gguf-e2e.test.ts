/**
 * End to end: write tiny GGUFs with the real Llama-3.1 tokenizer, load them in node-llama-cpp (prebuilt
 * CPU binary, threads: 1) and greedy-generate. Also converts safetensors checkpoints built from the
 * dummy weights and checks the result is byte-identical to the dummy GGUF.
 */
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { getLlama, type Llama, LlamaLogLevel } from "node-llama-cpp";
import type { ModelConfig } from "../../../model/model-config.ts";
import { dummyTensor } from "./dummy.ts";
import { type GgufWeightType, writeGguf } from "./index.ts";
import { planArchitecture } from "./tensors.ts";
import {
  LLAMA3_TOKENIZER_CONFIG,
  LLAMA3_TOKENIZER_JSON,
  type StTensor,
  tempDir,
  tinyConfig,
  writeSafetensors,
} from "./test-support.ts";

const SEED = 7;
let llama: Llama;
let dir: string;
let cleanup: () => Promise<void>;

async function write(config: ModelConfig, weightType: GgufWeightType, name: string, source?: string) {
  return writeGguf({
    config,
    tokenizerJsonPath: LLAMA3_TOKENIZER_JSON,
    tokenizerConfigPath: LLAMA3_TOKENIZER_CONFIG,
    weightType,
    source: source ? { kind: "safetensors", dir: source } : { kind: "dummy", seed: SEED },
    contextLength: 256,
    outPath: join(dir, name),
  });
}

async function greedy(path: string, n = 8): Promise<number[]> {
  const model = await llama.loadModel({ modelPath: path });
  try {
    const ctx = await model.createContext({ contextSize: 128, threads: 1, sequences: 1 });
    try {
      const out: number[] = [];
      const seq = ctx.getSequence();
      for await (const t of seq.evaluate(model.tokenize("Once upon a time"), {
        temperature: 0,
        yieldEogToken: true,
      })) {
        out.push(t);
        if (out.length === n) break;
      }
      return out;
    } finally {
      await ctx.dispose();
    }
  } finally {
    await model.dispose();
  }
}

/** HF q/k layout from the GGUF one: HF row j·d/2+i is GGUF row 2i+j within each head. */
function unpermute(gguf: Float32Array, rowLen: number, headDim: number): Float32Array {
  const hf = new Float32Array(gguf.length);
  const rows = gguf.length / rowLen;
  for (let head = 0; head < rows / headDim; head++) {
    for (let i = 0; i < headDim / 2; i++) {
      for (let j = 0; j < 2; j++) {
        const from = head * headDim + 2 * i + j;
        const to = head * headDim + j * (headDim / 2) + i;
        hf.set(gguf.subarray(from * rowLen, (from + 1) * rowLen), to * rowLen);
      }
    }
  }
  return hf;
}

/** A HF checkpoint holding exactly the dummy weights of `config` (seed SEED). */
async function checkpointFromDummy(config: ModelConfig, out: string): Promise<void> {
  await mkdir(out, { recursive: true });
  const top: Record<string, string> = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
  };
  const layer: Record<string, string> = {
    attn_norm: "input_layernorm",
    attn_q: "self_attn.q_proj",
    attn_k: "self_attn.k_proj",
    attn_v: "self_attn.v_proj",
    attn_output: "self_attn.o_proj",
    ffn_norm: "post_attention_layernorm",
    ffn_gate: "mlp.gate_proj",
    ffn_up: "mlp.up_proj",
    ffn_down: "mlp.down_proj",
    ffn_gate_inp: "block_sparse_moe.gate",
  };
  const experts: Record<string, string> = { ffn_gate_exps: "w1", ffn_up_exps: "w3", ffn_down_exps: "w2" };
  const st: StTensor[] = [];
  for (const t of planArchitecture(config, 256).tensors) {
    let v = dummyTensor(t, SEED);
    const [ne0, ne1, ne2] = t.dims as [number, number | undefined, number | undefined];
    const shape = ne1 === undefined ? [ne0] : [ne1, ne0];
    const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(t.name);
    if (!m) {
      st.push({ name: top[t.name]!, shape, dtype: "F32", data: v });
      continue;
    }
    const [, b, kind] = m as unknown as [string, string, string];
    if (experts[kind]) {
      const per = ne0 * ne1!;
      for (let e = 0; e < ne2!; e++) {
        const name = `model.layers.${b}.block_sparse_moe.experts.${e}.${experts[kind]}.weight`;
        st.push({ name, shape, dtype: "F32", data: v.slice(e * per, (e + 1) * per) });
      }
      continue;
    }
    if (kind === "attn_q" || kind === "attn_k") v = unpermute(v, ne0, config.headSize);
    st.push({ name: `model.layers.${b}.${layer[kind]}.weight`, shape, dtype: "F32", data: v });
  }
  // Two shards plus an index, as large HF checkpoints come.
  const half = Math.ceil(st.length / 2);
  const map: Record<string, string> = {};
  for (const [i, part] of [st.slice(0, half), st.slice(half)].entries()) {
    const file = `model-0000${i + 1}-of-00002.safetensors`;
    await writeSafetensors(join(out, file), part);
    for (const t of part) map[t.name] = file;
  }
  await writeFile(join(out, "model.safetensors.index.json"), JSON.stringify({ weight_map: map }));
  await writeFile(join(out, "config.json"), JSON.stringify({ model_type: config.modelType }));
}

describe("GGUF files load and generate in node-llama-cpp", { timeout: 300_000 }, () => {
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  });
  after(async () => {
    await llama?.dispose();
    await cleanup();
  });

  it("tiny llama: same seed in F32, F16 and Q8_0 gives the same 8 greedy tokens", async () => {
    const config = tinyConfig();
    const runs: number[][] = [];
    for (const t of ["F32", "F16", "Q8_0"] as const) {
      const r = await write(config, t, `llama-${t}.gguf`);
      assert.equal(r.tensorCount, 20);
      assert.equal(r.paramCount, 64 * 128256 + 64 + 2 * (64 * 2 + 64 * 64 * 2 + 64 * 32 * 2 + 3 * 64 * 128));
      runs.push(await greedy(r.path));
    }
    assert.equal(runs[0]!.length, 8);
    assert.deepEqual(runs[1], runs[0]);
    assert.deepEqual(runs[2], runs[0]);
  });

  it("llama safetensors (sharded, HF q/k layout) converts to exactly the dummy GGUF", async () => {
    const config = tinyConfig();
    const ckpt = join(dir, "llama-ckpt");
    await checkpointFromDummy(config, ckpt);
    const conv = await write(config, "F32", "llama-conv.gguf", ckpt);
    const ref = join(dir, "llama-F32.gguf");
    const [a, b] = await Promise.all([readFile(conv.path), readFile(ref)]);
    assert.equal(a.length, b.length);
    assert.ok(a.equals(b), "converted file differs from the dummy file written from the same weights");
  });

  it("mixtral safetensors (per-expert tensors) converts to exactly the dummy GGUF", async () => {
    const config = tinyConfig({
      modelType: "mixtral",
      numLocalExperts: 4,
      numExpertsPerTok: 2,
      numHiddenLayers: 1,
    });
    const ckpt = join(dir, "mixtral-ckpt");
    await checkpointFromDummy(config, ckpt);
    const [conv, ref] = [
      await write(config, "F32", "mx-conv.gguf", ckpt),
      await write(config, "F32", "mx.gguf"),
    ];
    assert.ok((await readFile(conv.path)).equals(await readFile(ref.path)));
  });

  const others: [string, Partial<ModelConfig>][] = [
    ["mixtral", { modelType: "mixtral", numLocalExperts: 4, numExpertsPerTok: 2 }],
    ["gptj", { modelType: "gptj", numKeyValueHeads: 4, tieWordEmbeddings: false, raw: { rotary_dim: 8 } }],
    ["falcon", { modelType: "falcon", numKeyValueHeads: 1, intermediateSize: 256 }],
  ];
  for (const [name, over] of others) {
    it(`${name}: Q8_0 dummy loads and generates 8 tokens`, async () => {
      const r = await write(tinyConfig(over), "Q8_0", `${name}.gguf`);
      const toks = await greedy(r.path);
      assert.equal(toks.length, 8);
      assert.ok(toks.every((t) => Number.isInteger(t) && t >= 0 && t < 128256));
    });
  }
});
