import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  type FixtureMode,
  type FixtureOptions,
  startFixtureServer,
} from "../../../test/fixtures/openai-server.ts";
import type { DatasetRequest } from "../../dataset/types.ts";
import { runOffline } from "../../load/offline.ts";
import { computeStatistics } from "../../metrics/statistics.ts";
import { resolveTokenizer } from "../../model/tokenizer-resolve.ts";
import { nowNs } from "../../util/clock.ts";
import { setLogSink } from "../../util/log.ts";
import type { CommonBackendOptions, EngineLimits } from "../backend.ts";
import type { Engine, EngineInfo } from "../types.ts";
import { OpenAiEngine } from "./client.ts";
import { countClientTokens } from "./client-count.ts";
import { OpenAiConnection, type OpenAiEndpoint } from "./connection.ts";
import { prepareOpenai } from "./prepare.ts";

const LIMITS: EngineLimits = { maxInputLength: 4, maxSequenceLength: 36 };

const logs: string[] = [];
let restoreSink: ((l: string) => void) | undefined;
before(() => {
  restoreSink = setLogSink((l) => logs.push(l));
});
after(() => {
  if (restoreSink) setLogSink(restoreSink);
});

async function engineFor(
  url: string,
  opt: { endpoint?: OpenAiEndpoint; timeoutMs?: number; concurrency?: number } = {},
): Promise<Engine> {
  const opts: CommonBackendOptions = {
    model: "llm-bench/tiny-llama",
    workspace: "/tmp",
    dataset: "x",
    runtime: {
      kvCacheFreeGpuMemFraction: 0.9,
      schedulerPolicy: "guaranteed_no_evict",
      enableChunkedContext: true,
    },
    yaml: {},
    concurrency: opt.concurrency ?? 16,
  };
  const prepared = await prepareOpenai(opts, {
    baseUrl: url,
    endpoint: opt.endpoint ?? "completions",
    requestTimeoutMs: opt.timeoutMs ?? 2000,
    headers: { "x-test": "1" },
  });
  return (await prepared.start(LIMITS)).engine;
}

function req(id: number, outputTokens: number, prompt?: string): DatasetRequest {
  return {
    taskId: id,
    inputIds: Int32Array.from([9906, 1917]),
    prompt,
    outputTokens,
    line: id,
    loraRequest: undefined,
  };
}

async function withServer<T>(
  opts: FixtureOptions,
  fn: (url: string, bodies: Array<Record<string, unknown>>) => Promise<T>,
) {
  const srv = await startFixtureServer(opts);
  try {
    return await fn(srv.url, srv.bodies);
  } finally {
    await srv.close();
  }
}

describe("failures are data", () => {
  // Each request's output length picks its fixture mode.
  const modes: Record<number, FixtureMode> = {
    5: "ok",
    6: "multi",
    8: "short",
    9: "http_400",
    10: "http_503",
    11: "reset",
    12: "stall",
    13: "malformed",
    14: "empty",
    15: "no_done",
  };
  // 60 s: loading the tokenizer alone took over 10 s in a full run on the loaded 2-core machine.
  test("every failure kind is recorded with its reason; the run finishes; counts by reason", {
    timeout: 60_000,
  }, async () => {
    await withServer({ modeFor: (b) => modes[b["max_tokens"] as number] }, async (url) => {
      const engine = await engineFor(url, { timeoutMs: 400 });
      const lens = Object.keys(modes).map(Number);
      const t0 = Date.now();
      const { records } = await runOffline(
        engine,
        lens.map((n) => req(n, n)),
        { concurrency: -1, streaming: true, eosId: undefined, keepOutputIds: false },
      );
      await engine.stop();
      await countClientTokens(records, await resolveTokenizer({ model: "llm-bench/tiny-llama" }), {
        keepOutputIds: false,
      });
      // The stall is the slowest: it ends at the 400 ms silence timeout, not later.
      assert.ok(Date.now() - t0 < 5000);
      const byId = new Map(records.map((r) => [r.id, r]));
      const err = (n: number) => byId.get(String(n))!.error;
      assert.equal(err(5), undefined);
      assert.equal(err(6), undefined);
      assert.equal(err(8), undefined);
      assert.match(err(9)!, /^http_400: bad request from fixture$/);
      assert.match(err(10)!, /^http_503: Service Unavailable$/);
      assert.match(err(11)!, /^connection_reset: mid-stream after 2 chunks/);
      assert.match(err(12)!, /^timeout: no data for 0.4 s/);
      assert.match(err(13)!, /^malformed_sse: data is not JSON/);
      assert.match(err(14)!, /^empty_response/);
      assert.match(err(15)!, /^incomplete_stream/);
      // Successful outcomes: exact counts, both sources agree.
      const ok = byId.get("5")!;
      assert.equal(ok.numOutputTokens, 5);
      assert.equal(ok.serverOutputTokens, 5);
      assert.equal(ok.clientOutputTokens, 5);
      assert.deepEqual(ok.chunkTokens, [1, 1, 1, 1, 1]);
      assert.equal(byId.get("8")!.numOutputTokens, 4);

      const s = computeStatistics(records, { streaming: true, worldSize: 1 });
      assert.equal(s.numRequests, 3);
      assert.equal(s.numFailed, 7);
      const reasons = Object.fromEntries((s.failureReasons ?? []).map((f) => [f.message, f.count]));
      assert.deepEqual(reasons, {
        http_400: 1,
        http_503: 1,
        connection_reset: 1,
        timeout: 1,
        malformed_sse: 1,
        empty_response: 1,
        incomplete_stream: 1,
      });
      // Statistics use the three successes only: 5 + 6 + 4 tokens, one of them short.
      assert.equal(s.totalOutputTokens, 15);
      assert.equal(s.tokenAccounting.shortRequests, 1);
    });
  });

  test("a refused connection is a failure, not a rejection", async () => {
    const dead = await startFixtureServer();
    await dead.close();
    const conn = new OpenAiConnection({
      baseUrl: dead.url,
      endpoint: "completions",
      requestTimeoutMs: 1000,
      concurrency: 1,
    });
    const engine = new OpenAiEngine({
      connection: conn,
      info: {} as EngineInfo,
      model: "m",
      features: { tokenIdPrompts: true, extensions: true },
      tokenizer: await resolveTokenizer({ model: "llm-bench/tiny-llama" }),
    });
    const r = await engine.generate({ id: "1", inputIds: [1], maxTokens: 2, streaming: true });
    await engine.stop();
    assert.equal(r.finishReason, "error");
    assert.match(r.error!, /^connection_refused/);
  });
});

