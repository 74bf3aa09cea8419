/**
 * The records of a run, stored by column. A plain record object cost about 400 bytes (each ns timestamp a boxed
 * double, two small arrays of chunk figures, the id string): a million completions held ~400 MB, and with V8's
 * heap growth the run peaked at 1.28 GB (docs/performance.md). Here the numbers live in typed arrays grown by
 * doubling (~90 bytes a request with four chunks), rare or large fields (errors, ids, texts) in sparse maps, and
 * each record is a small view (`TableRecord`: two fields) whose getters read its row, so every consumer still sees
 * a `RequestRecord`.
 *
 * The table also decides which returned texts are kept for the client-side token count after the run
 * (src/engine/openai/client-count.ts): a text is only needed where the server gave no count (it is then `n`), for
 * `--output_json` / `--request_json` (every output's ids), and for the cross-check of the server's counts, for
 * which a uniform sample of CROSS_CHECK_SAMPLE requests is enough (reservoir sampling, O(1) per request, seeded).
 * Counting every text cost ~10 µs per request even for 4-token outputs (two thirds of the time after a
 * million-request run) and kept every output's text in memory until the end.
 */

import type { DatasetRequest } from "../dataset/types.ts";
import type { GenerationResult } from "../engine/types.ts";
import type { RequestRecord } from "../metrics/record.ts";
import { mulberry32 } from "../util/mulberry32.ts";

/** Requests the server counted whose text is also counted by the client, at most (all of them when fewer). */
export const CROSS_CHECK_SAMPLE = 1000;

/**
 * Absent count (counts are never negative). Counts a server sends are any safe integer: they are kept in Float64
 * columns; Int32 only holds what the dataset or the load generator bounds.
 */
const NONE = -1;

/** 2^22: rows are packed under it in inDatasetOrder's sort keys (dataset indexes are below 2^31). */
const ROW_KEY = 2 ** 22;

export interface TableOptions {
  /** Keep every returned text (each output's ids are written after the run). */
  keepAllTexts: boolean;
  /** Seed of the cross-check sample (fixed: the same completions give the same sample). */
  seed?: number | undefined;
}

/** The values a record takes from its request and the load generator. */
export interface RowInput {
  datasetIndex: number;
  numInputTokens: number;
  scheduledNs: number;
  startNs: number;
  streaming: boolean;
  error: string | undefined;
  outputIds: number[] | undefined;
  /** The chunk times the load's sink saw (with `--request_json`), used when the engine keeps no chunk log. */
  sinkTimesNs: number[] | undefined;
  /** Closed loops: the end of the request whose slot this one took (RequestRecord.slotFreedNs). */
  slotFreedNs?: number | undefined;
}

export class RecordTable {
  private cap = 0;
  private rows = 0;
  /** @internal */ datasetIndex = new Int32Array(0);
  /** @internal */ numInputTokens = new Int32Array(0);
  /** @internal */ numOutputTokens = new Float64Array(0);
  /** @internal */ requestedOutputTokens = new Int32Array(0);
  /** @internal */ decodeIterations = new Int32Array(0);
  /** @internal */ serverOutputTokens = new Float64Array(0);
  /** @internal */ serverInputTokens = new Float64Array(0);
  /** @internal */ clientOutputTokens = new Float64Array(0);
  /** @internal */ draftTokens = new Int32Array(0);
  /** @internal */ acceptedDraftTokens = new Int32Array(0);
  /** @internal */ scheduledNs = new Float64Array(0);
  /** @internal */ startNs = new Float64Array(0);
  /** @internal */ sentNs = new Float64Array(0);
  /** @internal */ slotFreedNs = new Float64Array(0);
  /** @internal */ firstByteNs = new Float64Array(0);
  /** @internal */ firstTokenNs = new Float64Array(0);
  /** @internal */ endNs = new Float64Array(0);
  /** Where a row's chunk times start in `chunkTimes`, and how many (NONE: no chunk times). */
  private chunkStart = new Float64Array(0);
  private chunkCount = new Int32Array(0);
  /** 1: the row's chunk token counts are in `chunkTokens`, aligned with its chunk times. */
  private hasChunkTokens = new Uint8Array(0);
  private chunkTimes = new Float64Array(0);
  private chunkTokens: Float64Array | undefined;
  private chunksUsed = 0;
  private readonly errors = new Map<number, string>();
  private readonly outputIds = new Map<number, number[]>();
  private readonly texts = new Map<number, string>();
  /** Chunk token counts whose length differs from the chunk times' (no backend sends that; kept as given). */
  private readonly oddChunkTokens = new Map<number, number[]>();
  /** Rows whose text is in the cross-check sample, and how many sample candidates were seen. */
  private readonly sample: number[] = [];
  private candidates = 0;
  private random: () => number;

