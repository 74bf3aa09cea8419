import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { readLineBatches } from "./line-stream.ts";

async function collect(text: string, chunkBytes: number): Promise<Array<[number, string]>> {
  const dir = await mkdtemp(join(tmpdir(), "llm-bench-lines-"));
  try {
    const p = join(dir, "f.jsonl");
    await writeFile(p, text);
    const out: Array<[number, string]> = [];
    for await (const b of readLineBatches(p, { chunkBytes })) {
      b.lines.forEach((l, i) => {
        out.push([b.firstLine + i, l]);
      });
    }
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const text = "\uFEFFfirst\r\n\nsécond line é🙂\r\nthird-without-newline";
const expected: Array<[number, string]> = [
  [1, "first"],
  [2, ""],
  [3, "sécond line é🙂"],
  [4, "third-without-newline"],
];

test("BOM, CRLF, empty lines and a missing final newline, numbered exactly", async () => {
  assert.deepEqual(await collect(text, 1 << 16), expected);
});

test("every chunk size gives the same lines, even when multi-byte characters straddle chunks", async () => {
  for (const size of [1, 2, 3, 5, 7, 11]) {
    assert.deepEqual(await collect(text, size), expected, `chunk size ${size}`);
  }
});

test("a trailing newline does not add an empty line", async () => {
  assert.deepEqual(await collect("a\nb\n", 1), [
    [1, "a"],
    [2, "b"],
  ]);
});
