import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fakeTokenizer } from "../../test/fixtures/datasets/fake-tokenizer.ts";
import { runToLines } from "../../test/fixtures/datasets/run-to-lines.ts";
import { UsageError } from "../errors.ts";
import { memorySink } from "./jsonl-writer.ts";
import { PythonRandom } from "./rng/python-random.ts";
import { normDistLengths, sampleTokenIds, scrubEos, unifDistLengths } from "./synthetic.ts";

describe("length sampling (brief §2.4)", () => {
  it("normal with stdev 0: every length is ceil(mean), at least 1", () => {
    assert.deepEqual(Array.from(normDistLengths(128, 0, 3, 420)), [128, 128, 128]);
    assert.deepEqual(Array.from(normDistLengths(100.2, 0, 2, 420)), [101, 101]);
    assert.deepEqual(Array.from(normDistLengths(0.5, 0, 1, 420)), [1]);
    assert.deepEqual(Array.from(normDistLengths(-5, 0, 1, 420)), [1]);
  });
  it("ISL and OSL are drawn from the same re-seeded stream (correlated)", () => {
    const isl = normDistLengths(1000, 100, 50, 9);
    const osl = normDistLengths(100, 10, 50, 9);
    // Same z: (isl - 1000)/100 and (osl - 100)/10 differ only by the ceil rounding.
    for (let i = 0; i < 50; i++) assert.ok(Math.abs((isl[i]! - 1000) / 100 - (osl[i]! - 100) / 10) < 0.11);
  });
  it("uniform: both bounds inclusive, nothing outside", () => {
    const v = unifDistLengths(5, 7, 30_000, 1);
    const seen = new Set(v);
    assert.deepEqual([...seen].sort(), [5, 6, 7]);
    assert.deepEqual(Array.from(unifDistLengths(3, 3, 4, 1)), [3, 3, 3, 3]);
  });
});

describe("token ids (brief §2.5)", () => {
  it("EOS scrub: replaces EOS with EOS+1 (mod vocab), matches CPython for vocab 10, eos 3, seed 1", () => {
    const r = new PythonRandom(1);
    const want = [
      [2, 1, 4, 0, 4],
      [7, 9, 6, 8, 1],
      [1, 7, 0, 6, 4],
      [4, 7, 0, 4, 7, 2, 9, 9, 0, 0, 5, 9], // len ≥ vocab: choices, with repeats
    ];
    for (const [i, len] of [5, 5, 5, 12].entries()) {
      const buf = new Int32Array(len);
      sampleTokenIds(r, len, 10, buf);
      scrubEos(buf, len, [3], 10);
      assert.deepEqual(Array.from(buf), want[i]);
    }
  });
  it("EOS at the top of the vocabulary wraps to 0; an EOS outside the vocabulary is never scanned", () => {
    const ids = Int32Array.from([9, 1, 9]);
    assert.equal(scrubEos(ids, 3, [9], 10), true);
    assert.deepEqual(Array.from(ids), [0, 1, 0]);
    const other = Int32Array.from([5, 6]);
    assert.equal(scrubEos(other, 2, [128009], 10), false);
    assert.equal(scrubEos(other, 2, [], 10), false);
  });
});