  constructor(
    private readonly requests: readonly DatasetRequest[],
    private readonly opts: TableOptions,
  ) {
    this.random = mulberry32(opts.seed ?? 0);
  }

  get length(): number {
    return this.rows;
  }

  /** Stores one finished request; returns its record. */
  add(input: RowInput, result: GenerationResult): TableRecord {
    if (this.rows === this.cap) this.grow(Math.max(1024, this.cap * 2));
    const i = this.rows++;
    const req = this.requests[input.datasetIndex]!;
    this.datasetIndex[i] = input.datasetIndex;
    this.numInputTokens[i] = input.numInputTokens;
    // The server's own count wins over the client's (both are kept).
    this.numOutputTokens[i] = result.serverOutputTokens ?? result.outputIds.length;
    this.requestedOutputTokens[i] = req.outputTokens;
    this.decodeIterations[i] = result.decodeIterations;
    this.serverOutputTokens[i] = result.serverOutputTokens ?? NONE;
    this.serverInputTokens[i] = result.serverInputTokens ?? NONE;
    this.clientOutputTokens[i] = result.clientOutputTokens ?? NONE;
    this.draftTokens[i] = result.draftTokens ?? NONE;
    this.acceptedDraftTokens[i] = result.acceptedDraftTokens ?? NONE;
    this.scheduledNs[i] = input.scheduledNs;
    this.startNs[i] = input.startNs;
    this.sentNs[i] = result.sentNs ?? Number.NaN;
    this.slotFreedNs[i] = input.slotFreedNs ?? Number.NaN;
    this.firstByteNs[i] = result.firstByteNs ?? Number.NaN;
    // Without streaming the client only sees the end of the request: no first-token time exists.
    this.firstTokenNs[i] = input.streaming && result.firstTokenNs !== undefined ? result.firstTokenNs : -1;
    this.endNs[i] = result.endNs;
    if (input.error !== undefined) this.errors.set(i, input.error);
    if (input.outputIds) this.outputIds.set(i, input.outputIds);
    // The engine's chunk log when it keeps one; else what the sink saw (a failed HTTP request logs none).
    this.addChunks(i, result.chunkTimesNs ?? input.sinkTimesNs, result.chunkTokens);
    if (result.outputText !== undefined) this.keepText(i, result, input.error);
    return new TableRecord(this, i);
  }

  /** The records in dataset order (each dataset request finishes at most once). */
  inDatasetOrder(): TableRecord[] {
    const n = this.requests.length;
    if (this.rows < ROW_KEY && this.rows * 8 < n) {
      // Few completions of a large dataset (a Ctrl-C early in a million-line run): sort them, O(k log k), instead
      // of walking the whole dataset. Key = dataset index · 2^22 + row, exact below 2^53.
      const keys = new Float64Array(this.rows);
      for (let i = 0; i < this.rows; i++) keys[i] = this.datasetIndex[i]! * ROW_KEY + i;
      keys.sort();
      const out: TableRecord[] = [];
      for (const k of keys) out.push(new TableRecord(this, k % ROW_KEY));
      return out;
    }
    const rowOf = new Int32Array(n).fill(NONE);
    for (let i = 0; i < this.rows; i++) rowOf[this.datasetIndex[i]!] = i;
    const out: TableRecord[] = [];
    for (const row of rowOf) if (row !== NONE) out.push(new TableRecord(this, row));
    return out;
  }

  /** Texts held for the client count (the sample plus those that must be counted). */
  get textsHeld(): number {
    return this.texts.size;
  }

  private keepText(i: number, result: GenerationResult, error: string | undefined): void {
    const text = result.outputText!;
    // Failed requests are not counted; ids the server streamed were counted as received.
    if (error !== undefined || result.clientOutputTokens !== undefined) return;
    if (this.opts.keepAllTexts || result.serverOutputTokens === undefined) {
      this.texts.set(i, text);
      return;
    }
    // Algorithm R: the k-th candidate replaces a random member with probability CROSS_CHECK_SAMPLE / k.
    const k = ++this.candidates;
    if (this.sample.length < CROSS_CHECK_SAMPLE) {
      this.sample.push(i);
      this.texts.set(i, text);
      return;
    }
    const j = Math.floor(this.random() * k);
    if (j >= CROSS_CHECK_SAMPLE) return;
    this.texts.delete(this.sample[j]!);
    this.sample[j] = i;
    this.texts.set(i, text);
  }

