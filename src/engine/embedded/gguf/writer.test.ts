import assert from "node:assert/strict";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { readGgufFileInfo } from "node-llama-cpp";
import { encodeQ8_0 } from "./encoders.ts";
import { tempDir } from "./test-support.ts";
import { type GgufKv, type GgufTensorSource, layoutGguf, writeGgufFile } from "./writer.ts";

const kvs: GgufKv[] = [
  { key: "general.architecture", type: "str", value: "llama" },
  { key: "test.count", type: "u32", value: 7 },
  { key: "test.offset", type: "i32", value: -3 },
  { key: "test.scale", type: "f32", value: 0.5 },
  { key: "test.flag", type: "bool", value: true },
  { key: "test.words", type: "str[]", value: ["a b", "héllo", "日本"] },
  { key: "test.ints", type: "i32[]", value: Int32Array.from([1, -2, 3]) },
];

const ramp = (n: number, scale: number) => Float32Array.from({ length: n }, (_, i) => (i - n / 2) * scale);

function tensors(): GgufTensorSource[] {
  return [
    { name: "a.weight", dims: [3], type: "F32", values: () => [Float32Array.from([1, 2, 3])] },
    // Two chunks of whole rows: the writer must concatenate them.
    { name: "b.weight", dims: [64, 2], type: "F16", values: () => [ramp(64, 1), ramp(64, 2)] },
    { name: "c.weight", dims: [32, 2, 3], type: "Q8_0", values: () => [ramp(192, 0.01)] },
  ];
}

describe("GGUF writer", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());

  it("lays tensors out at 32-byte aligned offsets", () => {
    const l = layoutGguf(kvs, tensors());
    // a: 12 bytes → next at 32; b: 128 × 2 = 256 bytes → 288; c: 6 blocks × 34 = 204 bytes.
    assert.deepEqual(l.offsets, [0, 32, 288]);
    assert.deepEqual(l.sizes, [12, 256, 204]);
    assert.equal(l.dataBytes, 288 + 224);
    assert.equal(l.header.length % 32, 0);
  });

  it("round-trips header, KV pairs and tensor infos through node-llama-cpp's reader", async () => {
    const path = join(dir, "rt.gguf");
    const res = await writeGgufFile(path, kvs, tensors());
    assert.equal((await stat(path)).size, res.bytes);
    const info = await readGgufFileInfo(path, { logWarnings: false });
    assert.equal(info.version, 3);
    assert.equal(info.tensorCount, 3);
    const m = info.metadata as unknown as Record<string, Record<string, unknown>>;
    assert.equal(m["general"]!["architecture"], "llama");
    assert.deepEqual(
      { ...m["test"] },
      { count: 7, offset: -3, scale: 0.5, flag: true, words: ["a b", "héllo", "日本"], ints: [1, -2, 3] },
    );
    const ti = info.tensorInfo!;
    assert.deepEqual(
      ti.map((t) => [t.name, t.dimensions.map(Number), t.ggmlType, Number(t.offset)]),
      [
        ["a.weight", [3], 0, 0],
        ["b.weight", [64, 2], 1, 32],
        ["c.weight", [32, 2, 3], 8, 288],
      ],
    );
    // The data really sits where the infos say.
    const file = await readFile(path);
    const a = Number(ti[0]!.fileOffset);
    assert.deepEqual(
      Array.from(new Float32Array(file.buffer.slice(file.byteOffset + a, file.byteOffset + a + 12))),
      [1, 2, 3],
    );
    const b = Number(ti[1]!.fileOffset);
    assert.equal(file.readUInt16LE(b), 0xd000); // f16(-32)
    assert.equal(file.readUInt16LE(b + 128 + 2), 0xd3c0); // f16(-62): second chunk, second value
    const c = Number(ti[2]!.fileOffset);
    assert.deepEqual(file.subarray(c, c + 204), Buffer.from(encodeQ8_0(ramp(192, 0.01))));
  });

  it("leaves no file and no temp file when a tensor produces the wrong byte count", async () => {
    const path = join(dir, "bad.gguf");
    const bad: GgufTensorSource[] = [
      { name: "x", dims: [4], type: "F32", values: () => [new Float32Array(3)] },
    ];
    await assert.rejects(writeGgufFile(path, kvs, bad), /tensor x: produced 12 bytes, expected 16/);
    const left = (await readdir(dir)).filter((f) => f.includes("bad.gguf"));
    assert.deepEqual(left, []);
  });

  it("rejects duplicate keys and tensor names", () => {
    assert.throws(() => layoutGguf([...kvs, kvs[0]!], []), /duplicate GGUF key general.architecture/);
    const t = tensors();
    assert.throws(() => layoutGguf(kvs, [...t, t[0]!]), /duplicate tensor a.weight/);
  });
});
