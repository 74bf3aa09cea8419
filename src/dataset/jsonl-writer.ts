/**
 * Fast JSONL output for datasets: lines are assembled as bytes in large chunks (no per-token strings), and
 * chunks go to a sink that honours back-pressure. Lines match Python's
 * `json.dumps(d, separators=(",", ":"), ensure_ascii=False)` for the seed schema.
 */
import type { Writable } from "node:stream";
import { BenchError } from "../errors.ts";
import { AtomicFileStream } from "../util/atomic-write.ts";
import type { LoraRequest } from "./types.ts";

/**
 * Where finished chunks go. `write` resolves only once the sink no longer needs the bytes (the writer reuses
 * its chunk); `close` commits (files are renamed into place only then).
 */
export interface ChunkSink {
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

const CHUNK_BYTES = 1 << 22;
const SMALL_CHUNK = 1 << 16;
const COMMA = 0x2c;
const CLOSE_BRACKET = 0x5d;
/** ASCII of "00".."99": two digits per division. A per-id digit table is slower: random ids miss the cache. */
const PAIRS = new Uint8Array(200);
for (let i = 0; i < 100; i++) {
  PAIRS[2 * i] = 48 + Math.floor(i / 10);
  PAIRS[2 * i + 1] = 48 + (i % 10);
}

/** Python's `os.path.join(dir, name)` for the LoRA path (no doubled separator, empty dir gives the name). */
export function joinLoraPath(dir: string, name: string): string {
  if (dir === "" || dir.endsWith("/")) return dir + name;
  return `${dir}/${name}`;
}

export function loraRequestFor(loraDir: string, taskId: number): LoraRequest {
  return {
    lora_name: `lora_${taskId}`,
    lora_int_id: taskId,
    lora_path: joinLoraPath(loraDir, String(taskId)),
  };
}

function loraJson(l: LoraRequest): string {
  return `,"lora_request":{"lora_name":${JSON.stringify(l.lora_name)},"lora_int_id":${l.lora_int_id},"lora_path":${JSON.stringify(l.lora_path)}}`;
}

function digitCount(v: number): number {
  if (v < 10) return 1;
  if (v < 100) return 2;
  if (v < 1000) return 3;
  if (v < 10000) return 4;
  if (v < 100000) return 5;
  if (v < 1000000) return 6;
  if (v < 10000000) return 7;
  if (v < 100000000) return 8;
  return v < 1000000000 ? 9 : 10;
}

const SPACE = 0x20;

/**
 * `id,` for each id (`id, ` when `spaced`, Python's default `json.dumps` separator), straight into the chunk;
 * returns the new position. Ids are non-negative int32.
 */
export function writeIdList(
  buf: Uint8Array,
  pos: number,
  ids: Int32Array,
  len: number,
  spaced = false,
): number {
  let p = pos;
  const sep = spaced ? 2 : 1;
  for (let i = 0; i < len; i++) {
    let v = ids[i]!;
    const digits = digitCount(v);
    let q = p + digits;
    buf[q] = COMMA;
    if (spaced) buf[q + 1] = SPACE;
    while (v >= 100) {
      const r = v % 100;
      v = (v - r) / 100;
      q -= 2;
      buf[q] = PAIRS[2 * r]!;
      buf[q + 1] = PAIRS[2 * r + 1]!;
    }
    if (v >= 10) {
      buf[q - 2] = PAIRS[2 * v]!;
      buf[q - 1] = PAIRS[2 * v + 1]!;
    } else {
      buf[q - 1] = 48 + v;
    }
    p += digits + sep;
  }
  return p;
}

/** Every generated length, known before the first request is written (the 0.17 document's metadata needs them). */
export interface DatasetLengths {
  isl: ArrayLike<number>;
  osl: ArrayLike<number>;
}

/**
 * What generators write requests through: JSONL lines (this class), or 0.17's `{metadata, samples}` document
 * (`WorkloadDocumentWriter`). `index` is the request's position (the JSONL `task_id`); `loraTaskId` the LoRA
 * task id it carries (-1: none), which only the document records.
 */
export class JsonlWriter {
  protected chunk: Buffer;
  protected pos = 0;
  lines = 0;
  bytes = 0;

  constructor(
    protected readonly sink: ChunkSink,
    protected readonly chunkBytes = CHUNK_BYTES,
  ) {
    this.chunk = Buffer.allocUnsafe(chunkBytes);
  }

  /** Called once by every generator before its first request. JSONL needs nothing up front. */
  async begin(_lengths: DatasetLengths): Promise<void> {}

