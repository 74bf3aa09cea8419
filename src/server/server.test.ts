import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { FakeEngine } from "../load/fake-engine.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import { type RunningServer, type ServerOptions, startServer } from "./server.ts";

// biome-ignore lint/suspicious/noExplicitAny: parsed JSON responses, checked field by field
type Json = any;

/** One character per token: id = char code + 10; 1 = BOS, 2 = EOS (special, dropped from text). */
const BOS = 1;
const EOS = 2;
const fakeTokenizer: Tokenizer = {
  source: "fake",
  vocabSize: 70_000,
  totalVocabSize: 70_000,
  bosTokenId: BOS,
  eosTokenId: EOS,
  specialIds: new Set([BOS, EOS]),
  files: { tokenizerJson: "", tokenizerConfig: undefined },
  encode(text, options) {
    const ids = [...text].map((c) => c.codePointAt(0)! + 10);
    return options?.addSpecialTokens === false ? ids : [BOS, ...ids];
  },
  decode(ids, options) {
    return ids
      .filter((id) => !(options?.skipSpecialTokens && (id === BOS || id === EOS)))
      .map((id) => (id >= 10 ? String.fromCodePoint(id - 10) : ""))
      .join("");
  },
  idToToken: () => undefined,
};
const textOf = (ids: number[]) => fakeTokenizer.decode(ids, { skipSpecialTokens: true });
const fakeIds = (n: number, from = 0) => Array.from({ length: n }, (_, i) => 1000 + from + i);

async function serve(engine: FakeEngine, over: Partial<ServerOptions> = {}): Promise<RunningServer> {
  return startServer({
    engine,
    tokenizer: fakeTokenizer,
    vocabSize: 70_000,
    servedModelName: "test/model",
    maxSeqLen: 64,
    maxInputLen: 48,
    host: "127.0.0.1",
    port: 0,
    maxBodyBytes: 4096,
    encoder: { encode: async (text) => fakeTokenizer.encode(text, { addSpecialTokens: true }) },
    ...over,
  });
}

