/** Numeric ids of the GGUF v3 format and of ggml (values from ggml.h / llama.h / gguf-py constants). */

export type GgufWeightType = "F32" | "F16" | "BF16" | "Q8_0" | "Q4_0";

/** ggml tensor type ids as stored in a tensor info. */
export const GGML_TYPE: Record<GgufWeightType, number> = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, BF16: 30 };

/** `general.file_type` (llama_ftype) for a file whose matrices use the given type. */
export const FILE_TYPE: Record<GgufWeightType, number> = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 7, BF16: 32 };

/** Elements per block and bytes per block of each storage type. */
export const BLOCK: Record<GgufWeightType, { elements: number; bytes: number }> = {
  F32: { elements: 1, bytes: 4 },
  F16: { elements: 1, bytes: 2 },
  BF16: { elements: 1, bytes: 2 },
  Q8_0: { elements: 32, bytes: 34 },
  Q4_0: { elements: 32, bytes: 18 },
};

export function isQuantized(t: GgufWeightType): boolean {
  return t === "Q8_0" || t === "Q4_0";
}

/** Bytes a tensor of `n` elements takes in storage type `t` (n must be a multiple of the block size). */
export function tensorBytes(t: GgufWeightType, n: number): number {
  const b = BLOCK[t];
  if (n % b.elements !== 0) throw new RangeError(`${n} elements is not a multiple of the ${t} block size`);
  return (n / b.elements) * b.bytes;
}

/** GGUF metadata value type ids. */
export const GGUF_VALUE = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

/** Token types of `tokenizer.ggml.token_type` (gguf-py TokenType). */
export const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_ALIGNMENT = 32;
