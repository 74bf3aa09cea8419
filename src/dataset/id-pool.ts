/**
 * Token ids of many requests packed into shared Int32Array chunks. A typed array per request costs about
 * 200 bytes of V8 bookkeeping, more than the ids of a short prompt: a million-line dataset held ~300 MB of
 * requests that way, ~110 MB packed.
 */
import type { DatasetRequest, LoraRequest } from "./types.ts";

/** Ids per chunk (1 MiB): small enough that a streaming reader's unused tail stays small. */
const CHUNK_IDS = 256 * 1024;

export class IdPool {
  private chunk = new Int32Array(CHUNK_IDS);
  private used = 0;

  /** Room for `n` ids: a chunk and the offset to write them at. A request larger than a chunk gets its own. */
  reserve(n: number): { chunk: Int32Array; offset: number } {
    if (n > CHUNK_IDS) return { chunk: new Int32Array(n), offset: 0 };
    if (this.used + n > this.chunk.length) {
      this.chunk = new Int32Array(CHUNK_IDS);
      this.used = 0;
    }
    const at = { chunk: this.chunk, offset: this.used };
    this.used += n;
    return at;
  }

  /** Gives back the last reservation (a line found bad after its ids were written). */
  release(reserved: { chunk: Int32Array; offset: number }): void {
    if (reserved.chunk === this.chunk) this.used = reserved.offset;
  }
}

/** A request whose ids live in a pool chunk; `inputIds` is a view made on each read (no copy). */
export class PackedRequest implements DatasetRequest {
  constructor(
    readonly taskId: string | number,
    private readonly chunk: Int32Array,
    private readonly offset: number,
    /** Number of input ids (ISL) without making a view. */
    readonly inputLength: number,
    readonly prompt: string | undefined,
    readonly outputTokens: number,
    readonly line: number,
    readonly loraRequest: LoraRequest | undefined,
  ) {}

  get inputIds(): Int32Array {
    return this.chunk.subarray(this.offset, this.offset + this.inputLength);
  }
}
