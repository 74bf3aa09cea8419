import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createParser } from "eventsource-parser";
import { MAX_EVENT_CHARS, SseReader } from "./sse.ts";
import { outputLimits, StreamAccumulator } from "./stream.ts";

function collect(
  parts: Array<string | Uint8Array>,
  maxEventChars?: number,
): { events: Array<[string, number]>; bad: string[] } {
  const events: Array<[string, number]> = [];
  const bad: string[] = [];
  const r = new SseReader(
    {
      onData: (d, t) => events.push([d, t]),
      onMalformed: (m) => bad.push(m),
      onOversized: (limit, received) => bad.push(`oversized ${limit} ${received ?? "?"}`),
    },
    maxEventChars,
  );
  for (const [i, p] of parts.entries())
    r.feed(typeof p === "string" ? new TextEncoder().encode(p) : p, i + 1);
  r.end(99);
  return { events, bad };
}

describe("SseReader", () => {
  test("CRLF, CR, comments, multi-line data, BOM; each event stamped with its read", () => {
    const { events, bad } = collect([
      "\uFEFF: keep-alive\r\ndata: a\r\n\r\ndata: b\rdata: c\r\r",
      "data: [DONE]\n\n",
    ]);
    assert.deepEqual(events, [
      ["a", 1],
      // A read ending in CR may be followed by LF: the event completes with the next read.
      ["b\nc", 2],
      ["[DONE]", 2],
    ]);
    assert.deepEqual(bad, []);
  });

  test("an event split across reads, and a UTF-8 character split across reads", () => {
    const bytes = new TextEncoder().encode('data: {"t":"é"}\n\n');
    const cut = bytes.indexOf(0xc3) + 1; // inside the two-byte é
    const { events } = collect([bytes.slice(0, cut), bytes.slice(cut)]);
    assert.deepEqual(events, [['{"t":"é"}', 2]]);
  });

  test("a last event without its blank line is still delivered at end of body", () => {
    const { events } = collect(["data: x\n\ndata: [DONE]"]);
    assert.deepEqual(
      events.map((e) => e[0]),
      ["x", "[DONE]"],
    );
    assert.equal(events[1]![1], 99);
  });

  test("a BOM before plain LF events is dropped, also when it arrives split", () => {
    const bytes = new TextEncoder().encode("\uFEFFdata: a\n\ndata: [DONE]\n\n");
    const { events, bad } = collect([bytes.slice(0, 2), bytes.slice(2)]);
    assert.deepEqual(
      events.map((e) => e[0]),
      ["a", "[DONE]"],
    );
    assert.deepEqual(bad, []);
  });

  test("an event longer than the limit stops the reader, on either path, whole or still arriving", () => {
    const big = `data: ${"x".repeat(120)}\n\n`;
    // Fast path: complete in one read; arriving over many reads without its end.
    assert.deepEqual(collect([`data: a\n\n${big}data: b\n\n`], 100), {
      events: [["a", 1]],
      bad: ["oversized 100 126"],
    });
    const trickle = collect(["data: a\n\n", ...Array.from({ length: 30 }, () => "xxxxxxxxxx")], 100);
    assert.deepEqual(trickle.events, [["a", 1]]);
    assert.equal(trickle.bad.length, 1);
    assert.match(trickle.bad[0]!, /^oversized 100 11\d$/);
    // Slow path (CR line ends, multi-line data): the parser's buffer, and an event parsed whole.
    const lines = collect(["data: a\r\n\r\n", ...Array.from({ length: 30 }, () => "data: xxxx\r\n")], 100);
    assert.deepEqual(lines, { events: [["a", 1]], bad: ["oversized 100 ?"] });
    const whole = collect([`data: a\r\n\r\n${big.replace(/\n/g, "\r\n")}data: b\r\n\r\n`], 100);
    assert.deepEqual(whole.events, [["a", 1]]);
    assert.equal(whole.bad.length, 1);
    // Under the limit nothing happens; the default limit is 1 Mi characters.
    assert.deepEqual(collect([big], 200).bad, []);
    assert.equal(MAX_EVENT_CHARS, 1_048_576);
  });

  test("a line that is not SSE is reported as malformed", () => {
    const { bad } = collect(['{"error": "not sse"}\n\n']);
    assert.equal(bad.length, 1);
    assert.match(bad[0]!, /^unknown-field/);
  });
});

