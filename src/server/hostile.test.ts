/**
 * Hostile clients against the real server: oversized and malformed bodies, slow clients, prompts that cost
 * the tokenizer more than they are worth. The server must answer each with a clear error, close what it must,
 * and keep serving — never crash, freeze or hold a connection without bound.
 */
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { FakeEngine } from "../load/fake-engine.ts";
import { loadTokenizerFromFiles } from "../model/hf-tokenizer.ts";
import { bundledTokenizerFor } from "../model/known-models.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import { type RunningServer, type ServerOptions, startServer } from "./server.ts";

// biome-ignore lint/suspicious/noExplicitAny: parsed JSON responses, checked field by field
type Json = any;

/** One token per code point (BOS = 1), so at most 2 UTF-16 code units per token. */
const charTokenizer: Tokenizer = {
  source: "fake",
  vocabSize: 70_000,
  totalVocabSize: 70_000,
  bosTokenId: 1,
  eosTokenId: 2,
  specialIds: new Set([1, 2]),
  maxCharsPerToken: 2,
  files: { tokenizerJson: "", tokenizerConfig: undefined },
  encode: (text) => [1, ...[...text].map((c) => c.codePointAt(0)! + 10)],
  decode: (ids) => ids.map((id) => (id >= 10 ? String.fromCodePoint(id - 10) : "")).join(""),
  idToToken: () => undefined,
};

/** The fake tokenizer as the server's encoder, counting the texts it is asked to encode. */
function countingEncoder() {
  const texts: string[] = [];
  return {
    texts,
    encode: async (text: string) => {
      texts.push(text);
      return charTokenizer.encode(text);
    },
  };
}

function serve(over: Partial<ServerOptions> = {}): Promise<RunningServer> {
  return startServer({
    engine: new FakeEngine({ stepMs: 1 }),
    tokenizer: charTokenizer,
    vocabSize: 70_000,
    servedModelName: "test/model",
    maxSeqLen: 64,
    maxInputLen: 48,
    host: "127.0.0.1",
    port: 0,
    maxBodyBytes: 4096,
    encoder: countingEncoder(),
    ...over,
  });
}

function post(url: string, body: unknown, path = "/v1/completions") {
  return fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function errorOf(res: Response, status: number, code: string | null): Promise<string> {
  assert.equal(res.status, status);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  const body = (await res.json()) as Json;
  assert.equal(body.error.code, code, body.error.message);
  assert.equal(typeof body.error.message, "string");
  return body.error.message as string;
}

async function healthy(url: string): Promise<void> {
  const res = await fetch(`${url}/health`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: "ok" });
}

/** A raw connection: what it received, and when the server closed it. */
interface Raw {
  socket: Socket;
  received: () => string;
  closed: Promise<void>;
}

function raw(port: number): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let text = "";
    socket.on("data", (b: Buffer) => {
      text += b.toString();
    });
    socket.on("error", () => {});
    const closed = new Promise<void>((r) => socket.on("close", () => r()));
    socket.once("connect", () => resolve({ socket, received: () => text, closed }));
    socket.once("error", reject);
  });
}

/** Writes `piece` every `everyMs` until the socket closes (or `maxPieces` are sent). */
function dribble(r: Raw, piece: string, everyMs: number, maxPieces: number): void {
  let sent = 0;
  const timer = setInterval(() => {
    if (r.socket.destroyed || sent++ >= maxPieces) clearInterval(timer);
    else r.socket.write(piece);
  }, everyMs);
  void r.closed.then(() => clearInterval(timer));
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    }),
  ]);
}

const jsonOf = (response: string) => JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4)) as Json;

