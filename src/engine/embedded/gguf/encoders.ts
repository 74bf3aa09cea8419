/**
 * Tensor data encoders: f32 values → the bytes ggml stores. Little-endian host assumed (x64/arm64),
 * which is also GGUF's byte order.
 */
import { BLOCK, type GgufWeightType, tensorBytes } from "./constants.ts";
import { f32BitsToBf16, f32BitsToF16 } from "./half.ts";

const fround = Math.fround;

/** F32: the values' own bytes (a view, no copy). */
export function encodeF32(src: Float32Array): Uint8Array {
  return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
}

export function encodeF16(src: Float32Array): Uint8Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToF16(bits[i]!);
  return new Uint8Array(out.buffer);
}

export function encodeBF16(src: Float32Array): Uint8Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToBf16(bits[i]!);
  return new Uint8Array(out.buffer);
}

/** Blocks of 32: f16 scale d = amax/127, then 32 × int8 round(x/d), as ggml's reference quantizer. */
export function encodeQ8_0(src: Float32Array): Uint8Array {
  const nb = src.length / 32;
  if (!Number.isInteger(nb)) throw new RangeError(`Q8_0 needs a multiple of 32 values, got ${src.length}`);
  const out = new Uint8Array(nb * 34);
  const qs = new Int8Array(out.buffer);
  const scaleBits = new Uint32Array(1);
  const scaleF = new Float32Array(scaleBits.buffer);
  for (let b = 0; b < nb; b++) {
    const base = b * 32;
    let amax = 0;
    for (let j = 0; j < 32; j++) {
      const a = Math.abs(src[base + j]!);
      amax = Math.max(amax, a);
    }
    const d = fround(amax / 127);
    const id = d !== 0 ? fround(1 / d) : 0;
    scaleF[0] = d;
    const h = f32BitsToF16(scaleBits[0]!);
    const o = b * 34;
    out[o] = h & 0xff;
    out[o + 1] = h >>> 8;
    for (let j = 0; j < 32; j++) {
      const x = fround(src[base + j]! * id);
      // roundf (half away from zero); |x| ≤ 127 and x ± 0.5 is exact in f64, so truncation by |0 is safe.
      qs[o + 2 + j] = x < 0 ? (x - 0.5) | 0 : (x + 0.5) | 0;
    }
  }
  return out;
}

/**
 * Blocks of 32: f16 scale d = max/-8 where max is the value of largest magnitude, then 16 bytes whose
 * low nibbles hold elements 0..15 and high nibbles 16..31, each min(15, trunc(x/d + 8.5)).
 */
export function encodeQ4_0(src: Float32Array): Uint8Array {
  const nb = src.length / 32;
  if (!Number.isInteger(nb)) throw new RangeError(`Q4_0 needs a multiple of 32 values, got ${src.length}`);
  const out = new Uint8Array(nb * 18);
  const scaleBits = new Uint32Array(1);
  const scaleF = new Float32Array(scaleBits.buffer);
  for (let b = 0; b < nb; b++) {
    const base = b * 32;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = src[base + j]!;
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fround(max / -8);
    const id = d !== 0 ? fround(1 / d) : 0;
    scaleF[0] = d;
    const h = f32BitsToF16(scaleBits[0]!);
    const o = b * 18;
    out[o] = h & 0xff;
    out[o + 1] = h >>> 8;
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(fround(fround(src[base + j]! * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(fround(fround(src[base + 16 + j]! * id) + 8.5)));
      out[o + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

const ENCODERS: Record<GgufWeightType, (src: Float32Array) => Uint8Array> = {
  F32: encodeF32,
  F16: encodeF16,
  BF16: encodeBF16,
  Q8_0: encodeQ8_0,
  Q4_0: encodeQ4_0,
};

/** Encode `src` as `type`; the result has exactly tensorBytes(type, src.length) bytes. */
export function encodeTensorData(type: GgufWeightType, src: Float32Array): Uint8Array {
  return ENCODERS[type](src);
}

/** Whether a tensor whose rows have `ne0` elements can be stored as `type` (blocks never span rows). */
export function fitsRows(type: GgufWeightType, ne0: number): boolean {
  return ne0 % BLOCK[type].elements === 0;
}

export { tensorBytes };
