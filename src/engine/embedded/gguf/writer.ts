/**
 * GGUF v3 writer: header (KV pairs + tensor infos) in one buffer, then tensor data streamed chunk by
 * chunk to a temporary file that is renamed into place once complete.
 */
import { type FileHandle, mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import {
  GGML_TYPE,
  GGUF_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VALUE,
  GGUF_VERSION,
  type GgufWeightType,
  tensorBytes,
} from "./constants.ts";
import { encodeTensorData } from "./encoders.ts";

export type GgufKv =
  | { key: string; type: "u32" | "i32" | "f32"; value: number }
  | { key: string; type: "bool"; value: boolean }
  | { key: string; type: "str"; value: string }
  | { key: string; type: "str[]"; value: readonly string[] }
  | { key: string; type: "i32[]" | "u32[]" | "f32[]"; value: ArrayLike<number> };

export interface GgufTensorSource {
  name: string;
  /** ggml order: ne0 (the contiguous row length) first. */
  dims: readonly number[];
  type: GgufWeightType;
  /** The tensor's values in memory order, in chunks whose lengths are multiples of the type's block. */
  values(): AsyncIterable<Float32Array> | Iterable<Float32Array>;
}

export interface GgufWriteResult {
  path: string;
  bytes: number;
}

const SCALAR_IDS = { u32: GGUF_VALUE.UINT32, i32: GGUF_VALUE.INT32, f32: GGUF_VALUE.FLOAT32 } as const;
const ARRAY_IDS = {
  "i32[]": GGUF_VALUE.INT32,
  "u32[]": GGUF_VALUE.UINT32,
  "f32[]": GGUF_VALUE.FLOAT32,
} as const;

export function alignUp(n: number, a: number = GGUF_ALIGNMENT): number {
  return Math.ceil(n / a) * a;
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/**
 * Sequential little-endian writer into a buffer sized from an upper bound (3 bytes per UTF-16 unit),
 * so every string is encoded once and its length patched in afterwards.
 */
class ByteWriter {
  readonly buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.alloc(size);
  }
  u32(v: number): void {
    this.pos = this.buf.writeUInt32LE(v, this.pos);
  }
  i32(v: number): void {
    this.pos = this.buf.writeInt32LE(v, this.pos);
  }
  f32(v: number): void {
    this.pos = this.buf.writeFloatLE(v, this.pos);
  }
  u64(v: number): void {
    this.buf.writeUInt32LE(v % 0x100000000, this.pos);
    this.buf.writeUInt32LE(Math.floor(v / 0x100000000), this.pos + 4);
    this.pos += 8;
  }
  u8(v: number): void {
    this.pos = this.buf.writeUInt8(v, this.pos);
  }
  str(s: string): void {
    const at = this.pos;
    const len = this.buf.write(s, at + 8, "utf8");
    this.buf.writeUInt32LE(len, at);
    this.buf.writeUInt32LE(0, at + 4);
    this.pos = at + 8 + len;
  }
}

function strBound(s: string): number {
  return 8 + 3 * s.length;
}

function kvBound(kv: GgufKv): number {
  const head = strBound(kv.key) + 4;
  switch (kv.type) {
    case "u32":
    case "i32":
    case "f32":
      return head + 4;
    case "bool":
      return head + 1;
    case "str":
      return head + strBound(kv.value);
    case "str[]": {
      let n = head + 12;
      for (const s of kv.value) n += strBound(s);
      return n;
    }
    default:
      return head + 12 + 4 * kv.value.length;
  }
}

function writeKv(w: ByteWriter, kv: GgufKv): void {
  w.str(kv.key);
  switch (kv.type) {
    case "u32":
    case "i32":
    case "f32":
      w.u32(SCALAR_IDS[kv.type]);
      w[kv.type](kv.value);
      return;
    case "bool":
      w.u32(GGUF_VALUE.BOOL);
      w.u8(kv.value ? 1 : 0);
      return;
    case "str":
      w.u32(GGUF_VALUE.STRING);
      w.str(kv.value);
      return;
    case "str[]":
      w.u32(GGUF_VALUE.ARRAY);
      w.u32(GGUF_VALUE.STRING);
      w.u64(kv.value.length);
      for (const s of kv.value) w.str(s);
      return;
    default: {
      w.u32(GGUF_VALUE.ARRAY);
      w.u32(ARRAY_IDS[kv.type]);
      w.u64(kv.value.length);
      const put = kv.type === "f32[]" ? w.f32.bind(w) : kv.type === "i32[]" ? w.i32.bind(w) : w.u32.bind(w);
      for (let i = 0; i < kv.value.length; i++) put(kv.value[i]!);
    }
  }
}

interface Layout {
  header: Buffer;
  offsets: number[];
  sizes: number[];
  dataBytes: number;
}

/** Header bytes (padded to the alignment) and each tensor's offset inside the data section. */
export function layoutGguf(kvs: readonly GgufKv[], tensors: readonly GgufTensorSource[]): Layout {
  const keys = new Set<string>();
  for (const kv of kvs) {
    if (keys.has(kv.key)) throw new Error(`duplicate GGUF key ${kv.key}`);
    keys.add(kv.key);
  }
  const names = new Set<string>();
  let bound = 4 + 4 + 8 + 8;
  for (const kv of kvs) bound += kvBound(kv);
  const offsets: number[] = [];
  const sizes: number[] = [];
  let data = 0;
  for (const t of tensors) {
    if (names.has(t.name)) throw new Error(`duplicate tensor ${t.name}`);
    names.add(t.name);
    bound += strBound(t.name) + 4 + 8 * t.dims.length + 4 + 8;
    const bytes = tensorBytes(t.type, elementCount(t.dims));
    offsets.push(data);
    sizes.push(bytes);
    data = alignUp(data + bytes);
  }
  const w = new ByteWriter(alignUp(bound));
  w.u32(GGUF_MAGIC);
  w.u32(GGUF_VERSION);
  w.u64(tensors.length);
  w.u64(kvs.length);
  for (const kv of kvs) writeKv(w, kv);
  tensors.forEach((t, i) => {
    w.str(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(GGML_TYPE[t.type]);
    w.u64(offsets[i]!);
  });
  // Zero padding up to the alignment: the buffer was zero-filled and is at least that long.
  return { header: w.buf.subarray(0, alignUp(w.pos)), offsets, sizes, dataBytes: data };
}

/**
 * Sequential writes to a temp file with one write in flight, so encoding the next chunk overlaps the
 * disk write. (util/atomic-write's AtomicFileStream is not used: destroying its stream while writes are
 * pending, as its abort() does, emits an unhandled 'error' that kills the process.)
 */
class TempFileWriter {
  private pending: Promise<unknown> = Promise.resolve();
  private pos = 0;
  private constructor(
    private readonly fh: FileHandle,
    readonly tmp: string,
    readonly path: string,
  ) {}
  static async open(path: string): Promise<TempFileWriter> {
    await mkdir(dirname(path), { recursive: true });
    const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
    return new TempFileWriter(await open(tmp, "w"), tmp, path);
  }
  /** Queue `data`; resolves once the previous write has finished. The caller must not reuse `data`. */
  async write(data: Uint8Array): Promise<void> {
    await this.pending;
    const at = this.pos;
    this.pos += data.byteLength;
    this.pending = this.writeAll(data, at);
  }
  private async writeAll(data: Uint8Array, at: number): Promise<void> {
    let done = 0;
    while (done < data.byteLength) {
      const { bytesWritten } = await this.fh.write(data, done, data.byteLength - done, at + done);
      done += bytesWritten;
    }
  }
  async commit(): Promise<void> {
    await this.pending;
    await this.fh.close();
    await rename(this.tmp, this.path);
  }
  async abort(): Promise<void> {
    await this.pending.catch(() => undefined);
    await this.fh.close().catch(() => undefined);
    await rm(this.tmp, { force: true });
  }
}

/**
 * Write a complete GGUF file. `general.alignment` is assumed to be the default (32) or absent.
 * `onProgress(doneBytes, totalBytes)` counts tensor data bytes.
 */
export async function writeGgufFile(
  path: string,
  kvs: readonly GgufKv[],
  tensors: readonly GgufTensorSource[],
  onProgress?: (done: number, total: number) => void,
): Promise<GgufWriteResult> {
  const layout = layoutGguf(kvs, tensors);
  const out = await TempFileWriter.open(path);
  try {
    await out.write(layout.header);
    let done = 0;
    for (const [i, t] of tensors.entries()) {
      const expected = layout.sizes[i]!;
      let written = 0;
      for await (const chunk of t.values()) {
        const enc = encodeTensorData(t.type, chunk);
        // F32 encodes to a view of the producer's array; copy so producers may reuse their buffers.
        await out.write(t.type === "F32" ? enc.slice() : enc);
        written += enc.byteLength;
        done += enc.byteLength;
        if (written > expected) break;
        onProgress?.(done, layout.dataBytes);
      }
      if (written !== expected) {
        throw new Error(`tensor ${t.name}: produced ${written} bytes, expected ${expected}`);
      }
      const pad = alignUp(expected) - expected;
      if (pad > 0) await out.write(new Uint8Array(pad));
      done += pad;
    }
    onProgress?.(layout.dataBytes, layout.dataBytes);
    await out.commit();
  } catch (err) {
    await out.abort();
    throw err;
  }
  return { path, bytes: layout.header.length + layout.dataBytes };
}
