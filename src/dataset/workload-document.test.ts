import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { DatasetError } from "../errors.ts";
import { packageRoot } from "../model/known-models.ts";
import { memorySink } from "./jsonl-writer.ts";
import { readDataset } from "./reader.ts";
import { pyString, WorkloadDocumentWriter, workloadMetadata } from "./workload-document.ts";
import { readDatasetSource, sampleToRequest, sniff } from "./workload-document-reader.ts";

let dir = "";
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "llm-bench-doc-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, text);
  return p;
}

describe("the 0.17 {metadata, samples} document", { timeout: 20_000 }, () => {
  test("writer: Python's json.dump layout, metadata first with workload_name, no final newline", async () => {
    const sink = memorySink();
    const spec = {
      kind: "token-norm-dist" as const,
      numRequests: 2,
      inputMean: 3,
      inputStdev: 0,
      outputMean: 5,
      outputStdev: 1,
    };
    const w = new WorkloadDocumentWriter(sink, (l) => workloadMetadata(spec, 1000, l));
    await w.begin({ isl: [3, 0], osl: [5, 6] });
    await w.writeIds(0, Int32Array.from([10, 200, 3]), 3, 5, undefined, -1);
    await w.writeIds(1, new Int32Array(0), 0, 6, undefined, 7);
    await w.close();
    assert.equal(
      sink.text(),
      '{"metadata": {"workload_type": "token-norm-dist", "input_mean": 3, "input_stdev": 0, "output_mean": 5, ' +
        '"output_stdev": 1, "num_requests": 2, "tokenize_vocabsize": 1000, "max_input_len": 3, "max_output_len": 6, ' +
        '"workload_name": "workload_type:token-norm-dist__input_mean:3__input_stdev:0__output_mean:5__output_stdev:1' +
        '__num_requests:2__tokenize_vocabsize:1000__max_input_len:3__max_output_len:6"}, "samples": [' +
        '{"input_len": 3, "input_ids": [10, 200, 3], "output_len": 5, "task_id": -1}, ' +
        '{"input_len": 0, "input_ids": [], "output_len": 6, "task_id": 7}]}',
    );
    assert.equal(w.bytes, Buffer.byteLength(sink.text()));
  });

  test("real-dataset metadata leaves the tokenizer out of workload_name; strings are ASCII-escaped", () => {
    const m = workloadMetadata({ kind: "real-dataset", datasetPath: "x", inputKey: "prompt" }, 1000, {
      isl: [4, 9],
      osl: [2, 1],
    });
    assert.deepEqual(m, {
      workload_type: "dataset",
      tokenizer: "PreTrainedTokenizerFast",
      num_requests: 2,
      max_input_len: 9,
      max_output_len: 2,
      workload_name: "workload_type:dataset__num_requests:2__max_input_len:9__max_output_len:2",
    });
    assert.equal(pyString("é\u2028"), '"\\u00e9\\u2028"');
  });

  test("format sniffing: a document's first key is metadata or samples", () => {
    assert.equal(sniff(Buffer.from('{"metadata": {}, "samples": []}'), false), "document");
    assert.equal(sniff(Buffer.from('\ufeff \n{\n  "samples": ['), false), "document");
    assert.equal(sniff(Buffer.from('{"task_id":0,"input_ids":[1],"output_tokens":2}\n'), false), "jsonl");
    assert.equal(sniff(Buffer.from("[1, 2]"), false), "jsonl");
    assert.equal(sniff(Buffer.from('{"meta'), false), undefined);
    assert.equal(sniff(Buffer.from('{"meta'), true), "jsonl");
  });

  test("samples become requests numbered by position; 0.17's task_id (a LoRA task) is not the id", () => {
    assert.deepEqual(
      sampleToRequest('{"input_len": 2, "input_ids": [5, 6], "output_len": 3, "task_id": -1}', 4),
      {
        text: '{"task_id":4,"output_tokens":3,"input_ids":[5,6]}',
      },
    );
    assert.deepEqual(sampleToRequest('{"input_ids": [5], "input_len": 2, "output_len": 3}', 0).issue, {
      field: "input_len",
      reason: "2 does not match the 1 input_ids",
    });
    assert.equal(sampleToRequest('{"input_ids": [5], "output_len": 0}', 0).issue?.field, "output_len");
  });

  test("readDataset reads the golden 0.17 file: 5 requests, ids and output lengths as written", async () => {
    const path = join(await packageRoot(), "test/fixtures/trtllm-0.17/dataset-unif.json");
    const { requests, metadata } = await readDataset(path, { vocabSize: 128000 });
    assert.equal(requests.length, 5);
    assert.deepEqual(
      requests.map((r) => [r.taskId, r.inputIds.length, r.outputTokens]),
      [
        [0, 5, 6],
        [1, 7, 8],
        [2, 1, 2],
        [3, 8, 9],
        [4, 8, 9],
      ],
    );
    assert.deepEqual([...requests[2]!.inputIds], [3960]);
    assert.equal(metadata.max_sequence_length, 17);
  });

  test("a pretty-printed document split into 7-byte chunks gives the same requests, with line numbers", async () => {
    const doc = {
      metadata: { workload_type: "x", note: 'a } ] " tricky , string' },
      samples: [
        { input_len: 2, input_ids: [1, 2], output_len: 3, task_id: -1 },
        { input_ids: [7], output_len: 1, prompt: "ignored: ids win" },
      ],
    };
    const path = await file("pretty.json", JSON.stringify(doc, null, 4));
    const got: Array<[string, number]> = [];
    for await (const b of readDatasetSource(path, { chunkBytes: 7 })) {
      for (const [i, l] of b.lines.entries()) got.push([l, b.samples![i]!.line]);
    }
    assert.deepEqual(got, [
      ['{"task_id":0,"output_tokens":3,"input_ids":[1,2]}', 7],
      ['{"task_id":1,"output_tokens":1,"input_ids":[7],"prompt":"ignored: ids win"}', 16],
    ]);
    const { requests } = await readDataset(path);
    assert.deepEqual(
      requests.map((r) => [...r.inputIds]),
      [[1, 2], [7]],
    );
  });

  test("bad samples are reported by index and field, all of them", async () => {
    const path = await file(
      "bad.json",
      '{"metadata": {}, "samples": [{"input_ids": [1, 999], "output_len": 2}, {"input_ids": [1], "output_len": "x"}, 3]}',
    );
    const err = await readDataset(path, { vocabSize: 100 }).catch((e: unknown) => e);
    assert.ok(err instanceof DatasetError);
    assert.deepEqual(
      err.issues.map((i) => `${i.line} ${i.field}: ${i.reason}`),
      [
        "1 samples[0].input_ids[1]: 999 is outside the vocabulary [0, 100)",
        '1 samples[1].output_len: must be a positive integer, got "x"',
        "1 samples[2].(sample): expected a JSON object",
      ],
    );
  });

  test("broken documents fail with a dataset error naming the line", async () => {
    const cases: Array<[string, RegExp]> = [
      ['{"metadata": {}, "samples": [{"output_len": 1, "input_ids": [1]}', /the document ends early/],
      ['{"metadata": {}}', /no "samples" list/],
      ['{"samples": 5}', /"samples" must be a list/],
      ['{"samples": [], "metadata": [1]}', /metadata must be a JSON object/],
      ['{"samples": [{"output_len": 1, "input_ids": [1]},]}', /\(document\)/],
      ['{"samples": []} x', /unexpected data after the document/],
      ['{"samples": []}', /contains no requests/],
    ];
    for (const [text, re] of cases) {
      const path = await file("broken.json", text);
      const err = await readDataset(path).catch((e: unknown) => e);
      assert.ok(err instanceof DatasetError, text);
      assert.match(err.message, re, text);
    }
  });

  test("JSONL is still read line by line", async () => {
    const path = await file(
      "d.jsonl",
      '{"task_id":"a","input_ids":[1,2],"output_tokens":3}\n\n{"task_id":"b","input_ids":[4],"output_tokens":1}\n',
    );
    const { requests } = await readDataset(path);
    assert.deepEqual(
      requests.map((r) => [r.taskId, r.line]),
      [
        ["a", 1],
        ["b", 3],
      ],
    );
  });
});
