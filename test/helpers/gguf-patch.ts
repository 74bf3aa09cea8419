/** Rewrites u32 metadata values of a GGUF file in place: the way tests make a file llama.cpp would abort on. */
import { readFile, writeFile } from "node:fs/promises";

const GGUF_TYPE_UINT32 = 4;

export async function patchGgufU32(path: string, values: Record<string, number>): Promise<void> {
  const buf = await readFile(path);
  for (const [key, value] of Object.entries(values)) {
    const name = Buffer.from(key);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(name.length));
    const at = buf.indexOf(Buffer.concat([len, name]));
    if (at < 0) throw new Error(`${path}: no metadata key ${key}`);
    const typeAt = at + 8 + name.length;
    if (buf.readUInt32LE(typeAt) !== GGUF_TYPE_UINT32) throw new Error(`${key} is not a u32`);
    buf.writeUInt32LE(value, typeAt + 4);
  }
  await writeFile(path, buf);
}