describe("token accounting", () => {
  test("multi-token chunks with continuous usage: per-chunk counts from the server", async () => {
    await withServer({ tokensPerChunk: 4 }, async (url) => {
      const engine = await engineFor(url);
      const before = nowNs();
      const r = await engine.generate({ id: "1", inputIds: [1], maxTokens: 10, streaming: true });
      await engine.stop();
      assert.equal(r.error, undefined);
      // Request written, first response byte, first token, end: in this order, all after the call.
      assert.ok(before <= r.sentNs! && r.sentNs! <= r.firstByteNs!, `${before} ${r.sentNs} ${r.firstByteNs}`);
      assert.ok(r.firstByteNs! <= r.firstTokenNs! && r.firstTokenNs! <= r.endNs);
      assert.equal(r.serverOutputTokens, 10);
      assert.equal(r.outputText, " the".repeat(10));
      assert.deepEqual(r.outputIds, []); // counted after the run, not on the load path
      assert.deepEqual(r.chunkTokens, [4, 4, 2]);
      assert.equal(r.chunkTimesNs!.length, 3);
      assert.equal(r.decodeIterations, 3);
      assert.equal(r.firstTokenNs, r.chunkTimesNs![0]);
    });
  });

  test("usage only at the end: no per-chunk counts, totals still from the server", async () => {
    await withServer({ tokensPerChunk: 3, continuousUsage: false }, async (url) => {
      const engine = await engineFor(url);
      const r = await engine.generate({ id: "1", inputIds: [1], maxTokens: 7, streaming: true });
      await engine.stop();
      assert.equal(r.serverOutputTokens, 7);
      assert.equal(r.chunkTokens, undefined);
      assert.equal(r.chunkTimesNs!.length, 3);
    });
  });

  test("no usage at all: the client tokenizer's count is n, the server count is absent", async () => {
    await withServer({ defaultMode: "no_usage" }, async (url) => {
      const engine = await engineFor(url);
      const { records } = await runOffline(engine, [req(1, 6)], {
        concurrency: 1,
        streaming: true,
        eosId: undefined,
        keepOutputIds: false,
      });
      await engine.stop();
      const r = records[0]!;
      assert.equal(r.numOutputTokens, 0); // until the client count fills it in
      await countClientTokens(records, await resolveTokenizer({ model: "llm-bench/tiny-llama" }), {
        keepOutputIds: true,
      });
      assert.deepEqual(r.outputIds, [279, 279, 279, 279, 279, 279]);
      assert.equal(r.outputText, undefined);
      assert.equal(r.serverOutputTokens, undefined);
      assert.equal(r.clientOutputTokens, 6);
      assert.equal(r.numOutputTokens, 6);
      const s = computeStatistics(records, { streaming: true, worldSize: 1 });
      assert.deepEqual(s.outputTokenCounts, {
        serverCounted: 0,
        clientCounted: 1,
        bothCounted: 0,
        serverOutputTokens: 0,
        clientOutputTokens: 6,
        difference: 0,
        differingRequests: 0,
      });
      assert.equal(s.chunks!.tokensPerChunkSource, "request_average");
      assert.equal(s.chunks!.tokensPerChunk.average, 1);
    });
  });

  test("chat: the role-only prelude is not the first token", async () => {
    await withServer({ tokensPerChunk: 2 }, async (url, bodies) => {
      const engine = await engineFor(url, { endpoint: "chat" });
      const r = await engine.generate({
        id: "1",
        inputIds: [9906],
        prompt: "Hi",
        maxTokens: 4,
        streaming: true,
      });
      await engine.stop();
      assert.equal(r.error, undefined);
      assert.equal(r.chunkTimesNs!.length, 2);
      assert.deepEqual(r.chunkTokens, [2, 2]);
      const last = bodies.at(-1)!;
      assert.deepEqual(last["messages"], [{ role: "user", content: "Hi" }]);
    });
  });
});

