import assert from "node:assert/strict";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { DatasetError } from "../errors.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import { iterateDataset, readDataset } from "./reader.ts";

let dir = "";
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "llm-bench-reader-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, text);
  return p;
}

/** Word-level toy tokenizer: BOS=1 when special tokens are added, then 100 + word length per word. */
const toyTokenizer: Tokenizer = {
  source: "toy",
  vocabSize: 200,
  totalVocabSize: 210,
  bosTokenId: 1,
  eosTokenId: 2,
  specialIds: new Set([1, 2]),
  files: { tokenizerJson: "toy.json", tokenizerConfig: undefined },
  encode(text, options) {
    const words = text.split(/\s+/).filter((w) => w.length > 0);
    const ids = words.map((w) => 100 + w.length);
    return options?.addSpecialTokens === false ? ids : [1, ...ids];
  },
  decode: (ids) => ids.join(" "),
  idToToken: (id) => String(id),
};

async function issuesOf(promise: Promise<unknown>): Promise<DatasetError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof DatasetError, `expected DatasetError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected a DatasetError");
}

describe("readDataset: valid lines", () => {
  test("reads ids, prompts, aliases, unknown keys, blank lines, CRLF and a BOM", async () => {
    const p = await file(
      "ok.jsonl",
      "\uFEFF" +
        [
          '{"task_id":0,"input_ids":[5,6,7],"output_tokens":4,"extra":{"x":1}}',
          "",
          '{"task_id":"b","prompt":"hello big world","output_tokens":2}',
          '{"task_id":2,"input_ids":[9],"prompt":"ignored words here","output_tokens":1}\r',
          '{"task_id":3,"logits":[3,4],"output_tokens":8,"lora_request":{"lora_name":"l","lora_int_id":3,"lora_path":"/p/3"}}',
          "   ",
        ].join("\n"),
    );
    const { requests, metadata } = await readDataset(p, { tokenizer: toyTokenizer });
    assert.equal(requests.length, 4);
    assert.deepEqual(
      requests.map((r) => [r.taskId, Array.from(r.inputIds), r.outputTokens, r.line, r.prompt]),
      [
        [0, [5, 6, 7], 4, 1, undefined],
        // "hello big world" → BOS + lengths 5, 3, 5.
        ["b", [1, 105, 103, 105], 2, 3, "hello big world"],
        // input_ids wins over prompt; the prompt text is kept for text-only endpoints.
        [2, [9], 1, 4, "ignored words here"],
        [3, [3, 4], 8, 5, undefined],
      ],
    );
    assert.ok(requests[0]!.inputIds instanceof Int32Array);
    assert.deepEqual(requests[3]!.loraRequest, { lora_name: "l", lora_int_id: 3, lora_path: "/p/3" });
    // ISL 3,4,1,2 / OSL 4,2,1,8 / seq 7,6,2,10; floor-index p50 = sorted[2].
    assert.equal(metadata.num_requests, 4);
    assert.deepEqual(metadata.isl_stats, {
      p50: 3,
      p90: 4,
      p95: 4,
      p99: 4,
      minimum: 1,
      maximum: 4,
      average: 2.5,
    });
    assert.equal(metadata.avg_isl, 2); // int(2.5)
    assert.equal(metadata.max_osl, 8);
    assert.equal(metadata.avg_osl, 3); // int(15/4)
    assert.equal(metadata.max_sequence_length, 10);
    assert.equal(metadata.avg_sequence_length, 6); // int(25/4)
    assert.equal(metadata.dataset_path, p);
  });

  test("numRequests caps the non-empty lines read; bad lines past the cap are never seen", async () => {
    const lines = ["", '{"task_id":0,"input_ids":[1],"output_tokens":1}'];
    for (let i = 1; i < 5; i++) lines.push(`{"task_id":${i},"input_ids":[${i}],"output_tokens":${i}}`);
    lines.push("not json at all");
    const p = await file("cap.jsonl", lines.join("\n"));
    const { requests, metadata } = await readDataset(p, { numRequests: 3 });
    assert.deepEqual(
      requests.map((r) => r.taskId),
      [0, 1, 2],
    );
    assert.equal(metadata.num_requests, 3);
    const all = await issuesOf(readDataset(p, { numRequests: 0 }));
    assert.deepEqual(
      all.issues.map((i) => i.line),
      [7],
    );
  });

  test("vocabulary bound: vocabSize wins, else the tokenizer's total vocabulary", async () => {
    const p = await file("vocab.jsonl", '{"task_id":0,"input_ids":[0,209],"output_tokens":1}\n');
    assert.equal((await readDataset(p, { tokenizer: toyTokenizer })).requests.length, 1);
    const e1 = await issuesOf(readDataset(p, { vocabSize: 209 }));
    assert.deepEqual(e1.issues, [
      { file: p, line: 1, field: "input_ids[1]", reason: "209 is outside the vocabulary [0, 209)" },
    ]);
    const e2 = await issuesOf(readDataset(p, { vocabSize: 209, tokenizer: toyTokenizer }));
    assert.equal(e2.issues[0]!.field, "input_ids[1]");
    // Without any bound only int32 storage limits ids.
    const big = await file("big-id.jsonl", '{"task_id":0,"input_ids":[2147483648],"output_tokens":1}\n');
    const e3 = await issuesOf(readDataset(big));
    assert.match(e3.issues[0]!.reason, /outside the vocabulary \[0, 2147483648\)/);
  });
});

describe("readDataset: every error kind, with its line", () => {
  test("reports all bad lines as file:line: field: reason", async () => {
    const lines = [
      /* 1 */ '{"task_id":0,"input_ids":[1,2],"output_tokens":3}',
      /* 2 */ '{"task_id":1,"input_ids":[1,2],"output_tokens":3',
      /* 3 */ "[1,2,3]",
      /* 4 */ '{"input_ids":[1],"output_tokens":3}',
      /* 5 */ '{"task_id":1.5,"input_ids":[1],"output_tokens":3}',
      /* 6 */ '{"task_id":6,"input_ids":[1]}',
      /* 7 */ '{"task_id":7,"input_ids":[1],"output_tokens":0}',
      /* 8 */ '{"task_id":8,"input_ids":[1],"output_tokens":"128"}',
      /* 9 */ '{"task_id":9,"input_ids":"1 2 3","output_tokens":3}',
      /* 10 */ '{"task_id":10,"input_ids":[],"output_tokens":3}',
      /* 11 */ '{"task_id":11,"input_ids":[1,-4],"output_tokens":3}',
      /* 12 */ '{"task_id":12,"input_ids":[1.5],"output_tokens":3}',
      /* 13 */ '{"task_id":13,"input_ids":[1,2,1000],"output_tokens":3}',
      /* 14 */ '{"task_id":14,"output_tokens":3}',
      /* 15 */ '{"task_id":15,"prompt":42,"output_tokens":3}',
      /* 16 */ '{"task_id":16,"prompt":"needs a tokenizer","output_tokens":3}',
      /* 17 */ '{"task_id":17,"input_ids":[1],"output_tokens":3,"lora_request":{"lora_name":"x","lora_int_id":"3"}}',
      /* 18 */ '{"output_tokens":-1}',
      /* 19 */ "null",
    ];
    const p = await file("bad.jsonl", lines.join("\n"));
    const err = await issuesOf(readDataset(p, { vocabSize: 1000 }));
    const got = err.issues.map((i) => `${i.line}: ${i.field}: ${i.reason}`);
    assert.equal(err.issues[0]!.file, p);
    assert.match(got[0]!, /^2: \(line\): not valid JSON \(/);
    assert.deepEqual(got.slice(1), [
      "3: (line): expected a JSON object, got an array",
      "4: task_id: required (a string or an integer)",
      "5: task_id: must be a string or an integer, got 1.5",
      "6: output_tokens: required (a positive integer)",
      "7: output_tokens: must be a positive integer, got 0",
      '8: output_tokens: must be a positive integer, got "128"',
      '9: input_ids: must be an array of integer token ids, got "1 2 3"',
      "10: input_ids: must not be empty",
      "11: input_ids[1]: -4 is not a non-negative integer token id",
      "12: input_ids[0]: 1.5 is not a non-negative integer token id",
      "13: input_ids[2]: 1000 is outside the vocabulary [0, 1000)",
      "14: input_ids: required when there is no prompt (give input_ids or prompt)",
      "15: prompt: must be a string, got 42",
      "16: prompt: a text prompt needs a tokenizer and none is loaded (give input_ids, or a model with a tokenizer)",
      '17: lora_request.lora_int_id: must be an integer, got "3"',
      "17: lora_request.lora_path: must be a string, got nothing",
      "18: task_id: required (a string or an integer)",
      "18: output_tokens: must be a positive integer, got -1",
      "18: input_ids: required when there is no prompt (give input_ids or prompt)",
      "19: (line): expected a JSON object, got null",
    ]);
    assert.match(
      err.message,
      new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:2: \\(line\\): not valid JSON`),
    );
    assert.equal(err.exitCode, 1);
  });

  test("ids nested 100k deep are a field error, not a stack overflow", async () => {
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    const p = await file(
      "deep.jsonl",
      `{"task_id":0,"input_ids":${deep},"output_tokens":1}\n{"task_id":${deep},"input_ids":[1],"output_tokens":1}\n`,
    );
    const err = await issuesOf(readDataset(p));
    assert.deepEqual(
      err.issues.map((i) => `${i.line}: ${i.field}: ${i.reason}`),
      [
        "1: input_ids[0]: an array is not a non-negative integer token id",
        "2: task_id: must be a string or an integer, got an array",
      ],
    );
  });

  test('duplicate task_ids name the earlier line; 7 and "7" are the same id', async () => {
    const p = await file(
      "dup.jsonl",
      [
        '{"task_id":7,"input_ids":[1],"output_tokens":1}',
        '{"task_id":"a","input_ids":[1],"output_tokens":1}',
        '{"task_id":"7","input_ids":[1],"output_tokens":1}',
        '{"task_id":"a","input_ids":[1],"output_tokens":1}',
        '{"task_id":"07","input_ids":[1],"output_tokens":1}',
      ].join("\n"),
    );
    const err = await issuesOf(readDataset(p));
    assert.deepEqual(
      err.issues.map((i) => `${i.line}: ${i.field}: ${i.reason}`),
      [
        '3: task_id: "7" duplicates the task_id of line 1',
        '4: task_id: "a" duplicates the task_id of line 2',
      ],
    );
    let n = 0;
    for await (const _ of iterateDataset(p)) n++;
    assert.equal(n, 5, "iterateDataset does not hold every id unless asked");
  });

  test("a line longer than the limit is refused before it is parsed, naming the limit", async () => {
    const p = await file(
      "long-line.jsonl",
      `{"task_id":0,"input_ids":[1],"output_tokens":1}\n{"task_id":1,"input_ids":[${"1,".repeat(5000)}1],"output_tokens":1}\n{"task_id":2}\n`,
    );
    const err = await issuesOf(readDataset(p, { maxLineBytes: 4096 }));
    assert.deepEqual(
      err.issues.map((i) => `${i.line}: ${i.field}: ${i.reason}`),
      ["2: (line): longer than 4096 bytes (4 KiB), the longest line llm-bench reads"],
    );
    // The same file within the limit reads (and then finds line 3 incomplete).
    const ok = await issuesOf(readDataset(p));
    assert.deepEqual(
      ok.issues.map((i) => `${i.line}: ${i.field}`),
      ["3: output_tokens", "3: input_ids"],
    );
  });

  test("control characters quoted from a line are escaped in the message", async () => {
    const p = await file(
      "ansi.jsonl",
      '{"task_id":"\\u001b[31mred","input_ids":[1],"output_tokens":-1}\n\u001b[2J\u009b1m\n',
    );
    const err = await issuesOf(readDataset(p));
    // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting their absence
    assert.doesNotMatch(err.message, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    assert.match(err.message, /ansi\.jsonl:2: \(line\): not valid JSON \(.*\\x1b\[2J/);
  });

  test("a prompt that tokenizes to nothing is an error", async () => {
    const p = await file("empty-prompt.jsonl", '{"task_id":0,"prompt":"   ","output_tokens":3}\n');
    const noBos: Tokenizer = { ...toyTokenizer, encode: () => [] };
    const err = await issuesOf(readDataset(p, { tokenizer: noBos }));
    assert.deepEqual(
      err.issues.map((i) => `${i.line}: ${i.field}: ${i.reason}`),
      ["1: prompt: tokenizes to no tokens"],
    );
  });

  test("caps the listed issues and says how many more there are", async () => {
    const lines = Array.from({ length: 60 }, (_, i) => `{"task_id":${i},"input_ids":[1]}`);
    const p = await file("many.jsonl", lines.join("\n"));
    const err = await issuesOf(readDataset(p));
    assert.equal(err.issues.length, 50);
    assert.equal(err.issues[49]!.line, 50);
    assert.match(err.message, /… and 10 more issue\(s\) \(60 bad lines in total\)$/);
    const few = await issuesOf(readDataset(p, { maxIssues: 3 }));
    assert.equal(few.issues.length, 3);
  });

  test("missing and empty files", async () => {
    const missing = join(dir, "nope.jsonl");
    const e1 = await issuesOf(readDataset(missing));
    assert.deepEqual(e1.issues, [{ file: missing, line: 0, field: "(file)", reason: "file not found" }]);
    const empty = await file("empty.jsonl", "\n\n");
    const e2 = await issuesOf(readDataset(empty));
    assert.equal(e2.issues[0]!.reason, "contains no requests");
    const e3 = await issuesOf(readDataset(dir));
    assert.match(e3.issues[0]!.reason, /^cannot read \(EISDIR/);
  });
});

describe("streaming", () => {
  test("lines longer than a read chunk are reassembled", async () => {
    const ids = Array.from({ length: 300_000 }, (_, i) => i % 1000);
    const p = await file(
      "long.jsonl",
      `{"task_id":0,"input_ids":[${ids.join(",")}],"output_tokens":1}\n{"task_id":1,"input_ids":[7],"output_tokens":1}`,
    );
    const { requests } = await readDataset(p);
    assert.equal(requests.length, 2);
    assert.equal(requests[0]!.inputIds.length, 300_000);
    assert.equal(requests[0]!.inputIds[299_999], 999);
    assert.equal(requests[1]!.line, 2);
  });

  test("a 200k-line file streams with bounded memory", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    // ~130 bytes a line (a 100-char unknown key) → ~26 MB on disk; only 2 ids per request are kept.
    const pad = "x".repeat(100);
    const p = join(dir, "200k.jsonl");
    const ws = createWriteStream(p);
    for (let i = 0; i < 200_000; i += 1000) {
      let chunk = "";
      for (let j = i; j < i + 1000; j++)
        chunk += `{"task_id":${j},"input_ids":[${j % 7},3],"output_tokens":9,"pad":"${pad}"}\n`;
      if (!ws.write(chunk)) await once(ws, "drain");
    }
    ws.end();
    await once(ws, "close");
    const fileBytes = 200_000 * 133;

    gc();
    const base = process.memoryUsage();
    const live: number[] = [];
    let n = 0;
    for await (const r of iterateDataset(p)) {
      n++;
      assert.equal(r.outputTokens, 9);
      if (n % 20_000 === 0) {
        gc();
        const m = process.memoryUsage();
        live.push(m.heapUsed + m.arrayBuffers - base.heapUsed - base.arrayBuffers);
      }
    }
    assert.equal(n, 200_000);
    // Live memory is a chunk's worth of lines and requests plus JIT warm-up, flat from the second sample on;
    // a reader holding the text (or the requests) would grow by ~20 MB between the first and last samples.
    const mb = (x: number) => (x / 1e6).toFixed(1);
    const peak = Math.max(...live);
    const growth = peak - live[1]!;
    assert.ok(growth < 6e6, `live memory grew ${mb(growth)} MB while streaming (${live.map(mb).join(", ")})`);
    assert.ok(peak < fileBytes / 2, `peak live ${mb(peak)} MB for a ${mb(fileBytes)} MB file`);
  });
});