function post(s: RunningServer, path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${s.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** The `data:` payloads of an SSE body, parsed; the final `[DONE]` is checked and dropped. */
async function events(res: Response): Promise<Json[]> {
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  const parts = (await res.text()).split("\n\n").filter((p) => p !== "");
  assert.equal(parts.pop(), "data: [DONE]");
  return parts.map((p) => {
    assert.ok(p.startsWith("data: "), p);
    return JSON.parse(p.slice(6));
  });
}

async function expectError(res: Response, status: number, param: string | null, code?: string | null) {
  assert.equal(res.status, status);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  const body = (await res.json()) as { error: Record<string, unknown> };
  assert.deepEqual(Object.keys(body), ["error"]);
  assert.deepEqual(Object.keys(body.error).sort(), ["code", "message", "param", "type"]);
  assert.equal(typeof body.error["message"], "string");
  assert.equal(typeof body.error["type"], "string");
  assert.equal(body.error["param"], param);
  if (code !== undefined) assert.equal(body.error["code"], code);
  return body.error;
}

describe("serve: endpoints over a fake engine", () => {
  const engine = new FakeEngine({ stepMs: 1 });
  let s: RunningServer;
  before(async () => {
    s = await serve(engine);
  });
  after(() => s.shutdown(1000));

  it("GET /health and /v1/models", async () => {
    const h = await fetch(`${s.url}/health`);
    assert.equal(h.status, 200);
    assert.deepEqual(await h.json(), { status: "ok" });
    const m = (await (await fetch(`${s.url}/v1/models`)).json()) as Json;
    assert.equal(m.object, "list");
    assert.equal(m.data.length, 1);
    assert.equal(m.data[0].id, "test/model");
    assert.equal(m.data[0].max_model_len, 64);
  });

  it("non-streaming completion of a text prompt: text, token ids, usage, exact length", async () => {
    const res = await post(s, "/v1/completions", { model: "test/model", prompt: "abc", max_tokens: 5 });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Json;
    assert.equal(body.object, "text_completion");
    assert.equal(body.model, "test/model");
    assert.deepEqual(body.choices[0].token_ids, fakeIds(5));
    assert.equal(body.choices[0].text, textOf(fakeIds(5)));
    assert.equal(body.choices[0].finish_reason, "length");
    // BOS + 3 characters.
    assert.deepEqual(body.usage, { prompt_tokens: 4, completion_tokens: 5, total_tokens: 9 });
    const req = engine.requests.at(-1)!;
    assert.deepEqual(Array.from(req.inputIds), [BOS, 97 + 10, 98 + 10, 99 + 10]);
    assert.equal(req.maxTokens, 5);
    assert.equal(req.eosId, EOS, "EOS honoured by default");
  });

  it("token-id prompts (bare and as a one-element batch) reach the engine unchanged", async () => {
    for (const prompt of [[20, 21, 22], [[20, 21, 22]]]) {
      const body = (await (await post(s, "/v1/completions", { prompt, max_tokens: 2 })).json()) as Json;
      assert.equal(body.usage.prompt_tokens, 3);
      assert.deepEqual(Array.from(engine.requests.at(-1)!.inputIds), [20, 21, 22]);
    }
  });

  it("streaming completion: one chunk per token, finish_reason on the last, usage chunk, continuous usage", async () => {
    const res = await post(s, "/v1/completions", {
      prompt: [20, 21],
      max_tokens: 4,
      stream: true,
      stream_options: { include_usage: true, continuous_usage_stats: true },
    });
    const ev = await events(res);
    assert.equal(ev.length, 5);
    for (let i = 0; i < 4; i++) {
      const c = ev[i]!.choices[0];
      assert.equal(ev[i]!.object, "text_completion");
      assert.deepEqual(c.token_ids, [1000 + i]);
      assert.equal(c.text, textOf([1000 + i]));
      assert.equal(c.finish_reason, i === 3 ? "length" : null);
      assert.deepEqual(ev[i]!.usage, { prompt_tokens: 2, completion_tokens: i + 1, total_tokens: 3 + i });
    }
    assert.deepEqual(ev[4]!.choices, []);
    assert.deepEqual(ev[4]!.usage, { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
  });

  it("streaming without stream_options sends no usage", async () => {
    const ev = await events(await post(s, "/v1/completions", { prompt: "x", max_tokens: 2, stream: true }));
    assert.equal(ev.length, 2);
    for (const e of ev) assert.equal(e.usage, undefined);
  });

  it("chat: plain prompt rendering, message and streamed deltas with the role once", async () => {
    const messages = [
      { role: "system", content: "s" },
      { role: "user", content: [{ type: "text", text: "hi" }] },
    ];
    const body = (await (await post(s, "/v1/chat/completions", { messages, max_tokens: 3 })).json()) as Json;
    assert.equal(body.object, "chat.completion");
    assert.deepEqual(body.choices[0].message, { role: "assistant", content: textOf(fakeIds(3)) });
    assert.deepEqual(
      Array.from(engine.requests.at(-1)!.inputIds),
      fakeTokenizer.encode("system: s\nuser: hi\nassistant:"),
    );
    const ev = await events(
      await post(s, "/v1/chat/completions", { messages, max_completion_tokens: 3, stream: true }),
    );
    assert.equal(ev.length, 3);
    assert.equal(ev[0]!.object, "chat.completion.chunk");
    assert.equal(ev[0]!.choices[0].delta.role, "assistant");
    assert.equal(ev[1]!.choices[0].delta.role, undefined);
    assert.equal(ev.map((e) => e.choices[0].delta.content).join(""), textOf(fakeIds(3)));
    assert.equal(ev[2]!.choices[0].finish_reason, "length");
  });

  it("return_token_ids echoes the prompt ids", async () => {
    const body = (await (
      await post(s, "/v1/completions", { prompt: [30, 31], max_tokens: 1, return_token_ids: true })
    ).json()) as Json;
    assert.deepEqual(body.choices[0].prompt_token_ids, [30, 31]);
  });
});

describe("serve: EOS, ignore_eos and min_tokens", () => {
  // EOS appears at positions 2 and 5 of every output.
  const engine = new FakeEngine({ stepMs: 1, tokenFor: (p) => (p === 2 || p === 5 ? EOS : 1000 + p) });
  let s: RunningServer;
  before(async () => {
    s = await serve(engine);
  });
  after(() => s.shutdown(1000));

  async function complete(extra: Record<string, unknown>) {
    const body = (await (
      await post(s, "/v1/completions", { prompt: [20], max_tokens: 8, ...extra })
    ).json()) as Json;
    return {
      ids: body.choices[0].token_ids as number[],
      finish: body.choices[0].finish_reason,
      usage: body.usage,
    };
  }

  it("stops at the first EOS by default (the EOS token counts)", async () => {
    // The fake engine stops at its eosId only when asked; here the engine gets EOS and stops on it.
    const r = await complete({});
    assert.equal(engine.requests.at(-1)!.eosId, EOS);
    assert.deepEqual(r.ids, [1000, 1001, EOS]);
    assert.equal(r.finish, "stop");
    assert.equal(r.usage.completion_tokens, 3);
  });

  it("ignore_eos gives exactly max_tokens tokens, and so does min_tokens = max_tokens", async () => {
    for (const extra of [{ ignore_eos: true }, { min_tokens: 8 }]) {
      const r = await complete(extra);
      assert.equal(engine.requests.at(-1)!.eosId, undefined);
      assert.equal(r.ids.length, 8);
      assert.equal(r.finish, "length");
      assert.equal(r.usage.completion_tokens, 8);
    }
  });

  it("min_tokens: an EOS before it is passed over, the first one at or after it stops", async () => {
    for (const stream of [false, true]) {
      const res = await post(s, "/v1/completions", { prompt: [20], max_tokens: 8, min_tokens: 4, stream });
      let ids: number[];
      let finish: string;
      if (stream) {
        const ev = await events(res);
        ids = ev.flatMap((e) => e.choices[0].token_ids);
        finish = ev.at(-1)!.choices[0].finish_reason;
      } else {
        const body = (await res.json()) as Json;
        ids = body.choices[0].token_ids;
        finish = body.choices[0].finish_reason;
      }
      assert.deepEqual(ids, [1000, 1001, EOS, 1003, 1004, EOS], `stream=${stream}`);
      assert.equal(finish, "stop");
    }
  });
});

describe("serve: every validation error in OpenAI's error shape", () => {
  const engine = new FakeEngine({ stepMs: 1 });
  let s: RunningServer;
  before(async () => {
    s = await serve(engine, { apiKey: "sekret" });
  });
  after(() => s.shutdown(1000));
  const auth = { authorization: "Bearer sekret" };

  it("401 for a missing or wrong API key; /health needs none", async () => {
    await expectError(await post(s, "/v1/completions", { prompt: "a" }), 401, null, "invalid_api_key");
    await expectError(
      await post(s, "/v1/completions", { prompt: "a" }, { authorization: "Bearer nope" }),
      401,
      null,
      "invalid_api_key",
    );
    await expectError(await fetch(`${s.url}/v1/models`), 401, null, "invalid_api_key");
    assert.equal((await fetch(`${s.url}/health`)).status, 200);
    assert.equal((await post(s, "/v1/completions", { prompt: "a", max_tokens: 1 }, auth)).status, 200);
  });

  it("404 for an unknown route, 405 for a wrong method, 404 for an unknown model", async () => {
    await expectError(await fetch(`${s.url}/v1/nothing`, { headers: auth }), 404, null, "not_found");
    await expectError(
      await fetch(`${s.url}/v1/completions`, { headers: auth }),
      405,
      null,
      "method_not_allowed",
    );
    await expectError(
      await post(s, "/v1/completions", { model: "other", prompt: "a" }, auth),
      404,
      "model",
      "model_not_found",
    );
  });

  it("413 for a body over --max_body_bytes, 400 for bad or empty JSON", async () => {
    await expectError(
      await post(s, "/v1/completions", { prompt: "x".repeat(5000) }, auth),
      413,
      null,
      "request_too_large",
    );
    await expectError(await post(s, "/v1/completions", "{not json", auth), 400, null, "invalid_json");
    await expectError(await post(s, "/v1/completions", "", auth), 400, null);
    await expectError(await post(s, "/v1/completions", "[1]", auth), 400, null);
  });

  it("400 for a prompt longer than the engine takes", async () => {
    const e = await expectError(
      await post(s, "/v1/completions", { prompt: Array(49).fill(20), max_tokens: 1 }, auth),
      400,
      "prompt",
      "context_length_exceeded",
    );
    assert.match(String(e["message"]), /49 tokens/);
  });

  it("400 for max_tokens out of range (below 1, past max_seq_len, not an integer)", async () => {
    const p = { prompt: Array(10).fill(20) };
    await expectError(await post(s, "/v1/completions", { ...p, max_tokens: 0 }, auth), 400, "max_tokens");
    await expectError(await post(s, "/v1/completions", { ...p, max_tokens: 1.5 }, auth), 400, "max_tokens");
    await expectError(
      await post(s, "/v1/completions", { ...p, max_tokens: 55 }, auth),
      400,
      "max_tokens",
      "context_length_exceeded",
    );
    // 10 + 54 = 64 fits exactly.
    assert.equal((await post(s, "/v1/completions", { ...p, max_tokens: 54 }, auth)).status, 200);
  });

  it("400 for the other malformed fields", async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{}, "prompt"],
      [{ prompt: "" }, "prompt"],
      [{ prompt: [] }, "prompt"],
      [{ prompt: ["a", "b"] }, "prompt"],
      [{ prompt: [20, 70_000] }, "prompt"],
      [{ prompt: [20, -1] }, "prompt"],
      [{ prompt: 5 }, "prompt"],
      [{ prompt: "a", max_tokens: 4, min_tokens: 5 }, "min_tokens"],
      [{ prompt: "a", stream_options: { include_usage: true } }, "stream_options"],
      [{ prompt: "a", stream: "yes" }, "stream"],
      [{ prompt: "a", n: 2 }, "n"],
      [{ prompt: "a", stop: ["x"] }, "stop"],
      [{ prompt: "a", logprobs: 1 }, "logprobs"],
      [{ prompt: "a", temperature: "hot" }, "temperature"],
    ];
    for (const [body, param] of cases) {
      await expectError(await post(s, "/v1/completions", body, auth), 400, param);
    }
    await expectError(await post(s, "/v1/chat/completions", { messages: [] }, auth), 400, "messages");
    await expectError(
      await post(
        s,
        "/v1/chat/completions",
        { messages: [{ role: "user", content: [{ type: "image_url" }] }] },
        auth,
      ),
      400,
      "messages",
    );
  });
});

describe("serve: cancellation and graceful shutdown", () => {
  it("a client that disconnects mid-stream cancels its request", async () => {
    const engine = new FakeEngine({ stepMs: 20 });
    const s = await serve(engine);
    try {
      const res = await post(s, "/v1/completions", { prompt: "a", max_tokens: 50, stream: true });
      const reader = res.body!.getReader();
      await reader.read();
      assert.equal(engine.inFlight, 1);
      await reader.cancel();
      for (let i = 0; i < 50 && engine.inFlight > 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(engine.inFlight, 0);
      assert.equal(s.inFlight, 0);
    } finally {
      await s.shutdown(100);
    }
  });

  it("shutdown stops accepting, lets requests in flight finish within the grace period", async () => {
    const engine = new FakeEngine({ stepMs: 10 });
    const s = await serve(engine);
    const pending = post(s, "/v1/completions", {
      prompt: "a",
      max_tokens: 10,
      stream: true,
      stream_options: { include_usage: true },
    });
    const res = await pending;
    const done = s.shutdown(5000);
    const ev = await events(res);
    assert.equal(ev.at(-2)!.choices[0].finish_reason, "length");
    assert.equal(ev.at(-1)!.usage.completion_tokens, 10);
    await done;
    await assert.rejects(fetch(`${s.url}/health`));
  });

  it("requests still running when the grace period ends are cancelled with finish_reason abort", async () => {
    const engine = new FakeEngine({ stepMs: 10 });
    const s = await serve(engine, { maxSeqLen: 2000 });
    const res = await post(s, "/v1/completions", { prompt: "a", max_tokens: 1000, stream: true });
    const t = Date.now();
    const done = s.shutdown(50);
    const ev = await events(res);
    await done;
    assert.ok(Date.now() - t < 2000);
    assert.equal(ev.at(-1)!.choices[0].finish_reason, "abort");
    assert.ok(ev.length < 100);
    assert.equal(engine.inFlight, 0);
  });
});
