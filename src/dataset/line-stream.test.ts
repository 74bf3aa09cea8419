import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DatasetError } from "../errors.ts";
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

test("a line past maxLineBytes is a DatasetError naming its line, at every chunk size", async () => {
  const text = `short\n${"x".repeat(40)}\nafter\n`;
  for (const size of [1, 7, 16, 64, 1024]) {
    await assert.rejects(
      collectLimited(text, size, 32),
      (e: unknown) =>
        e instanceof DatasetError && e.issues[0]!.line === 2 && /longer than 32 bytes/.test(e.message),
      `chunk size ${size}`,
    );
  }
  assert.equal((await collect(text, 7)).length, 3, "no limit below the default");
});

async function collectLimited(text: string, chunkBytes: number, maxLineBytes: number): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), "llm-bench-lines-"));
  try {
    const p = join(dir, "f.jsonl");
    await writeFile(p, text);
    let n = 0;
    for await (const b of readLineBatches(p, { chunkBytes, maxLineBytes })) n += b.lines.length;
    return n;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
