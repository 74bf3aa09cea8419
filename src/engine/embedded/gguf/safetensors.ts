/**
 * Reading a local HF safetensors checkpoint (one file or index.json shards; F32/F16/BF16) as f32 rows.
 * A file is 8 bytes little-endian header length, a JSON header {name: {dtype, shape, data_offsets}},
 * then the data; offsets are relative to the end of the header.
 */
import { type FileHandle, open, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { ConfigError, UnsupportedError } from "../../../errors.ts";
import { decodeBf16, decodeF16 } from "./half.ts";

export type SafetensorsDtype = "F32" | "F16" | "BF16";

export interface SafetensorsEntry {
  name: string;
  file: string;
  dtype: SafetensorsDtype;
  /** Row-major, outermost first (PyTorch order). */
  shape: number[];
  /** Absolute byte offset of the data in `file`. */
  start: number;
}

const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2 };
const MAX_HEADER = 100 * 1024 * 1024;

async function readHeader(file: string): Promise<SafetensorsEntry[]> {
  const fh = await open(file, "r").catch((err: Error) => {
    throw new ConfigError(`cannot open: ${err.message}`, file, { cause: err });
  });
  try {
    const lenBuf = Buffer.alloc(8);
    await fh.read(lenBuf, 0, 8, 0);
    const len = Number(lenBuf.readBigUInt64LE(0));
    if (len <= 0 || len > MAX_HEADER) throw new ConfigError(`bad safetensors header length ${len}`, file);
    const hdr = Buffer.alloc(len);
    const { bytesRead } = await fh.read(hdr, 0, len, 8);
    if (bytesRead !== len) throw new ConfigError("truncated safetensors header", file);
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(hdr.toString("utf8")) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`invalid safetensors header JSON: ${(err as Error).message}`, file, {
        cause: err,
      });
    }
    const size = (await fh.stat()).size;
    const out: SafetensorsEntry[] = [];
    for (const [name, v] of Object.entries(json)) {
      if (name === "__metadata__") continue;
      const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const shape = e.shape;
      const offs = e.data_offsets;
      if (!Array.isArray(shape) || !Array.isArray(offs) || offs.length !== 2) {
        throw new ConfigError(`tensor ${name}: missing shape or data_offsets`, file);
      }
      if (e.dtype !== "F32" && e.dtype !== "F16" && e.dtype !== "BF16") {
        throw new UnsupportedError(
          `${file}: tensor ${name} has dtype ${String(e.dtype)}; supported: F32, F16, BF16`,
        );
      }
      const n = (shape as number[]).reduce((a, b) => a * b, 1);
      const [b, end] = offs as number[];
      if (end! - b! !== n * DTYPE_BYTES[e.dtype] || 8 + len + end! > size) {
        throw new ConfigError(`tensor ${name}: data_offsets do not match its shape or the file size`, file);
      }
      out.push({ name, file, dtype: e.dtype, shape: shape as number[], start: 8 + len + b! });
    }
    return out;
  } finally {
    await fh.close();
  }
}

/** All tensors of a checkpoint directory, by HF name. */
export async function indexCheckpoint(dir: string): Promise<Map<string, SafetensorsEntry>> {
  const indexPath = join(dir, "model.safetensors.index.json");
  let files: string[];
  try {
    const idx = JSON.parse(await readFile(indexPath, "utf8")) as { weight_map?: Record<string, string> };
    if (!idx.weight_map || typeof idx.weight_map !== "object") {
      throw new ConfigError("missing field `weight_map`", indexPath);
    }
    files = [...new Set(Object.values(idx.weight_map))].map((f) => join(dir, f));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new ConfigError(`cannot read: ${(err as Error).message}`, indexPath, { cause: err });
    }
    const names = await readdir(dir).catch((e: Error) => {
      throw new ConfigError(`cannot read checkpoint directory: ${e.message}`, dir, { cause: e });
    });
    files = names.filter((f) => f.endsWith(".safetensors")).map((f) => join(dir, f));
    if (files.length === 0)
      throw new ConfigError("no *.safetensors file and no model.safetensors.index.json", dir);
  }
  const map = new Map<string, SafetensorsEntry>();
  for (const entries of await Promise.all(files.map(readHeader))) {
    for (const e of entries) {
      if (map.has(e.name)) throw new ConfigError(`tensor ${e.name} appears in two shards`, e.file);
      map.set(e.name, e);
    }
  }
  return map;
}

/** Open file handles shared by all reads of one conversion. */
export class CheckpointReader {
  private readonly handles = new Map<string, Promise<FileHandle>>();

  private handle(file: string): Promise<FileHandle> {
    let h = this.handles.get(file);
    if (!h) {
      h = open(file, "r");
      this.handles.set(file, h);
    }
    return h;
  }

  /** `count` elements of `e` starting at element `first`, as f32. */
  async read(e: SafetensorsEntry, first: number, count: number): Promise<Float32Array> {
    const width = DTYPE_BYTES[e.dtype];
    // A fresh ArrayBuffer (not Buffer's pool) keeps the typed-array views below aligned.
    const buf = new Uint8Array(count * width);
    const fh = await this.handle(e.file);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, e.start + first * width + got);
      if (bytesRead === 0) throw new ConfigError(`unexpected end of file reading ${e.name}`, e.file);
      got += bytesRead;
    }
    if (e.dtype === "F32") return new Float32Array(buf.buffer, buf.byteOffset, count).slice();
    const halves = new Uint16Array(buf.buffer, buf.byteOffset, count);
    const out = new Float32Array(count);
    if (e.dtype === "F16") decodeF16(halves, out);
    else decodeBf16(halves, out);
    return out;
  }

  async close(): Promise<void> {
    const hs = await Promise.allSettled(this.handles.values());
    await Promise.all(hs.map((h) => (h.status === "fulfilled" ? h.value.close() : undefined)));
    this.handles.clear();
  }
}