describe("probe: token-id prompts and extensions", () => {
  test("a capable server gets ids, ignore_eos and min_tokens", async () => {
    await withServer({}, async (url, bodies) => {
      const engine = await engineFor(url);
      await engine.generate({ id: "1", inputIds: Int32Array.from([5, 6, 7]), maxTokens: 3, streaming: true });
      await engine.stop();
      assert.equal(bodies.length, 3); // the probe, the length probe, one request
      assert.deepEqual(bodies[1]!["logit_bias"], { "128009": 100 });
      assert.equal(bodies[1]!["min_tokens"], 4);
      const b = bodies[2]!;
      assert.deepEqual(b["prompt"], [5, 6, 7]);
      assert.equal(b["max_tokens"], 3);
      assert.equal(b["ignore_eos"], true);
      assert.equal(b["min_tokens"], 3);
      assert.equal(b["stream"], true);
      assert.deepEqual(b["stream_options"], { include_usage: true, continuous_usage_stats: true });
      assert.equal(engine.capabilities.tokenIdPrompts, true);
    });
  });

  test("ids refused: falls back to text (the dataset's prompt, else decoded ids) and logs why", async () => {
    logs.length = 0;
    await withServer({ rejectTokenIds: true }, async (url, bodies) => {
      const engine = await engineFor(url);
      await engine.generate({
        id: "1",
        inputIds: [9906],
        prompt: "exact text",
        maxTokens: 2,
        streaming: true,
      });
      await engine.generate({
        id: "2",
        inputIds: Int32Array.from([9906, 1917]),
        maxTokens: 2,
        streaming: true,
      });
      await engine.stop();
      assert.equal(engine.capabilities.tokenIdPrompts, false);
      // probes: ids+ext (400), ids (400), text+ext (ok), the length probe; then the two requests
      assert.equal(bodies.length, 6);
      assert.equal(bodies[4]!["prompt"], "exact text");
      assert.equal(bodies[5]!["prompt"], "Hello world");
      assert.ok(logs.some((l) => /token-id prompt .* refused \(HTTP 400: prompt must be a string\)/.test(l)));
      assert.ok(logs.some((l) => /does not take token-id prompts/.test(l)));
    });
  });

  test("extensions refused: ids kept, no ignore_eos, a warning about lengths", async () => {
    logs.length = 0;
    await withServer({ rejectExtensions: true }, async (url, bodies) => {
      const engine = await engineFor(url);
      const r = await engine.generate({ id: "1", inputIds: [1, 2], maxTokens: 3, streaming: true });
      await engine.stop();
      assert.equal(r.error, undefined);
      const b = bodies.at(-1)!;
      assert.deepEqual(b["prompt"], [1, 2]);
      assert.equal("ignore_eos" in b, false);
      assert.deepEqual(b["stream_options"], { include_usage: true });
      assert.equal(engine.capabilities.exactOutputLength, false);
      assert.ok(logs.some((l) => /refused ignore_eos\/min_tokens/.test(l)));
    });
  });

  test("return_token_ids refused (trtllm-serve): ids and ignore_eos/min_tokens kept, only that field dropped", async () => {
    logs.length = 0;
    await withServer({ rejectReturnTokenIds: true }, async (url, bodies) => {
      const engine = await engineFor(url);
      const r = await engine.generate({ id: "1", inputIds: [1, 2], maxTokens: 3, streaming: true });
      await engine.stop();
      assert.equal(r.error, undefined);
      const b = bodies.at(-1)!;
      assert.deepEqual(b["prompt"], [1, 2]);
      assert.equal(b["ignore_eos"], true);
      assert.equal(b["min_tokens"], 3);
      assert.equal("return_token_ids" in b, false);
      assert.equal(engine.capabilities.exactOutputLength, true);
      assert.ok(
        logs.some((l) =>
          /ignore_eos\/min_tokens\/continuous_usage_stats refused \(HTTP 400: return_token_ids/.test(l),
        ),
      );
      assert.ok(!logs.some((l) => /refused ignore_eos\/min_tokens: requests may stop/.test(l)));
    });
  });

  test("a server answering 5xx to the probe stops the run with an EngineError", async () => {
    await withServer({ defaultMode: "http_503" }, async (url) => {
      await assert.rejects(engineFor(url), /HTTP 503 to a 1-token probe/);
    });
  });
});
