/**
 * A GGUF whose hyper-parameters llama.cpp would abort on (GGML_ASSERT, exit 134) through the real CLI: the run
 * and the build fail with an EngineError naming the file and the key.
 */
import assert from "node:assert/strict";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildEngine } from "../../src/engine/embedded/build.ts";
import { writeGguf } from "../../src/engine/embedded/gguf/index.ts";
import { tinyConfig } from "../../src/engine/embedded/gguf/test-support.ts";
import { setLogSink } from "../../src/util/log.ts";
import { assertTypedError, cli, esc } from "../helpers/cli-run.ts";
import { patchGgufU32 } from "../helpers/gguf-patch.ts";
import { writeSmallVocabTokenizer } from "../helpers/small-vocab.ts";

// Before the check, llama.cpp met these on a GGML_ASSERT and aborted the process (exit 134, no message).
describe("a GGUF llama.cpp would abort on", { timeout: 300_000 }, () => {
  let ws = "";
  let ckpt = "";
  let engineDir = "";
  let dataset = "";
  before(async () => {
    ws = await mkdtemp(join(tmpdir(), "llm-bench-bad-gguf-"));
    ckpt = join(ws, "ckpt");
    await mkdir(ckpt);
    const tok = await writeSmallVocabTokenizer(ckpt);
    const c = tinyConfig({ tieWordEmbeddings: false, vocabSize: tok.vocabSize });
    await writeGguf({
      config: c,
      tokenizerJsonPath: tok.tokenizerJson,
      tokenizerConfigPath: tok.tokenizerConfig,
      weightType: "F32",
      source: { kind: "dummy", seed: 5 },
      contextLength: 128,
      outPath: join(ckpt, "model.gguf"),
    });
    await writeFile(
      join(ckpt, "config.json"),
      JSON.stringify({
        architectures: ["LlamaForCausalLM"],
        model_type: "llama",
        hidden_size: c.hiddenSize,
        num_hidden_layers: c.numHiddenLayers,
        num_attention_heads: c.numAttentionHeads,
        num_key_value_heads: c.numKeyValueHeads,
        head_dim: c.headSize,
        intermediate_size: c.intermediateSize,
        vocab_size: c.vocabSize,
        max_position_embeddings: c.maxPositionEmbeddings,
        tie_word_embeddings: false,
        rope_theta: c.ropeTheta,
        rms_norm_eps: c.rmsNormEps,
        torch_dtype: "float32",
      }),
    );
    dataset = join(ws, "d.jsonl");
    await writeFile(dataset, '{"task_id":0,"input_ids":[10,20,30],"output_tokens":2}\n');
    const prev = setLogSink(() => {});
    try {
      const built = await buildEngine({
        model: "test/tiny-bad-gguf",
        modelPath: ckpt,
        workspace: ws,
        maxSeqLen: 64,
        deviceProbe: async () => undefined,
        out: () => {},
      });
      engineDir = built.engineDir;
      // A copy for the engine: the checkpoint's file is patched separately below.
      const gguf = join(
        engineDir,
        JSON.parse(await readFile(join(engineDir, "config.json"), "utf8")).llm_bench.gguf_file,
      );
      await copyFile(gguf, `${gguf}.copy`);
      await rm(gguf);
      await rename(`${gguf}.copy`, gguf);
      await patchGgufU32(gguf, { "llama.attention.head_count": 0 });
    } finally {
      setLogSink(prev);
    }
  });
  after(() => rm(ws, { recursive: true, force: true }));

  it("throughput on an engine whose GGUF has head_count = 0: an EngineError naming the file and key", async () => {
    const r = await cli([
      "--model",
      "test/tiny-bad-gguf",
      "throughput",
      "--engine_dir",
      engineDir,
      "--dataset",
      dataset,
    ]);
    assertTypedError(
      r,
      1,
      /\.gguf: llama\.attention\.head_count = 0: an attention model needs at least one head/,
      "throughput",
    );
  });

  it("build reusing a GGUF with block_count = 0 fails before writing anything", async () => {
    await patchGgufU32(join(ckpt, "model.gguf"), { "llama.block_count": 0 });
    const out = join(ws, "ws2");
    const r = await cli([
      "--model",
      "test/tiny-bad-gguf",
      "--model_path",
      ckpt,
      "-w",
      out,
      "build",
      "--max_seq_len",
      "64",
    ]);
    assertTypedError(r, 1, new RegExp(`${esc(join(ckpt, "model.gguf"))}: llama\\.block_count = 0`), "build");
    await assert.rejects(readdir(join(out, "test")), /ENOENT/, "no engine directory was written");
  });
});
