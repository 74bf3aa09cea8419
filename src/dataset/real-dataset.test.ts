import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fakeTokenizer } from "../../test/fixtures/datasets/fake-tokenizer.ts";
import { runToLines } from "../../test/fixtures/datasets/run-to-lines.ts";
import { DatasetError, UsageError } from "../errors.ts";
import {
  detectFormat,
  parseOutputLenDist,
  type RealDatasetSpec,
  topLevelElementLines,
} from "./real-dataset.ts";

const FIX = "test/fixtures/datasets";
const tok = () => fakeTokenizer({ vocabSize: 100, bos: 100, eos: 101 });
type Line = { task_id: number; input_ids: number[]; output_tokens: number; prompt?: string };

async function run(spec: Omit<RealDatasetSpec, "kind">, extra: { randomSeed?: number } = {}) {
  const r = await runToLines({ tokenizer: tok(), workload: { kind: "real-dataset", ...spec }, ...extra });
  return { ...r, rows: r.lines.map((l) => JSON.parse(l) as Line) };
}

describe("real-dataset: formats", () => {
  it("ShareGPT: first turn → input_ids (with BOS), second turn's token count → output_tokens", async () => {
    const { rows, logged } = await run({ datasetPath: `${FIX}/sharegpt.json` });
    assert.deepEqual(rows[0], { task_id: 0, input_ids: [100, 0, 1, 2], output_tokens: 3 });
    assert.deepEqual(
      rows.map((r) => [r.task_id, r.input_ids.length, r.output_tokens]),
      [
        [0, 4, 3],
        [1, 9, 2],
        [2, 3, 5],
      ],
    );
    assert.ok(logged.some((l) => l.includes("Skipped 1 conversations")));
  });

  it("--max-input-len drops (not truncates) longer prompts; --num-requests caps after filtering", async () => {
    const f = await run({ datasetPath: `${FIX}/sharegpt.json`, maxInputLen: 5 });
    assert.deepEqual(
      f.rows.map((r) => [r.task_id, r.input_ids.length]),
      [
        [0, 4],
        [1, 3],
      ],
    );
    const c = await run({ datasetPath: `${FIX}/sharegpt.json`, maxInputLen: 5, numRequests: 1 });
    assert.equal(c.rows.length, 1);
    const short = await run({ datasetPath: `${FIX}/sharegpt.json`, numRequests: 10 });
    assert.ok(
      short.logged.some((l) =>
        l.includes("Number of requests=3 is smaller than the num-requests user set=10"),
      ),
    );
  });

  it("JSONL with instruction and output keys: prompt = instruction + ' ' + input", async () => {
    const { rows } = await run({
      datasetPath: `${FIX}/records.jsonl`,
      promptKey: "sys",
      outputKey: "answer",
    });
    // "Be brief: alpha beta" = BOS + 4 words; "gamma" = BOS + 1.
    assert.deepEqual(
      rows.map((r) => [r.input_ids.length, r.output_tokens]),
      [
        [5, 2],
        [7, 4],
        [3, 3],
      ],
    );
  });

  it("JSON array with custom keys, --output-len-dist (same normal rule as token-norm-dist)", async () => {
    const { rows } = await run({
      datasetPath: `${FIX}/sharegpt.json`,
      outputLenDist: [50, 0],
    });
    assert.deepEqual(
      rows.map((r) => r.output_tokens),
      [50, 50, 50],
    );
  });

  it("plain text: one prompt per non-blank line; text mode writes the prompt itself", async () => {
    const { rows } = await run({
      datasetPath: `${FIX}/prompts.txt`,
      outputLenDist: [10, 0],
      promptMode: "text",
    });
    assert.deepEqual(rows, [
      { task_id: 0, prompt: "the quick brown fox", output_tokens: 10 },
      { task_id: 1, prompt: "jumps over", output_tokens: 10 },
      { task_id: 2, prompt: "the lazy dog again today", output_tokens: 10 },
    ]);
  });

  it("format detection by extension and content", async () => {
    assert.equal(await detectFormat(`${FIX}/records.jsonl`), "jsonl");
    assert.equal(await detectFormat(`${FIX}/prompts.txt`), "text");
    assert.equal(await detectFormat(`${FIX}/records.json`), "json");
  });
});

describe("real-dataset: errors name file, line and field", () => {
  it("JSONL: wrong type, invalid JSON and a missing key, each with its line", async () => {
    const err = await run({ datasetPath: `${FIX}/bad.jsonl`, outputKey: "answer" }).then(
      () => assert.fail("expected a DatasetError"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof DatasetError);
    assert.deepEqual(
      err.issues.map((i) => [i.line, i.field]),
      [
        [2, "prompt"],
        [3, "(json)"],
        [4, "prompt"],
      ],
    );
    assert.match(err.message, /bad\.jsonl:4: prompt: missing key \(available: answer\)/);
  });

  it("JSON array: the element's starting line", async () => {
    const err = await run({ datasetPath: `${FIX}/records.json`, inputKey: "text", outputKey: "out" }).then(
      () => assert.fail("expected a DatasetError"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof DatasetError);
    assert.deepEqual(
      err.issues.map((i) => [i.line, i.field]),
      [[8, "text"]],
    );
    assert.deepEqual(topLevelElementLines('[\n {"a": "[,{"},\n\n 3 ,\n "x"\n]'), [2, 4, 5]);
  });

  it("usage errors: missing file, no output length source, conflicting prompt options", async () => {
    await assert.rejects(run({ datasetPath: `${FIX}/nope.json`, outputLenDist: [1, 0] }), UsageError);
    await assert.rejects(run({ datasetPath: `${FIX}/prompts.txt` }), /--output-len-dist/);
    await assert.rejects(run({ datasetPath: `${FIX}/records.jsonl` }), /--dataset-output-key is not set/);
    await assert.rejects(
      run({ datasetPath: `${FIX}/records.jsonl`, outputKey: "answer", prompt: "x", promptKey: "sys" }),
      /cannot be set at the same time/,
    );
    assert.deepEqual(parseOutputLenDist("100,10"), [100, 10]);
    assert.throws(() => parseOutputLenDist("100"), UsageError);
  });
});
