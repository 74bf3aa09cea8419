import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ScannedEvent, scanEvent } from "./event-layouts.ts";
import { SseReader } from "./sse.ts";
import { StreamAccumulator } from "./stream.ts";

/** The accumulator on JSON.parse alone: a field nested deeper than the scanner goes makes it decline the event. */
function viaJsonParse(data: string, chat: boolean): StreamAccumulator {
  const a = new StreamAccumulator(chat);
  a.onData(withDeepField(data), 1);
  return a;
}

const DEEP = `${"[".repeat(70)}${"]".repeat(70)}`;

function withDeepField(data: string): string {
  return data.replace(/^(\s*\{)/, `$1"deep":${DEEP},`);
}

function snapshot(a: StreamAccumulator) {
  return {
    text: a.text(),
    chunks: a.chunkTimesNs.length,
    tokens: a.tokensPerChunk(),
    server: a.serverTokens,
    finish: a.finishReason,
    ids: a.receivedIds(),
    // The detail quotes the data, which differs by the deep field.
    failure: a.failure?.split(":")[0],
  };
}

const VLLM =
  '{"id":"cmpl-1","object":"text_completion","created":0,"model":"m","choices":[{"index":0,"text":" the","logprobs":null,"finish_reason":null,"token_ids":[279]}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}';

describe("scanEvent", () => {
  test("reads the common completions and chat shapes", () => {
    const e = new ScannedEvent();
    assert.equal(scanEvent(VLLM, false, e), true);
    assert.deepEqual(
      [e.hasChoice, e.text, e.finishReason, e.usage, e.hasIds, e.ids],
      [true, " the", undefined, 2, true, [279]],
    );
    const chat =
      '{"choices":[{"index":0,"delta":{"content":"ok","reasoning_content":null},"finish_reason":"stop"}],"usage":null}';
    assert.equal(scanEvent(chat, true, e), true);
    assert.deepEqual([e.hasChoice, e.text, e.finishReason, e.usage], [true, "ok", "stop", undefined]);
    assert.equal(scanEvent('{"choices":[],"usage":{"completion_tokens":7}}', false, e), true);
    assert.deepEqual([e.hasChoice, e.usage], [false, 7]);
    // Escapes (newlines, quotes in generated text) are read, by JSON.parse on the string literal alone.
    assert.equal(scanEvent('{"choices":[{"text":"a\\n\\"b\\u00e9"}]}', false, e), true);
    assert.equal(e.text, 'a\n"bé');
  });

  test("declines what it cannot read with certainty", () => {
    const e = new ScannedEvent();
    for (const d of [
      `{"deep":${DEEP},"choices":[]}`,
      '{"choices":[{"text":"a\\x"}]}', // not a JSON escape
      '{"error":{"message":"x"}}',
      '{"choices":[{"text":"a"}],"choices":[]}',
      '{"choices":[{"text":5}]}',
      '{"choices":[{"text":"a"}]',
      '{"choices":[{"text":"a"}]} x',
      '{"id":01,"choices":[]}',
      '{"id":"a\tb","choices":[]}',
      '{"usage":{"completion_tokens":"2"}}',
      "[1]",
      "",
    ])
      assert.equal(scanEvent(d, false, e), false, d);
  });

  test("agrees with JSON.parse on every event it reads, and on those it declines", () => {
    const cases = [
      VLLM,
      VLLM.replace(" the", "a\\nb"),
      VLLM.replace(" the", "é✓"),
      VLLM.replace('"finish_reason":null', '"finish_reason":"length"'),
      VLLM.replace('"token_ids":[279]', '"token_ids":[]'),
      VLLM.replace(',"token_ids":[279]', ""),
      '{"choices":[{"text":"","finish_reason":null}],"usage":{"completion_tokens":2}}',
      '{"choices":[{"text":null}],"usage":{"completion_tokens":1.5e1}}',
      ' { "choices" : [ { "text" : "x" } , { "text" : "y" } ] , "usage" : { "completion_tokens" : 3 } } ',
      '{"choices":[{"text":"a","logprobs":{"tokens":["a"],"top":[{"a":-0.1}]}}],"error":null}',
      '{"choices":[{"delta":{"content":"a","reasoning":"r"}}]}',
      '{"choices":[{"delta":{"reasoning_content":"","reasoning":"r"}}]}',
      '{"choices":[{"delta":{"role":"assistant"}}]}',
      '{"choices":[{"delta":{}}]}',
      '{"error":{"message":"boom"}}',
      '{"choices":[{"text":"a"}]',
      "[1,2]",
      "null",
    ];
    for (const chat of [false, true]) {
      for (const d of cases) {
        const fast = new StreamAccumulator(chat);
        fast.onData(d, 1);
        const slow = viaJsonParse(d, chat);
        if (d.trimStart().startsWith("{")) assert.deepEqual(snapshot(fast), snapshot(slow), `${chat} ${d}`);
      }
    }
  });

  test("a stream read through its learned layout agrees with JSON.parse event by event", () => {
    const ev = (text: string, n: number, extra = "") =>
      `{"id":"c","choices":[{"index":0,"text":${text},"finish_reason":${extra || "null"},"token_ids":[${n},${n + 1}]}],"usage":{"prompt_tokens":1,"completion_tokens":${n},"total_tokens":${n + 1}}}`;
    const stream = [
      ev('"a"', 1),
      ev('" bc"', 22),
      ev('""', 22),
      ev('"é✓"', 3.5),
      ev('"q\\"x"', 4), // an escape: the literal goes to JSON.parse
      ev("null", 5),
      ev('"z"', 6, '"length"'),
      ev('"z"', 7).replace('"id":"c"', '"id":"d"'), // another request id: a string slot, same layout
      ev('"z"', 7).replace('"index":0', '"index":0,"logprobs":null'), // a new layout: learned
      ev('"y"', 8).replace("[8,9]", "[]"),
      ev('"y"', 9).replace("[9,10]", "null"),
      ev('"y"', 10).replace(",10]", ",1e2]"),
      ev('"t"', 11).replace('"total_tokens":12', '"total_tokens":-0.5E-3'),
      ev('"x"', 12).replace('"completion_tokens":12', '"completion_tokens":null'),
      '{"choices":[],"usage":{"completion_tokens":12}}',
    ];
    const fast = new StreamAccumulator(false);
    const slow = new StreamAccumulator(false);
    for (const [k, d] of stream.entries()) {
      fast.onData(d, k);
      slow.onData(withDeepField(d), k);
      assert.deepEqual(snapshot(fast), snapshot(slow), d);
    }
    // After a layout is learned, a slot value outside its JSON grammar is malformed, never read.
    for (const broken of [
      ev('"a"', 2).replace('"total_tokens":3', '"total_tokens":03'),
      ev('"a\tb"', 2), // a raw control character
      ev('"a\\x"', 2), // not an escape
      ev('"a\\u12"', 2),
      ev('"a"', 2).replace("[2,3]", "[2,03]"),
      ev('"a"', 2).replace("[2,3]", "[2,]"),
      ev('"a"', 2).replace('"completion_tokens":2', '"completion_tokens":2.'),
      ev('"a"', 2).replace('"completion_tokens":2', '"completion_tokens":2e'),
      ev('"a"', 2).replace('"finish_reason":null', '"finish_reason":nul'),
      `${ev('"a"', 2)}x`,
    ]) {
      const bad = new StreamAccumulator(false);
      bad.onData(ev('"a"', 1), 1);
      bad.onData(broken, 2);
      assert.match(bad.failure ?? "", /^malformed_sse/, broken);
    }
  });

  test("chat: learned layout with reasoning fields", () => {
    const ev = (c: string, r: string) =>
      `{"id":"c","choices":[{"index":0,"delta":{"content":${c},"reasoning_content":${r}},"finish_reason":null}]}`;
    const fast = new StreamAccumulator(true);
    const slow = new StreamAccumulator(true);
    for (const [k, d] of [
      ev('"a"', "null"),
      ev("null", '"r"'),
      ev('""', '""'),
      ev('"b"', "null"),
    ].entries()) {
      fast.onData(d, k);
      slow.onData(withDeepField(d), k);
      assert.deepEqual(snapshot(fast), snapshot(slow), d);
    }
    assert.equal(fast.text(), "arb");
  });
});

describe("events read in place from the SSE body", () => {
  test("agree with split-then-read for every split of the body into two reads", () => {
    const ev = (text: string, n: number) =>
      `{"id":"x${n}","choices":[{"index":0,"text":${text},"finish_reason":null}],"usage":{"completion_tokens":${n}}}`;
    const events = [
      ev('"a"', 1),
      ev('"b\\n"', 2),
      ev('"é"', 3),
      ` ${ev('"c"', 4)}`, // "data:  {": the data starts with a space
      '{"choices":[],"usage":{"completion_tokens":4}}',
      "[DONE]",
    ];
    const bodies = [
      events.map((d) => `data: ${d}\n\n`).join(""),
      events.map((d) => `data:${d}\n\n`).join(""),
      `${events
        .slice(0, 2)
        .map((d) => `data: ${d}\n\n`)
        .join("")}data: ${ev('"a"', 3).replace("}}", "}")}\n\n`,
    ];
    for (const body of bodies) {
      const bytes = new TextEncoder().encode(body);
      const read = (inPlace: boolean, cut: number) => {
        const acc = new StreamAccumulator(false);
        const sse = new SseReader({
          onData: (d, t) => acc.onData(d, t),
          onMalformed: (d) => acc.fail("malformed_sse", d),
          onOversized: () => acc.fail("response_too_large"),
          ...(inPlace
            ? { onFramed: (text: string, pos: number, t: number) => acc.onFramed(text, pos, t) }
            : {}),
        });
        sse.feed(bytes.slice(0, cut), 1);
        sse.feed(bytes.slice(cut), 2);
        sse.end(3);
        acc.settle();
        return { ...snapshot(acc), times: acc.chunkTimesNs, done: acc.sawDone };
      };
      for (let cut = 0; cut <= bytes.length; cut++) {
        // Warm the layouts once, then compare (a learned layout is what the in-place read uses).
        read(true, cut);
        assert.deepEqual(read(true, cut), read(false, cut), `${JSON.stringify(body)} cut at ${cut}`);
      }
    }
  });
});

describe("streams whose events keep changing shape", () => {
  test("are still read exactly after the stream stops learning layouts", () => {
    // Every event has its own layout (a key that is the token itself), as per-token logprobs would.
    const fast = new StreamAccumulator(false);
    const slow = new StreamAccumulator(false);
    for (let k = 1; k <= 40; k++) {
      const d = `{"choices":[{"text":"t${k}","logprobs":{"t${k}":-0.5}}],"usage":{"completion_tokens":${k}}}`;
      fast.onData(d, k);
      slow.onData(withDeepField(d), k);
    }
    assert.deepEqual(snapshot(fast), snapshot(slow));
    assert.equal(fast.chunkTimesNs.length, 40);
  });
});

describe("very long values", () => {
  test("a string slot of millions of characters is read exactly, not thrown on", () => {
    const ev = (text: string, n: number) =>
      `{"id":"big","choices":[{"index":0,"text":"${text}","finish_reason":null}],"usage":{"completion_tokens":${n}}}`;
    const fast = new StreamAccumulator(false);
    fast.onData(ev("a", 1), 1); // learns the layout
    // ~8 MB of escapes: beyond what the regular expression's backtrack stack holds.
    const huge = "\\u0001".repeat(1_300_000);
    fast.onData(ev(huge, 2), 2);
    assert.equal(fast.failure, undefined);
    assert.equal(fast.text(), `a${"\u0001".repeat(1_300_000)}`);
    assert.equal(fast.serverTokens, 2);
    // Through the SSE reader, arriving in 64 KiB reads: an event just under its size limit (1 Mi characters).
    const acc = new StreamAccumulator(false);
    const sse = new SseReader({
      onData: (d, t) => acc.onData(d, t),
      onMalformed: (d) => acc.fail("malformed_sse", d),
      onOversized: () => acc.fail("response_too_large"),
      onFramed: (text, pos, t) => acc.onFramed(text, pos, t),
    });
    const big = "\\u0001".repeat(174_000);
    const bytes = new TextEncoder().encode(`data: ${ev("a", 1)}\n\ndata: ${ev(big, 2)}\n\ndata: [DONE]\n\n`);
    for (let i = 0; i < bytes.length; i += 65_536) sse.feed(bytes.subarray(i, i + 65_536), i);
    sse.end(bytes.length);
    assert.equal(acc.settle(), undefined);
    assert.equal(acc.chunkTimesNs.length, 2);
    assert.equal(acc.text().length, 1 + 174_000);
  });
});