describe("SseReader fast path", () => {
  /** eventsource-parser alone over the whole body: what the reader must deliver. */
  function reference(body: string): string[] {
    const out: string[] = [];
    const p = createParser({ onEvent: (e) => out.push(e.data) });
    p.feed(`${body}\n\n`);
    return out;
  }

  test("delivers what eventsource-parser does, for every split of the body into two reads", () => {
    const bodies = [
      'data: {"a":"é"}\n\ndata:x\n\ndata: [DONE]\n\n',
      "data: a\n\n\n\ndata: b\n\n",
      "data: a\n\n: comment\n\ndata: b\n\n",
      "data: a\n\ndata: b\ndata: c\n\ndata: d\n\n",
      "data: a\n\nevent: x\ndata: b\n\ndata: c\n\n",
      "data: a\n\ndata:\n\ndata: c\n\n",
      "data: a\n\ndata: b\r\n\r\ndata: c\n\n",
      "data: a\n\ndata:  two spaces\n\ndata: tail",
    ];
    for (const body of bodies) {
      const bytes = new TextEncoder().encode(body);
      for (let cut = 0; cut <= bytes.length; cut++) {
        const { events, bad } = collect([bytes.slice(0, cut), bytes.slice(cut)]);
        assert.deepEqual(
          events.map((e) => e[0]),
          reference(body),
          `${JSON.stringify(body)} cut at ${cut}`,
        );
        assert.deepEqual(bad, []);
      }
      // And one byte per read: a blank line split across reads, pending text carried many times.
      const { events, bad } = collect(Array.from(bytes, (b) => Uint8Array.of(b)));
      assert.deepEqual(
        events.map((e) => e[0]),
        reference(body),
        `${JSON.stringify(body)} byte by byte`,
      );
      assert.deepEqual(bad, []);
    }
  });
});