describe("token-norm-dist / token-unif-dist datasets", () => {
  const tok = fakeTokenizer({ vocabSize: 100, eos: 99 });

  it("lines match trtllm-bench's for seed 420 (CPython reference), with random LoRA task ids", async () => {
    const { lines, logged } = await runToLines({
      tokenizer: tok,
      randTaskId: [0, 1000],
      loraDir: "/loras",
      workload: {
        kind: "token-norm-dist",
        numRequests: 3,
        inputMean: 4,
        inputStdev: 0,
        outputMean: 2,
        outputStdev: 0,
      },
    });
    const lora = (t: number) =>
      `"lora_request":{"lora_name":"lora_${t}","lora_int_id":${t},"lora_path":"/loras/${t}"}`;
    assert.deepEqual(lines, [
      `{"task_id":0,"input_ids":[3,86,46,34],"output_tokens":2,${lora(534)}}`,
      `{"task_id":1,"input_ids":[51,12,97,84],"output_tokens":2,${lora(333)}}`,
      `{"task_id":2,"input_ids":[86,84,14,3],"output_tokens":2,${lora(496)}}`,
    ]);
    assert.equal(logged.filter((l) => l.includes("[W]")).length, 0);
  });

  it("a fixed --task-id with --lora-dir adds the same lora_request to every line", async () => {
    const { lines } = await runToLines({
      tokenizer: tok,
      taskId: 7,
      loraDir: "loras/",
      workload: {
        kind: "token-unif-dist",
        numRequests: 2,
        inputMin: 1,
        inputMax: 3,
        outputMin: 1,
        outputMax: 1,
      },
    });
    for (const l of lines) {
      assert.deepEqual(JSON.parse(l).lora_request, {
        lora_name: "lora_7",
        lora_int_id: 7,
        lora_path: "loras/7",
      });
    }
  });

  it("task ids without --lora-dir: a warning and no lora_request", async () => {
    const { lines, logged } = await runToLines({
      tokenizer: tok,
      taskId: 7,
      workload: {
        kind: "token-unif-dist",
        numRequests: 2,
        inputMin: 1,
        inputMax: 3,
        outputMin: 1,
        outputMax: 1,
      },
    });
    assert.ok(logged.some((l) => l.includes("[W]") && l.includes("Task IDs require LoRA directory")));
    for (const l of lines) assert.equal("lora_request" in JSON.parse(l), false);
  });

  it("same seed ⇒ byte-identical output; another seed differs; task_id is the line index", async () => {
    const workload = {
      kind: "token-unif-dist",
      numRequests: 200,
      inputMin: 1,
      inputMax: 150,
      outputMin: 1,
      outputMax: 64,
    } as const;
    const a = await runToLines({ tokenizer: tok, workload });
    const b = await runToLines({ tokenizer: tok, workload });
    const c = await runToLines({ tokenizer: tok, workload, randomSeed: 421 });
    assert.equal(a.text, b.text);
    assert.notEqual(a.text, c.text);
    assert.equal(a.lines.length, 200);
    for (const [i, line] of a.lines.entries()) {
      const d = JSON.parse(line) as { task_id: number; input_ids: number[]; output_tokens: number };
      assert.deepEqual(Object.keys(d), ["task_id", "input_ids", "output_tokens"]);
      assert.equal(d.task_id, i);
      assert.ok(d.input_ids.length >= 1 && d.input_ids.length <= 150);
      assert.ok(d.output_tokens >= 1 && d.output_tokens <= 64);
      assert.ok(!d.input_ids.includes(99), "EOS scrubbed");
      // Under the vocabulary size, ids are drawn without replacement; the EOS scrub (99 → 0) may add one repeat.
      const distinct = new Set(d.input_ids).size;
      if (d.input_ids.length < 100)
        assert.ok(
          distinct === d.input_ids.length || (distinct === d.input_ids.length - 1 && d.input_ids.includes(0)),
        );
    }
    assert.equal(a.summary.metadata.isl_stats.minimum >= 1 && a.summary.metadata.max_isl <= 150, true);
  });

  it("rejects bad options with usage errors", async () => {
    await assert.rejects(
      runToLines({
        tokenizer: tok,
        workload: {
          kind: "token-unif-dist",
          numRequests: 1,
          inputMin: 5,
          inputMax: 4,
          outputMin: 1,
          outputMax: 1,
        },
      }),
      /--input-min must not exceed --input-max/,
    );
    await assert.rejects(
      runToLines({
        tokenizer: tok,
        workload: {
          kind: "token-norm-dist",
          numRequests: 0,
          inputMean: 5,
          inputStdev: 0,
          outputMean: 1,
          outputStdev: 0,
        },
      }),
      /--num-requests/,
    );
  });

  it("refuses what numpy refuses, and what passes llm-bench's limits, naming the limit", async () => {
    const norm = {
      kind: "token-norm-dist" as const,
      numRequests: 2,
      inputMean: 5,
      inputStdev: 0,
      outputMean: 1,
      outputStdev: 0,
    };
    const unif = {
      kind: "token-unif-dist" as const,
      numRequests: 2,
      inputMin: 1,
      inputMax: 5,
      outputMin: 1,
      outputMax: 5,
    };
    const cases: Array<[Parameters<typeof runToLines>[0], RegExp]> = [
      [
        { tokenizer: tok, workload: norm, randomSeed: 2 ** 32 },
        /np\.random\.seed, which takes 0 ≤ seed ≤ 4294967295/,
      ],
      [{ tokenizer: tok, workload: norm, randomSeed: -1 }, /0 ≤ seed ≤ 4294967295/],
      [{ tokenizer: tok, workload: unif, randomSeed: -1n }, /default_rng, which takes integers ≥ 0/],
      [{ tokenizer: tok, workload: { ...unif, inputMax: 5_000_000_000 } }, /limit of 16777216 per request/],
      [{ tokenizer: tok, workload: { ...unif, outputMax: 2 ** 31 } }, /limit of 2147483647 per request/],
      [{ tokenizer: tok, workload: { ...norm, inputMean: 3e9 } }, /request 0 draws 3000000000 input tokens/],
      [{ tokenizer: tok, workload: { ...norm, numRequests: 1e12 } }, /at most 16777216 requests/],
    ];
    for (const [opts, re] of cases) {
      await assert.rejects(runToLines(opts), (e: unknown) => e instanceof UsageError && re.test(e.message));
    }
  });

  it("memorySink collects chunks", async () => {
    const s = memorySink();
    await s.write(Buffer.from("ab"));
    await s.write(Buffer.from("c"));
    assert.equal(s.text(), "abc");
  });
});