describe("serve: bodies that are too large, malformed or cut short", { timeout: 30_000 }, () => {
  let s: RunningServer;
  before(async () => {
    s = await serve();
  });
  after(() => s.shutdown(1000));

  it("a chunked body over --max_body_bytes: 413, the connection closed, the server alive", async () => {
    const r = await raw(s.port);
    try {
      r.socket.write(
        "POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n" +
          "transfer-encoding: chunked\r\n\r\n",
      );
      const chunk = "x".repeat(3000);
      r.socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      r.socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      await within(r.closed, 5000, "the connection to close");
      assert.match(r.received(), /^HTTP\/1\.1 413 /);
      assert.equal(jsonOf(r.received()).error.code, "request_too_large");
    } finally {
      r.socket.destroy();
    }
    await healthy(s.url);
  });

  it("a chunked body over the limit sent by fetch gets its 413", async () => {
    const big = new TextEncoder().encode(`{"prompt": "${"y".repeat(6000)}"}`);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < big.length; i += 1000) c.enqueue(big.subarray(i, i + 1000));
        c.close();
      },
    });
    const res = await fetch(`${s.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      duplex: "half",
    } as RequestInit);
    await errorOf(res, 413, "request_too_large");
    await healthy(s.url);
  });

  it("a client that disconnects mid-body or mid-headers leaves the server serving", async () => {
    for (const partial of [
      'POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{"prompt"',
      "POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-le",
      'POST /v1/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{"pro',
    ]) {
      const r = await raw(s.port);
      r.socket.write(partial);
      await new Promise((res) => setTimeout(res, 50));
      r.socket.destroy();
      await r.closed;
    }
    await healthy(s.url);
  });

  it("malformed HTTP (400) and oversized headers (431) are answered in OpenAI's shape, then closed", async () => {
    for (const [request, status] of [
      ["NOT HTTP AT ALL\r\n\r\n", 400],
      [`GET /health HTTP/1.1\r\nhost: x\r\nx-big: ${"h".repeat(20_000)}\r\n\r\n`, 431],
    ] as const) {
      const r = await raw(s.port);
      try {
        r.socket.write(request);
        await within(r.closed, 5000, "the connection to close");
        assert.match(r.received(), new RegExp(`^HTTP/1\\.1 ${status} `));
        assert.equal(jsonOf(r.received()).error.type, "invalid_request_error");
      } finally {
        r.socket.destroy();
      }
    }
    await healthy(s.url);
  });

  it("JSON nested past the depth limit, or holding more values than any request can, is refused early", async () => {
    const server = await serve({ maxBodyBytes: 8 * 1024 * 1024 });
    try {
      await errorOf(
        await post(server.url, `{"prompt": ${"[".repeat(100)}${"]".repeat(100)}}`),
        400,
        "json_too_deep",
      );
      // 2 × max_input_len + 65 536 values at most; 1e6 ids are far past it.
      const many = `{"prompt": [${"1,".repeat(999_999)}1]}`;
      const msg = await errorOf(await post(server.url, many), 413, "request_too_large");
      assert.match(msg, /JSON values/);
      await healthy(server.url);
    } finally {
      await server.shutdown(1000);
    }
  });
});

describe("serve: slow clients are cut off (request timeout)", { timeout: 30_000 }, () => {
  let s: RunningServer;
  before(async () => {
    s = await serve({ requestTimeoutMs: 400 });
  });
  after(() => s.shutdown(1000));

  it("a body dribbled a byte at a time gets 408 and a closed connection", async () => {
    const r = await raw(s.port);
    try {
      r.socket.write(
        "POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{",
      );
      dribble(r, " ", 100, 200);
      await within(r.closed, 5000, "the slow client to be cut off");
      assert.match(r.received(), /^HTTP\/1\.1 408 /);
      const e = jsonOf(r.received()).error;
      assert.equal(e.code, "request_timeout");
      assert.match(e.message, /--request_timeout/);
    } finally {
      r.socket.destroy();
    }
    await healthy(s.url);
  });

  it("headers dribbled a byte at a time get 408 and a closed connection", async () => {
    const r = await raw(s.port);
    try {
      r.socket.write("POST /v1/completions HTTP/1.1\r\nhost: x\r\n");
      dribble(r, "x", 100, 200);
      await within(r.closed, 5000, "the slow client to be cut off");
      assert.match(r.received(), /^HTTP\/1\.1 408 /);
    } finally {
      r.socket.destroy();
    }
  });

  it("the timeout bounds receiving the request only: a long streamed answer is not cut", async () => {
    const server = await serve({ requestTimeoutMs: 400, engine: new FakeEngine({ stepMs: 20 }) });
    try {
      const res = await post(server.url, { prompt: "a", max_tokens: 45, stream: true });
      const text = await res.text();
      assert.match(text, /"finish_reason":"length"/);
      assert.match(text, /data: \[DONE\]\n\n$/);
    } finally {
      await server.shutdown(1000);
    }
  });
});

describe("serve: long prompts are refused before costly work", { timeout: 30_000 }, () => {
  it("a prompt whose length in characters proves it too long is refused without tokenizing", async () => {
    const encoder = countingEncoder();
    const s = await serve({ encoder, maxBodyBytes: 1024 * 1024 });
    try {
      // 97 characters at ≤ 2 per token: at least 49 tokens > 48.
      const msg = await errorOf(
        await post(s.url, { prompt: "a".repeat(97) }),
        400,
        "context_length_exceeded",
      );
      assert.match(msg, /97 characters, so at least 49 tokens/);
      const chat = { messages: [{ role: "user", content: "b".repeat(500_000) }] };
      await errorOf(await post(s.url, chat, "/v1/chat/completions"), 400, "context_length_exceeded");
      assert.deepEqual(encoder.texts, []);
      // 96 characters may still fit: they are tokenized (97 tokens with BOS, so refused after).
      await errorOf(await post(s.url, { prompt: "a".repeat(96) }), 400, "context_length_exceeded");
      assert.equal(encoder.texts.length, 1);
      // Token-id prompts are refused by their length before each id is checked.
      const ids = await errorOf(
        await post(s.url, { prompt: Array(49).fill(-1) }),
        400,
        "context_length_exceeded",
      );
      assert.match(ids, /49 tokens/);
    } finally {
      await s.shutdown(1000);
    }
  });
});

describe("serve: one long word with the real Llama-3 tokenizer", { timeout: 120_000 }, () => {
  let s: RunningServer;
  before(async () => {
    const b = bundledTokenizerFor("llm-bench/tiny-llama")!;
    const tokenizer = await loadTokenizerFromFiles(b.tokenizerJson, b.tokenizerConfig);
    assert.equal(tokenizer.maxCharsPerToken, 128);
    s = await startServer({
      engine: new FakeEngine({ stepMs: 1 }),
      tokenizer,
      vocabSize: tokenizer.totalVocabSize,
      servedModelName: "m",
      // At most 128 characters a token: 8 MB cannot fit in 8000 tokens, 1 MB could.
      maxSeqLen: 8001,
      maxInputLen: 8000,
      host: "127.0.0.1",
      port: 0,
      maxBodyBytes: 9 * 1024 * 1024,
      requestWorker: { timeoutMs: 3000, maxQueued: 16, heapMb: 1024 },
    });
  });
  after(() => s?.shutdown(1000));

  it("an 8 MB one-word prompt is refused by its length, and /health answers", async () => {
    const res = post(s.url, { prompt: "a".repeat(8_000_000), max_tokens: 1 });
    await healthy(s.url);
    const msg = await errorOf(await res, 400, "context_length_exceeded");
    assert.match(msg, /8000000 characters, so at least 62500 tokens/);
    await healthy(s.url);
  });

  it("tokenizing runs off the event loop, under a time limit; the server goes on after", async () => {
    let answered = false;
    // 1 MB of one word: many seconds of BPE, far past the 3 s limit.
    const res = post(s.url, { prompt: "a".repeat(1_000_000), max_tokens: 1 }).finally(() => {
      answered = true;
    });
    await new Promise((r) => setTimeout(r, 300));
    await healthy(s.url);
    assert.equal(answered, false, "/health answered while the word was being tokenized");
    const msg = await errorOf(await res, 400, "prompt_too_costly");
    assert.match(msg, /longer than 3 s/);
    // A fresh thread takes the next requests: a small body (parsed here, tokenized there) and a large one
    // (parsed, validated and tokenized there).
    const small = (await (await post(s.url, { prompt: "Hello world", max_tokens: 1 })).json()) as Json;
    assert.equal(small.usage.prompt_tokens, 3);
    const padded = `{"prompt": "Hello world",${" ".repeat(300_000)}"max_tokens": 1, "return_token_ids": true}`;
    const large = (await (await post(s.url, padded)).json()) as Json;
    assert.deepEqual(large.choices[0].prompt_token_ids, [128000, 9906, 1917]);
  });
});