  private addChunks(i: number, times: number[] | undefined, tokens: number[] | undefined): void {
    if (times === undefined) {
      this.chunkStart[i] = 0;
      this.chunkCount[i] = NONE;
      if (tokens !== undefined) this.oddChunkTokens.set(i, tokens.slice());
      return;
    }
    const k = times.length;
    if (this.chunksUsed + k > this.chunkTimes.length) {
      const size = Math.max(4096, this.chunkTimes.length * 2, this.chunksUsed + k);
      const t = new Float64Array(size);
      t.set(this.chunkTimes.subarray(0, this.chunksUsed));
      this.chunkTimes = t;
      if (this.chunkTokens) {
        const c = new Float64Array(size);
        c.set(this.chunkTokens.subarray(0, this.chunksUsed));
        this.chunkTokens = c;
      }
    }
    const at = this.chunksUsed;
    this.chunkTimes.set(times, at);
    this.chunkStart[i] = at;
    this.chunkCount[i] = k;
    this.hasChunkTokens[i] = 0;
    if (tokens !== undefined) {
      if (tokens.length === k) {
        this.chunkTokens ??= new Float64Array(this.chunkTimes.length);
        this.chunkTokens.set(tokens, at);
        this.hasChunkTokens[i] = 1;
      } else this.oddChunkTokens.set(i, tokens.slice());
    }
    this.chunksUsed += k;
  }

  private grow(cap: number): void {
    const i32 = (a: Int32Array) => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    const f64 = (a: Float64Array) => {
      const b = new Float64Array(cap);
      b.set(a);
      return b;
    };
    this.datasetIndex = i32(this.datasetIndex);
    this.numInputTokens = i32(this.numInputTokens);
    this.numOutputTokens = f64(this.numOutputTokens);
    this.requestedOutputTokens = i32(this.requestedOutputTokens);
    this.decodeIterations = i32(this.decodeIterations);
    this.serverOutputTokens = f64(this.serverOutputTokens);
    this.serverInputTokens = f64(this.serverInputTokens);
    this.clientOutputTokens = f64(this.clientOutputTokens);
    this.draftTokens = i32(this.draftTokens);
    this.acceptedDraftTokens = i32(this.acceptedDraftTokens);
    this.scheduledNs = f64(this.scheduledNs);
    this.startNs = f64(this.startNs);
    this.sentNs = f64(this.sentNs);
    this.slotFreedNs = f64(this.slotFreedNs);
    this.firstByteNs = f64(this.firstByteNs);
    this.firstTokenNs = f64(this.firstTokenNs);
    this.endNs = f64(this.endNs);
    this.chunkStart = f64(this.chunkStart);
    this.chunkCount = i32(this.chunkCount);
    const h = new Uint8Array(cap);
    h.set(this.hasChunkTokens);
    this.hasChunkTokens = h;
    this.cap = cap;
  }

  // Row accessors for TableRecord (one table per run: the views stay small).
  /** @internal */ id(i: number): string {
    return String(this.requests[this.datasetIndex[i]!]!.taskId);
  }
  /** @internal */ error(i: number): string | undefined {
    return this.errors.get(i);
  }
  /** @internal */ ids(i: number): number[] | undefined {
    return this.outputIds.get(i);
  }
  /** @internal */ setIds(i: number, ids: number[] | undefined): void {
    if (ids === undefined) this.outputIds.delete(i);
    else this.outputIds.set(i, ids);
  }
  /** @internal */ text(i: number): string | undefined {
    return this.texts.get(i);
  }
  /** @internal */ setText(i: number, text: string | undefined): void {
    if (text === undefined) this.texts.delete(i);
    else this.texts.set(i, text);
  }
  /** @internal */ chunkTimesOf(i: number): number[] | undefined {
    const k = this.chunkCount[i]!;
    if (k === NONE) return undefined;
    const at = this.chunkStart[i]!;
    const out = new Array<number>(k);
    for (let j = 0; j < k; j++) out[j] = this.chunkTimes[at + j]!;
    return out;
  }
  /** @internal */ chunkTokensOf(i: number): number[] | undefined {
    const odd = this.oddChunkTokens.get(i);
    if (odd !== undefined || this.hasChunkTokens[i] !== 1) return odd;
    const k = this.chunkCount[i]!;
    const at = this.chunkStart[i]!;
    const out = new Array<number>(k);
    for (let j = 0; j < k; j++) out[j] = this.chunkTokens![at + j]!;
    return out;
  }
}

