import { once } from "node:events";
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

function tmpName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
}

/** Write a whole file through a temporary name and a rename, so a crash never leaves half a file. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tmpName(path);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * A streamed file that only appears under its final name on `commit()`; `abort()` removes it.
 * `write` respects back-pressure so large datasets never pile up in memory.
 */
export class AtomicFileStream {
  private readonly tmp: string;
  private readonly stream: WriteStream;
  private constructor(readonly path: string) {
    this.tmp = tmpName(path);
    this.stream = createWriteStream(this.tmp);
  }
  static async open(path: string): Promise<AtomicFileStream> {
    await mkdir(dirname(path), { recursive: true });
    const s = new AtomicFileStream(path);
    await once(s.stream, "open");
    return s;
  }
  async write(chunk: string | Uint8Array): Promise<void> {
    if (!this.stream.write(chunk)) await once(this.stream, "drain");
  }
  async commit(): Promise<void> {
    this.stream.end();
    await once(this.stream, "close");
    await rename(this.tmp, this.path);
  }
  async abort(): Promise<void> {
    // Writes still queued fail with ERR_STREAM_DESTROYED once destroyed; that is expected here, not a crash.
    this.stream.on("error", () => undefined);
    this.stream.destroy();
    await rm(this.tmp, { force: true });
  }
}