describe("StreamAccumulator", () => {
  test("completions: text chunks, continuous usage deltas, final usage, [DONE]", () => {
    const a = new StreamAccumulator(false);
    a.onData('{"choices":[{"text":"ab","finish_reason":null}],"usage":{"completion_tokens":2}}', 10);
    a.onData('{"choices":[{"text":"","finish_reason":null}],"usage":{"completion_tokens":2}}', 15);
    a.onData('{"choices":[{"text":"c","finish_reason":"length"}],"usage":{"completion_tokens":3}}', 20);
    a.onData('{"choices":[],"usage":{"completion_tokens":3}}', 21);
    a.onData("[DONE]", 22);
    assert.equal(a.settle(), undefined);
    assert.equal(a.text(), "abc");
    assert.equal(a.firstNs, 10);
    assert.deepEqual(a.chunkTimesNs, [10, 20]);
    assert.deepEqual(a.tokensPerChunk(), [2, 1]);
    assert.equal(a.serverTokens, 3);
    assert.equal(a.finishReason, "length");
  });

  test("chat: role prelude and empty deltas are not chunks; reasoning text is output", () => {
    const a = new StreamAccumulator(true);
    a.onData('{"choices":[{"delta":{"role":"assistant"}}]}', 1);
    a.onData('{"choices":[{"delta":{"reasoning_content":"hm"}}]}', 2);
    a.onData('{"choices":[{"delta":{"content":"ok"},"finish_reason":"stop"}]}', 3);
    a.onData("[DONE]", 4);
    assert.equal(a.settle(), undefined);
    assert.equal(a.firstNs, 2);
    assert.equal(a.text(), "hmok");
    assert.equal(a.tokensPerChunk(), undefined); // no usage per chunk
    assert.equal(a.serverTokens, undefined);
  });

  test("an error event mid-stream is a stream_error; later events are ignored", () => {
    const a = new StreamAccumulator(false);
    a.onData('{"choices":[{"text":"a"}]}', 1);
    a.onData('{"error":{"message":"out of KV cache","code":500}}', 2);
    a.onData('{"choices":[{"text":"b"}]}', 3);
    assert.equal(a.settle(), "stream_error: out of KV cache");
    assert.equal(a.text(), "a");
  });

  test("output past max_tokens' bounds (text, chunks, ids) fails the request as response_too_large", () => {
    const limits = outputLimits(2);
    assert.deepEqual(limits, { maxTokens: 2, textChars: 2 * 256 + 4096, chunks: 2 * 16 + 64 });
    const text = new StreamAccumulator(false, limits);
    const word = "w".repeat(1000);
    for (let k = 0; k < 5; k++) text.onData(`{"choices":[{"text":"${word}"}]}`, k);
    assert.match(
      text.settle()!,
      /^response_too_large: more than 4608 characters of output text for max_tokens 2 \(the client keeps at most 256 characters and 16 chunks per requested token\)$/,
    );
    assert.equal(text.text(), "", "a failed request's text is released");
    assert.equal(text.chunkTimesNs.length, 4);
    const chunks = new StreamAccumulator(false, limits);
    for (let k = 1; k <= 100; k++)
      chunks.onData(`{"choices":[{"text":""}],"usage":{"completion_tokens":${k}}}`, k);
    assert.match(chunks.settle()!, /^response_too_large: more than 96 output chunks for max_tokens 2/);
    assert.equal(chunks.chunkTimesNs.length, 96);
    const ids = new StreamAccumulator(false, limits);
    ids.onData(`{"choices":[{"text":"a","token_ids":[${Array(97).fill(1).join(",")}]}]}`, 1);
    assert.match(ids.settle()!, /^response_too_large: more than 96 token ids for max_tokens 2/);
    // At the bounds exactly, nothing fails.
    const ok = new StreamAccumulator(false, limits);
    ok.onData(`{"choices":[{"text":"${"w".repeat(4608)}","finish_reason":"length"}]}`, 1);
    assert.equal(ok.settle(), undefined);
  });

  test("a usage or token id that is no count or id is malformed_sse, on the fast path and JSON.parse's", () => {
    const cases: Array<[string, RegExp]> = [
      [
        '{"choices":[{"text":"a"}],"usage":{"completion_tokens":-1}}',
        /completion_tokens is -1, not a token count/,
      ],
      ['{"choices":[{"text":"a"}],"usage":{"completion_tokens":1.5}}', /completion_tokens is 1.5, not/],
      ['{"choices":[{"text":"a","token_ids":[3,1.5]}]}', /token_ids holds 1.5, not a token id/],
      ['{"choices":[{"text":"a","token_ids":[-2]}]}', /token_ids holds -2, not a token id/],
      // A repeated key sends the event to JSON.parse.
      [
        '{"choices":[{"text":"a","token_ids":[1e400]}],"x":1,"x":2}',
        /token_ids holds Infinity, not a token id/,
      ],
    ];
    for (const [event, re] of cases) {
      const a = new StreamAccumulator(false);
      a.onData('{"choices":[{"text":"ok","token_ids":[7]}]}', 1);
      a.onData(event, 2);
      assert.match(a.settle()!, new RegExp(`^malformed_sse: .*${re.source}`), event);
    }
  });

  test("nothing produced is empty_response; no [DONE] and no finish is incomplete_stream", () => {
    const empty = new StreamAccumulator(false);
    empty.onData("[DONE]", 1);
    assert.equal(empty.settle(), "empty_response: no output tokens");
    const cut = new StreamAccumulator(false);
    cut.onData('{"choices":[{"text":"a"}]}', 1);
    assert.match(cut.settle()!, /^incomplete_stream: ended without \[DONE\] after 1 chunks$/);
  });
});