function optional(v: number): number | undefined {
  return v === NONE ? undefined : v;
}

function optionalTime(v: number): number | undefined {
  return Number.isNaN(v) ? undefined : v;
}

/**
 * One row of a RecordTable as a RequestRecord. Each getter reads its own column by name (one shape, so the
 * statistics' loops over a million records stay fast); array fields are copies made on each read.
 */
export class TableRecord implements RequestRecord {
  constructor(
    private readonly table: RecordTable,
    private readonly row: number,
  ) {}
  get id(): string {
    return this.table.id(this.row);
  }
  get numInputTokens(): number {
    return this.table.numInputTokens[this.row]!;
  }
  get numOutputTokens(): number {
    return this.table.numOutputTokens[this.row]!;
  }
  set numOutputTokens(v: number) {
    this.table.numOutputTokens[this.row] = v;
  }
  get requestedOutputTokens(): number {
    return this.table.requestedOutputTokens[this.row]!;
  }
  get decodeIterations(): number {
    return this.table.decodeIterations[this.row]!;
  }
  get scheduledNs(): number {
    return this.table.scheduledNs[this.row]!;
  }
  get startNs(): number {
    return this.table.startNs[this.row]!;
  }
  get firstTokenNs(): number {
    return this.table.firstTokenNs[this.row]!;
  }
  get endNs(): number {
    return this.table.endNs[this.row]!;
  }
  get sentNs(): number | undefined {
    return optionalTime(this.table.sentNs[this.row]!);
  }
  get slotFreedNs(): number | undefined {
    return optionalTime(this.table.slotFreedNs[this.row]!);
  }
  get firstByteNs(): number | undefined {
    return optionalTime(this.table.firstByteNs[this.row]!);
  }
  get error(): string | undefined {
    return this.table.error(this.row);
  }
  get outputIds(): number[] | undefined {
    return this.table.ids(this.row);
  }
  set outputIds(ids: number[] | undefined) {
    this.table.setIds(this.row, ids);
  }
  get draftTokens(): number | undefined {
    return optional(this.table.draftTokens[this.row]!);
  }
  get acceptedDraftTokens(): number | undefined {
    return optional(this.table.acceptedDraftTokens[this.row]!);
  }
  get serverOutputTokens(): number | undefined {
    return optional(this.table.serverOutputTokens[this.row]!);
  }
  get clientOutputTokens(): number | undefined {
    return optional(this.table.clientOutputTokens[this.row]!);
  }
  set clientOutputTokens(v: number | undefined) {
    this.table.clientOutputTokens[this.row] = v ?? NONE;
  }
  get serverInputTokens(): number | undefined {
    return optional(this.table.serverInputTokens[this.row]!);
  }
  get outputText(): string | undefined {
    return this.table.text(this.row);
  }
  set outputText(text: string | undefined) {
    this.table.setText(this.row, text);
  }
  get chunkTimesNs(): number[] | undefined {
    return this.table.chunkTimesOf(this.row);
  }
  get chunkTokens(): number[] | undefined {
    return this.table.chunkTokensOf(this.row);
  }
  /** The plain object (tests, debugging): own enumerable fields, absent ones left out. */
  toJSON(): RequestRecord {
    const r: RequestRecord = {
      id: this.id,
      numInputTokens: this.numInputTokens,
      numOutputTokens: this.numOutputTokens,
      scheduledNs: this.scheduledNs,
      startNs: this.startNs,
      firstTokenNs: this.firstTokenNs,
      endNs: this.endNs,
      decodeIterations: this.decodeIterations,
      requestedOutputTokens: this.requestedOutputTokens,
      error: this.error,
    };
    for (const k of OPTIONAL) {
      const v = this[k];
      if (v !== undefined) (r as unknown as Record<string, unknown>)[k] = v;
    }
    return r;
  }
}

/** Every fact of a RequestRecord is a getter here: a fact added to GenerationResult fails to compile until stored. */
type Unstored = Exclude<keyof RequestRecord, keyof TableRecord>;
const EVERY_FACT_STORED: [Unstored] extends [never] ? true : Unstored = true;
void EVERY_FACT_STORED;

const OPTIONAL = [
  "sentNs",
  "slotFreedNs",
  "firstByteNs",
  "outputIds",
  "draftTokens",
  "acceptedDraftTokens",
  "serverOutputTokens",
  "clientOutputTokens",
  "serverInputTokens",
  "outputText",
  "chunkTimesNs",
  "chunkTokens",
] as const;
