import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeBF16, encodeF16, encodeF32, encodeQ4_0, encodeQ8_0, encodeTensorData } from "./encoders.ts";
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "./half.ts";

const u16 = (b: Uint8Array) => Array.from(new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2));

describe("f16 conversion (round to nearest even)", () => {
  const cases: [number, number][] = [
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff], // largest half
    [65519, 0x7bff], // just below the halfway point to 65536
    [65520, 0x7c00], // halfway between 65504 and 65536: ties to even = 65536 = inf
    [1 + 2 ** -11, 0x3c00], // halfway between 0x3c00 and 0x3c01: even is 0x3c00
    [1 + 3 * 2 ** -11, 0x3c02], // halfway between 0x3c01 and 0x3c02: even is 0x3c02
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above halfway
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // half of it: ties to even zero
    [3 * 2 ** -25, 0x0002], // 1.5 subnormal steps: ties to even 2
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -14 - 2 ** -25, 0x0400], // subnormal that rounds up into the normal range
    [-0, 0x8000],
    [1e6, 0x7c00],
    [Number.NEGATIVE_INFINITY, 0xfc00],
  ];
  for (const [x, h] of cases) it(`${x} → 0x${h.toString(16)}`, () => assert.equal(f32ToF16(x), h));
  it("NaN stays a quiet NaN", () => assert.equal(f32ToF16(Number.NaN), 0x7e00));
  it("decodes", () => {
    assert.equal(f16ToF32(0x3c00), 1);
    assert.equal(f16ToF32(0x7bff), 65504);
    assert.equal(f16ToF32(0x0001), 2 ** -24);
    assert.equal(f16ToF32(0xc000), -2);
    assert.equal(f16ToF32(0x7c00), Number.POSITIVE_INFINITY);
  });
  it("bulk encoder matches the scalar one", () => {
    const v = new Float32Array([1, 65520, 1 + 3 * 2 ** -11, 2 ** -25]);
    assert.deepEqual(u16(encodeF16(v)), [0x3c00, 0x7c00, 0x3c02, 0x0000]);
  });
});

describe("bf16 conversion (ggml rounding)", () => {
  const cases: [number, number][] = [
    [1, 0x3f80],
    [-1, 0xbf80],
    [1 + 2 ** -8, 0x3f80], // halfway between 0x3f80 and 0x3f81: even
    [1 + 3 * 2 ** -8, 0x3f82], // halfway between 0x3f81 and 0x3f82: even
    [1 + 2 ** -8 + 2 ** -20, 0x3f81], // just above halfway
    [3.140625, 0x4049], // exactly representable
  ];
  for (const [x, h] of cases) it(`${x} → 0x${h.toString(16)}`, () => assert.equal(f32ToBf16(x), h));
  it("NaN is forced quiet", () => assert.equal(f32ToBf16(Number.NaN), 0x7fc0));
  it("decodes and bulk-encodes", () => {
    assert.equal(bf16ToF32(0x3f80), 1);
    assert.equal(bf16ToF32(0x4049), 3.140625);
    assert.deepEqual(u16(encodeBF16(new Float32Array([1, 1 + 3 * 2 ** -8]))), [0x3f80, 0x3f82]);
  });
});

describe("Q8_0", () => {
  it("scale = amax/127 and round half away from zero", () => {
    // amax 127 → d = 1 exactly, so q = round(x).
    const b = new Float32Array(32);
    b.set([127, -2.5, 2.5, 0.49, -0.5, 3, -126.6]);
    // amax 254 → d = 2: 5/2 = 2.5 → 3, -3/2 = -1.5 → -2, 254 → 127.
    const c = new Float32Array(32);
    c.set([5, -3, 254]);
    const zero = new Float32Array(32);
    const out = encodeQ8_0(Float32Array.from([...b, ...c, ...zero]));
    assert.equal(out.length, 3 * 34);
    const q = new Int8Array(out.buffer);
    assert.deepEqual([out[0], out[1]], [0x00, 0x3c]); // f16(1.0)
    assert.deepEqual(Array.from(q.subarray(2, 9)), [127, -3, 3, 0, -1, 3, -127]);
    assert.ok(q.subarray(9, 34).every((v) => v === 0));
    assert.deepEqual([out[34], out[35]], [0x00, 0x40]); // f16(2.0)
    assert.deepEqual(Array.from(q.subarray(36, 39)), [3, -2, 127]);
    assert.ok(out.subarray(68).every((v) => v === 0)); // all-zero block: d = 0, q = 0
  });
  it("rejects a length that is not a multiple of 32", () => {
    assert.throws(() => encodeQ8_0(new Float32Array(33)), RangeError);
  });
});

describe("Q4_0", () => {
  it("scale = max/-8, nibbles min(15, trunc(x/d + 8.5)), low nibble = first half", () => {
    // Largest magnitude is -8 → d = 1, q = min(15, trunc(x + 8.5)).
    const b = new Float32Array(32);
    b.set([-8, 7, 7.4, 0, -0.6, 0.5]);
    b.set([1, 2], 16);
    const out = encodeQ4_0(b);
    assert.equal(out.length, 18);
    assert.deepEqual([out[0], out[1]], [0x00, 0x3c]);
    // q: [0, 15, 15, 8, 7, 9, 8...]; second half q: [9, 10, 8...]
    assert.deepEqual(Array.from(out.subarray(2, 9)), [
      0 | (9 << 4),
      15 | (10 << 4),
      15 | (8 << 4),
      8 | 0x80,
      7 | 0x80,
      9 | 0x80,
      0x88,
    ]);
  });
  it("a positive extreme gives a negative scale and clamps at 15", () => {
    const b = new Float32Array(32);
    b.set([8, -7, -8]); // d = -1: q = min(15, trunc(-x + 8.5))
    const out = encodeQ4_0(b);
    assert.deepEqual([out[0], out[1]], [0x00, 0xbc]); // f16(-1.0)
    assert.deepEqual(
      Array.from(out.subarray(2, 5)).map((v) => v & 15),
      [0, 15, 15],
    );
  });
});

describe("encodeTensorData", () => {
  it("F32 is the raw little-endian bytes", () => {
    const v = new Float32Array([1, -2]);
    assert.deepEqual(Array.from(encodeF32(v)), [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]);
  });
  it("produces the byte size of each type", () => {
    const v = new Float32Array(64).fill(0.25);
    const sizes = (["F32", "F16", "BF16", "Q8_0", "Q4_0"] as const).map((t) => encodeTensorData(t, v).length);
    assert.deepEqual(sizes, [256, 128, 128, 68, 36]);
  });
});
