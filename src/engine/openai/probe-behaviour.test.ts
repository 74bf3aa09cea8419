import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type LlamaCppFixtureOptions, startLlamaCppFixture } from "../../../test/fixtures/llamacpp-server.ts";
import type { DatasetMetadata } from "../../dataset/types.ts";
import type { Tokenizer } from "../../model/tokenizer.ts";
import { resolveTokenizer } from "../../model/tokenizer-resolve.ts";
import { setLogSink } from "../../util/log.ts";
import type { Engine } from "../types.ts";
import type { OpenAiEndpoint } from "./connection.ts";
import { prepareOpenai } from "./prepare.ts";
import { readStream } from "./probe-behaviour.ts";

const ps = { p50: 0, p90: 0, p95: 0, p99: 0, minimum: 0, maximum: 0, average: 0 };
const META: DatasetMetadata = {
  dataset_path: "x",
  num_requests: 1,
  isl_stats: ps,
  osl_stats: ps,
  seq_len_stats: ps,
  max_isl: 4,
  max_osl: 32,
  max_sequence_length: 36,
  avg_isl: 4,
  avg_osl: 32,
  avg_sequence_length: 36,
};

const logs: string[] = [];
let restore: ((l: string) => void) | undefined;
let tok: Tokenizer;
before(async () => {
  restore = setLogSink((l) => logs.push(l));
  tok = await resolveTokenizer({ model: "llm-bench/tiny-llama" });
});
after(() => {
  if (restore) setLogSink(restore);
});

async function withLlamaCpp(
  opts: LlamaCppFixtureOptions,
  endpoint: OpenAiEndpoint,
  fn: (engine: Engine, bodies: Array<Record<string, unknown>>) => Promise<void>,
): Promise<void> {
  const srv = await startLlamaCppFixture({
    eosId: tok.eosTokenId,
    countText: (t) => tok.encode(t, { addSpecialTokens: false }).length,
    ...opts,
  });
  try {
    logs.length = 0;
    const prepared = await prepareOpenai({
      model: "llm-bench/tiny-llama",
      workspace: "/tmp",
      dataset: "x",
      runtime: {
        kvCacheFreeGpuMemFraction: 0.9,
        schedulerPolicy: "guaranteed_no_evict",
        enableChunkedContext: true,
      },
      yaml: {},
      openai: { baseUrl: srv.url, endpoint, requestTimeoutMs: 2000, concurrency: 4 },
    });
    const engine = (await prepared.start(META)).engine;
    try {
      await fn(engine, srv.bodies);
    } finally {
      await engine.stop();
    }
  } finally {
    await srv.close();
  }
}

const warned = (re: RegExp) => logs.some((l) => / \[W\] Server probe: /.test(l) && re.test(l));

describe("the probe sees what the server ignores (llama-server's behaviour)", { timeout: 30_000 }, () => {
  test("completions: no per-chunk usage, no token ids; lengths forced; the final usage event is no chunk", async () => {
    await withLlamaCpp({}, "completions", async (engine) => {
      assert.ok(warned(/continuous_usage_stats ignored.*request averages/));
      assert.ok(warned(/return_token_ids ignored.*re-tokenizing/));
      assert.ok(!warned(/output lengths are not forced/));
      assert.ok(!warned(/prompt tokens/));
      assert.ok(
        logs.some((l) =>
          /\[I\] Server probe: the server sends usage, forced output lengths, the dataset's prompt counts/.test(
            l,
          ),
        ),
      );
      const r = await engine.generate({ id: "1", inputIds: [1, 2, 3], maxTokens: 8, streaming: true });
      assert.equal(r.error, undefined);
      assert.equal(r.serverOutputTokens, 8);
      assert.equal(r.serverInputTokens, 3);
      // 8 tokens in 8 chunks: the usage-only final event (empty text, finish_reason) is not a ninth.
      assert.equal(r.chunkTimesNs!.length, 8);
      assert.equal(r.decodeIterations, 8);
      assert.equal(r.chunkTokens, undefined);
    });
  });

  test("chat: the template's prompt tokens are found by the probe and counted per request", async () => {
    await withLlamaCpp({ templateTokens: 9 }, "chat", async (engine) => {
      assert.ok(
        warned(
          /server counts 11 prompt tokens for a probe the dataset would count as 2 \(its chat template\)/,
        ),
      );
      const r = await engine.generate({
        id: "1",
        inputIds: [9906, 1917],
        prompt: "Hello world",
        maxTokens: 3,
        streaming: true,
      });
      assert.equal(r.error, undefined);
      assert.equal(r.serverInputTokens, 1 + 9 + 2);
      assert.equal(r.chunkTimesNs!.length, 3);
    });
  });

  test("a server that ignores ignore_eos and min_tokens is caught by the EOS-biased length probe", async () => {
    await withLlamaCpp({ honourIgnoreEos: false }, "completions", async (_engine, bodies) => {
      assert.ok(warned(/output lengths are not forced .*0 of 4 tokens with EOS made the greedy choice/));
      const probe = bodies[1]!;
      assert.equal(probe["max_tokens"], 4);
      assert.deepEqual(probe["logit_bias"], { [String(tok.eosTokenId)]: 100 });
    });
  });
});

describe("readStream", { timeout: 10_000 }, () => {
  test("a usage-only final event after chunks without usage is the total, not a chunk", () => {
    const body =
      'data: {"choices":[{"text":" a","finish_reason":null}]}\n\n' +
      'data: {"choices":[{"text":" b","finish_reason":null}]}\n\n' +
      'data: {"choices":[{"text":"","finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n' +
      "data: [DONE]\n\n";
    const acc = readStream(body, false);
    assert.equal(acc.failure, undefined);
    assert.equal(acc.chunkTimesNs.length, 2);
    assert.equal(acc.serverTokens, 2);
    assert.equal(acc.serverPromptTokens, 5);
  });

  test("with continuous usage an empty-text event that adds tokens still counts", () => {
    const body =
      'data: {"choices":[{"text":" a"}],"usage":{"prompt_tokens":5,"completion_tokens":1}}\n\n' +
      'data: {"choices":[{"text":""}],"usage":{"prompt_tokens":5,"completion_tokens":2}}\n\n' +
      'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}\n\n' +
      "data: [DONE]\n\n";
    const acc = readStream(body, false);
    assert.equal(acc.chunkTimesNs.length, 2);
    assert.deepEqual(acc.tokensPerChunk(), [1, 1]);
  });
});
