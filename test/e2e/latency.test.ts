/**
 * `latency` end to end through the real CLI on a tiny engine (a dummy-weight GGUF reused by `build`): the
 * streaming report sections, and speculative decoding with a dummy copy of the target as draft (the engine
 * directory itself), whose drafts are all accepted.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { runLatency } from "../../src/benchmarks/latency.ts";
import { buildEngine } from "../../src/engine/embedded/build.ts";
import { writeGguf } from "../../src/engine/embedded/gguf/index.ts";
import { tinyConfig } from "../../src/engine/embedded/gguf/test-support.ts";
import type { RequestRecord } from "../../src/metrics/record.ts";
import { setLogSink } from "../../src/util/log.ts";
import { writeSmallVocabTokenizer } from "../helpers/small-vocab.ts";

const here = dirname(fileURLToPath(import.meta.url));
// Compiled to dist/test/e2e; the CLI is dist/src/cli/main.js. Under tsx, the sources.
const CLI = here.includes(`${join("dist", "test")}`)
  ? resolve(here, "../../src/cli/main.js")
  : resolve(here, "../../src/cli/main.ts");
const NODE_ARGS = CLI.endsWith(".ts") ? ["--import", "tsx"] : [];

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [...NODE_ARGS, CLI, ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const OSL = 9;

describe("latency (tiny engine)", { timeout: 300_000 }, () => {
  let ws: string;
  let dataset: string;
  let engineDir: string;

  before(async () => {
    ws = await mkdtemp(join(tmpdir(), "llm-bench-latency-"));
    const ckpt = join(ws, "ckpt");
    await mkdir(ckpt);
    // A small vocabulary keeps model and tokenizer loads fast.
    const tok = await writeSmallVocabTokenizer(ckpt);
    const c = tinyConfig({ tieWordEmbeddings: false, vocabSize: tok.vocabSize });
    await writeGguf({
      config: c,
      tokenizerJsonPath: tok.tokenizerJson,
      tokenizerConfigPath: tok.tokenizerConfig,
      weightType: "F32",
      source: { kind: "dummy", seed: 5 },
      contextLength: 256,
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
    const lines = [0, 1].map((i) =>
      JSON.stringify({
        task_id: i,
        input_ids: Array.from({ length: 16 }, (_, j) => 10 + 37 * i + 11 * j),
        output_tokens: OSL,
      }),
    );
    await writeFile(dataset, `${lines.join("\n")}\n`);
    const prev = setLogSink(() => {});
    try {
      const built = await buildEngine({
        model: "test/tiny-latency",
        modelPath: ckpt,
        workspace: ws,
        dataset,
        deviceProbe: async () => undefined,
        out: () => {},
      });
      engineDir = built.engineDir;
    } finally {
      setLogSink(prev);
    }
  });
  after(async () => {
    await rm(ws, { recursive: true, force: true });
  });

  it("with the engine itself as draft: streaming sections and DECODING STATISTICS with full acceptance", async () => {
    const reportJson = join(ws, "report.json");
    const llmApiYaml = join(ws, "llm-api.yaml");
    await writeFile(llmApiYaml, "kv_cache_config:\n  free_gpu_memory_fraction: 0.25\n");
    const r = cli([
      "--model",
      "test/tiny-latency",
      "latency",
      "--engine_dir",
      engineDir,
      "--dataset",
      dataset,
      "--draft_engine_dir",
      engineDir,
      "--max_draft_len",
      "3",
      "--warmup",
      "1",
      "--report_json",
      reportJson,
      "--config",
      llmApiYaml,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /Max Runtime Batch Size: 1\n/);
    assert.match(out, /Scheduling Policy:\s+GUARANTEED_NO_EVICT\n/);
    assert.match(out, /Average time-to-first-token \[TTFT\] \(ms\):\s+\d+\.\d{4}\n/);
    assert.match(out, /Average time-per-output-token \[TPOT\] \(ms\):\s+\d+\.\d{4}\n/);
    assert.match(out, /Per User Output Speed \(tps\/user\):\s+\d+\.\d{4}\n/);
    for (const tag of ["TPOT", "TTFT", "GTPS"]) assert.match(out, new RegExp(`\\[${tag}\\] P99    : \\d`));
    assert.match(out, /-- Request Latency Breakdown \(ms\)/);
    assert.match(out, /\[Latency\] AVERAGE: \d/);
    assert.match(out, /= DECODING STATISTICS \(DRAFT_TARGET\)/);
    // 9 tokens: 1 from the prefill, then steps of 3 drafts + 1 (4 tokens) twice: 6 drafts, all accepted.
    assert.match(out, /\[DT\] AVERAGE: 6\.00\n/);
    assert.match(out, /\[ADT\] AVERAGE: 6\.00\n/);
    assert.match(out, /\[DAR\] MINIMUM: 1\.00\n/);
    assert.match(out, /\[AL\] AVERAGE: 3\.00\n/);
    const json = JSON.parse(await readFile(reportJson, "utf8")) as {
      decoding_stats: { mode: string; draft_acceptance_rate_percentiles: { minimum: number } };
      streaming_metrics: { avg_ttft_ms: number };
      world_info: { max_batch_size: number; kv_cache_percentage: number };
    };
    assert.equal(json.decoding_stats.mode, "DRAFT_TARGET");
    assert.equal(json.decoding_stats.draft_acceptance_rate_percentiles.minimum, 1);
    assert.ok(json.streaming_metrics.avg_ttft_ms > 0);
    assert.equal(json.world_info.max_batch_size, 1);
    assert.equal(json.world_info.kv_cache_percentage, 0.25, "--config was read");
  });

  it("without speculative decoding (in process): streaming sections, no DECODING STATISTICS", async () => {
    let text = "";
    const prev = setLogSink(() => {});
    try {
      const { records, report } = await runLatency({
        backend: "embedded",
        model: "test/tiny-latency",
        workspace: ws,
        dataset,
        engineDir,
        numRequests: 0,
        warmup: 0,
        eosId: -1,
        out: (t) => {
          text += t;
        },
      });
      assert.equal(records.length, 2);
      for (const r of records) {
        assert.equal(r.numOutputTokens, OSL);
        assert.equal(r.decodeIterations, OSL);
        assert.ok(r.firstTokenNs > r.startNs && r.endNs >= r.firstTokenNs);
        assert.equal(r.draftTokens, undefined);
      }
      // Concurrency 1: the second request starts after the first ended.
      const [a, b] = [...records].sort((x, y) => x.startNs - y.startNs) as [RequestRecord, RequestRecord];
      assert.ok(b.startNs >= a.endNs);
      assert.equal(report.decodingMode, undefined);
    } finally {
      setLogSink(prev);
    }
    assert.match(text, /Number of requests:\s+2\n/);
    assert.match(text, /Average Output Length \(tokens\):\s+9\.0000\n/);
    assert.match(text, /\[TTFT\] MINIMUM: \d/);
    assert.doesNotMatch(text, /DECODING STATISTICS/);
  });
});