  protected async ensure(room: number): Promise<void> {
    if (this.chunkBytes - this.pos >= room && this.chunk.length - this.pos >= room) return;
    await this.flush();
    if (this.chunk.length < room) this.chunk = Buffer.allocUnsafe(room);
  }

  protected ascii(s: string): void {
    this.pos += this.chunk.write(s, this.pos, "latin1");
  }

  /** `{"task_id":i,"input_ids":[...],"output_tokens":n[,"lora_request":{...}]}` */
  async writeIds(
    taskId: number,
    ids: Int32Array,
    len: number,
    outputTokens: number,
    lora?: LoraRequest,
    _loraTaskId = -1,
  ): Promise<void> {
    const tail = `"output_tokens":${outputTokens}${lora ? loraJson(lora) : ""}}\n`;
    await this.ensure(64 + len * 11 + Buffer.byteLength(tail));
    const start = this.pos;
    this.ascii(`{"task_id":${taskId},"input_ids":[`);
    const buf = this.chunk;
    let p = writeIdList(buf, this.pos, ids, len);
    if (len > 0) p--; // drop the trailing comma
    buf[p++] = CLOSE_BRACKET;
    buf[p++] = COMMA;
    this.pos = p;
    this.pos += buf.write(tail, this.pos, "utf8");
    this.bytes += this.pos - start;
    this.lines++;
  }

  /** `{"task_id":i,"prompt":"...","output_tokens":n[,"lora_request":{...}]}` */
  async writePrompt(
    taskId: number,
    prompt: string,
    outputTokens: number,
    lora?: LoraRequest,
    _loraTaskId = -1,
  ): Promise<void> {
    const line = `{"task_id":${taskId},"prompt":${JSON.stringify(prompt)},"output_tokens":${outputTokens}${lora ? loraJson(lora) : ""}}\n`;
    const size = Buffer.byteLength(line);
    await this.ensure(size);
    this.pos += this.chunk.write(line, this.pos, "utf8");
    this.bytes += size;
    this.lines++;
  }

  async flush(): Promise<void> {
    if (this.pos === 0) return;
    // Node streams resolve writes under their high-water mark before the bytes are out: such small chunks are
    // copied, so reusing the chunk cannot corrupt them.
    const full =
      this.pos < SMALL_CHUNK
        ? Buffer.from(this.chunk.subarray(0, this.pos))
        : this.chunk.subarray(0, this.pos);
    this.pos = 0;
    await this.sink.write(full);
  }

  async close(): Promise<void> {
    await this.flush();
    await this.sink.close();
  }

  async abort(): Promise<void> {
    await this.sink.abort();
  }
}

/**
 * A file that appears under its name only when complete. `AtomicFileStream.write` waits for `drain` whenever
 * the stream buffers more than its 16 KiB mark, which a whole chunk always does, so the bytes are written
 * when it resolves.
 */
export async function fileSink(path: string): Promise<ChunkSink> {
  const f = await AtomicFileStream.open(path);
  return { write: (c) => f.write(c), close: () => f.commit(), abort: () => f.abort() };
}

/** A reader that went away (`| head`) is not an internal error: say so in one line. */
function closedError(err: Error): Error {
  if (
    (err as NodeJS.ErrnoException).code === "EPIPE" ||
    (err as NodeJS.ErrnoException).code === "ERR_STREAM_DESTROYED"
  ) {
    return new BenchError("the output stream was closed before the dataset was complete", { cause: err });
  }
  return err;
}

/** stdout (or any Writable that must stay open): each write waits for its callback; never ends the stream. */
export function streamSink(stream: Writable): ChunkSink {
  let failed: Error | undefined;
  const onError = (err: Error) => {
    failed = err;
  };
  stream.on("error", onError);
  return {
    async write(c) {
      if (failed) throw closedError(failed);
      await new Promise<void>((resolve, reject) => {
        stream.write(c, (err) => (err ? reject(closedError(err)) : resolve()));
      });
    },
    async close() {
      stream.off("error", onError);
      if (failed) throw failed;
    },
    async abort() {
      stream.off("error", onError);
    },
  };
}

/** Collects everything in memory (tests and small outputs). */
export function memorySink(): ChunkSink & { text(): string } {
  const parts: Buffer[] = [];
  return {
    async write(c) {
      parts.push(Buffer.from(c));
    },
    async close() {},
    async abort() {},
    text: () => Buffer.concat(parts).toString("utf8"),
  };
}
