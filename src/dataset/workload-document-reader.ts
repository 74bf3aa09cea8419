/**
 * Reading a dataset file of either kind: JSONL (one request per line), or trtllm-bench 0.17's
 * `{"metadata": {...}, "samples": [...]}` document (workload-document.ts), told apart by the first key of the
 * first JSON object. A document may be one multi-gigabyte line, so it is never read whole: a byte scanner splits
 * the `samples` list into its elements (tracking strings, escapes and nesting only), each element is
 * `JSON.parse`d on its own and turned into the JSONL request `{task_id: <index>, input_ids, output_tokens}`.
 * The scanner only finds element boundaries; JSON.parse validates every element (and the metadata).
 */
import type { Readable } from "node:stream";
import { DatasetError } from "../errors.ts";
import { type LineBatch, lineBatchesOf, openInput } from "./line-stream.ts";

/** A document sample as the reader sees it: where it starts, how to name its fields, or why it is unusable. */
export interface SampleOrigin {
  line: number;
  /** Prefixed to field names in messages, e.g. `samples[3].`. */
  prefix: string;
  issue?: { field: string; reason: string } | undefined;
}

/** JSONL lines, or (for a document) one converted request text per sample with its origin. */
export interface SourceBatch extends LineBatch {
  samples?: SampleOrigin[];
}

/** One sample's JSON text may not exceed this (a V8 string holds ~512 MiB; 2^24 ids need ~130 MB). */
export const MAX_SAMPLE_BYTES = 256 * 1024 * 1024;
/** Top-level values other than `samples` (the metadata) are small; larger ones are refused. */
const MAX_OTHER_BYTES = 16 * 1024 * 1024;
/** Bytes looked at to decide the format before falling back to JSONL. */
const SNIFF_BYTES = 64 * 1024;
const DOCUMENT_KEYS = new Set(["metadata", "samples"]);

/** Reads `path` ("-": stdin) as JSONL or as a 0.17 document, whichever it is. */
export async function* readDatasetSource(
  path: string,
  opts: { chunkBytes?: number; maxLineBytes?: number | undefined } = {},
): AsyncGenerator<SourceBatch, void, undefined> {
  const input: Readable = openInput(path, opts.chunkBytes);
  const it = (input as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let kind: "jsonl" | "document" | undefined;
  let size = 0;
  while (kind === undefined) {
    const next = await it.next();
    if (next.done) break;
    const buf = typeof next.value === "string" ? Buffer.from(next.value) : next.value;
    head.push(buf);
    size += buf.length;
    kind = sniff(Buffer.concat(head), size >= SNIFF_BYTES);
  }
  const rest: AsyncIterable<Buffer> = {
    async *[Symbol.asyncIterator]() {
      try {
        yield* head;
        for (let n = await it.next(); !n.done; n = await it.next()) {
          yield typeof n.value === "string" ? Buffer.from(n.value) : n.value;
        }
      } finally {
        // A reader that stops early (--num_requests) closes the file here.
        await it.return?.();
      }
    },
  };
  if (kind === "document") yield* documentBatches(path, rest);
  else yield* lineBatchesOf(rest, path, opts.maxLineBytes);
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/** "document" when the first object's first key is `metadata` or `samples`; undefined until that is known. */
export function sniff(buf: Buffer, final: boolean): "jsonl" | "document" | undefined {
  let i = buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
  while (i < buf.length && WS.has(buf[i]!)) i++;
  if (i >= buf.length) return final ? "jsonl" : undefined;
  if (buf[i] !== 0x7b) return "jsonl";
  i++;
  while (i < buf.length && WS.has(buf[i]!)) i++;
  if (i >= buf.length) return final ? "jsonl" : undefined;
  if (buf[i] !== 0x22) return "jsonl";
  const end = buf.indexOf(0x22, i + 1);
  if (end === -1) return final ? "jsonl" : undefined;
  return DOCUMENT_KEYS.has(buf.toString("latin1", i + 1, end)) ? "document" : "jsonl";
}

/** The JSONL request a 0.17 sample stands for (its `task_id` is gptManagerBenchmark's LoRA task: not an id). */
export function sampleToRequest(
  text: string,
  index: number,
): { text?: string; issue?: SampleOrigin["issue"] } {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (err) {
    return { issue: { field: "(sample)", reason: `not valid JSON (${(err as Error).message})` } };
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) {
    return { issue: { field: "(sample)", reason: "expected a JSON object" } };
  }
  const s = o as Record<string, unknown>;
  const out = s["output_len"];
  if (!Number.isSafeInteger(out) || (out as number) <= 0) {
    const got = out === undefined ? "nothing" : JSON.stringify(out);
    return { issue: { field: "output_len", reason: `must be a positive integer, got ${got}` } };
  }
  const ids = s["input_ids"];
  const inputLen = s["input_len"];
  if (Array.isArray(ids) && inputLen !== undefined && inputLen !== ids.length) {
    return {
      issue: {
        field: "input_len",
        reason: `${JSON.stringify(inputLen)} does not match the ${ids.length} input_ids`,
      },
    };
  }
  const req: Record<string, unknown> = { task_id: index, output_tokens: out };
  if (ids !== undefined) req["input_ids"] = ids;
  if (s["prompt"] !== undefined) req["prompt"] = s["prompt"];
  return { text: JSON.stringify(req) };
}

enum St {
  Open,
  KeyOrClose,
  Key,
  Colon,
  SamplesOpen,
  Element,
  ElementNext,
  Value,
  Next,
  End,
}

const OPEN_OBJ = 0x7b;
const CLOSE_OBJ = 0x7d;
const OPEN_ARR = 0x5b;
const CLOSE_ARR = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const NL = 0x0a;

/** Collects one JSON value's bytes across chunks: containers by nesting, strings to their closing quote. */
class ValueCapture {
  pieces: Buffer[] = [];
  size = 0;
  depth = 0;
  inString = false;
  escape = false;
  scalar = false;
  constructor(readonly limit: number) {}
  reset(): void {
    this.pieces = [];
    this.size = 0;
    this.depth = 0;
    this.inString = false;
    this.escape = false;
    this.scalar = false;
  }
  /** Scans `buf` from `start`; returns the index just past the value's end, or -1 when it goes on. */
  scan(buf: Buffer, start: number, first: boolean): number {
    let i = start;
    if (first) {
      const c = buf[i]!;
      if (c === OPEN_OBJ || c === OPEN_ARR) this.depth = 1;
      else if (c === QUOTE) this.inString = true;
      else this.scalar = true;
      i++;
    }
    for (; i < buf.length; i++) {
      const b = buf[i]!;
      if (this.scalar) {
        if (b === COMMA || b === CLOSE_ARR || b === CLOSE_OBJ || WS.has(b)) return this.keep(buf, start, i);
        continue;
      }
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (b === BACKSLASH) this.escape = true;
        else if (b === QUOTE) {
          this.inString = false;
          if (this.depth === 0) return this.keep(buf, start, i + 1);
        }
        continue;
      }
      if (b === QUOTE) this.inString = true;
      else if (b === OPEN_OBJ || b === OPEN_ARR) this.depth++;
      else if ((b === CLOSE_OBJ || b === CLOSE_ARR) && --this.depth === 0)
        return this.keep(buf, start, i + 1);
    }
    this.keep(buf, start, buf.length);
    return -1;
  }
  private keep(buf: Buffer, start: number, end: number): number {
    this.size += end - start;
    if (this.size > this.limit) throw new RangeError("too large");
    this.pieces.push(buf.subarray(start, end));
    return end;
  }
  text(): string {
    return Buffer.concat(this.pieces, this.size).toString("utf8");
  }
}

/** The `samples` of a document, as converted requests, one batch per input chunk. */
async function* documentBatches(path: string, input: AsyncIterable<Buffer>): AsyncGenerator<SourceBatch> {
  let st = St.Open;
  let line = 1;
  let key = "";
  let sawSamples = false;
  let afterComma = false;
  let index = 0;
  let capturing = false;
  let startLine = 1;
  const value = new ValueCapture(MAX_OTHER_BYTES);
  const sample = new ValueCapture(MAX_SAMPLE_BYTES);
  const keyCap = new ValueCapture(4096);
  const fail = (reason: string): never => {
    throw new DatasetError([{ file: path, line, field: "(document)", reason }]);
  };
  let first = true;
  for await (const buf of input) {
    const lines: string[] = [];
    const samples: SampleOrigin[] = [];
    // A finished value: a sample becomes a request, the metadata is checked, anything else is skipped.
    const finish = () => {
      if (st === St.Key) {
        try {
          key = JSON.parse(keyCap.text()) as string;
        } catch {
          fail("expected a key");
        }
        st = St.Colon;
      } else if (st === St.Element) {
        const r = sampleToRequest(sample.text(), index);
        samples.push({ line: startLine, prefix: `samples[${index}].`, issue: r.issue });
        lines.push(r.text ?? "");
        index++;
        st = St.ElementNext;
      } else {
        if (key === "metadata") {
          let meta: unknown;
          try {
            meta = JSON.parse(value.text());
          } catch (err) {
            fail(`metadata is not valid JSON (${(err as Error).message})`);
          }
          if (typeof meta !== "object" || meta === null || Array.isArray(meta))
            fail("metadata must be a JSON object");
        }
        st = St.Next;
      }
    };
    // Scans the current value from i (its first byte when `begin`); false when it goes on in the next chunk.
    const capture = (begin: boolean): boolean => {
      const cap = st === St.Element ? sample : st === St.Key ? keyCap : value;
      let end: number;
      try {
        end = cap.scan(buf, i, begin);
      } catch {
        return fail(
          `${st === St.Element ? `samples[${index}]` : st === St.Key ? "a key" : `"${key}"`} is larger than ${cap.limit} bytes`,
        );
      }
      const stop = end === -1 ? buf.length : end;
      for (let j = i; j < stop; j++) if (buf[j] === NL) line++;
      i = stop;
      capturing = end === -1;
      if (!capturing) finish();
      return !capturing;
    };
    let i = 0;
    if (first && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) i = 3;
    first = false;
    if (capturing) capture(false);
    while (i < buf.length) {
      const b = buf[i]!;
      if (WS.has(b)) {
        if (b === NL) line++;
        i++;
        continue;
      }
      switch (st as St) {
        case St.Open:
          if (b !== OPEN_OBJ) fail("expected '{'");
          st = St.KeyOrClose;
          i++;
          break;
        case St.KeyOrClose:
          if (b === CLOSE_OBJ && !afterComma) {
            st = St.End;
            i++;
            break;
          }
          if (b !== QUOTE) fail("expected a key");
          st = St.Key;
          keyCap.reset();
          capture(true);
          break;
        case St.Colon:
          if (b !== COLON) fail(`expected ':' after "${key}"`);
          if (key === "samples") {
            if (sawSamples) fail('"samples" appears twice');
            sawSamples = true;
            st = St.SamplesOpen;
          } else st = St.Value;
          i++;
          break;
        case St.SamplesOpen:
          if (b !== OPEN_ARR) fail('"samples" must be a list');
          st = St.Element;
          afterComma = false;
          i++;
          break;
        case St.Element:
          if (b === CLOSE_ARR && !afterComma) {
            st = St.Next;
            i++;
            break;
          }
          startLine = line;
          sample.reset();
          capture(true);
          break;
        case St.ElementNext:
          if (b === COMMA) {
            st = St.Element;
            afterComma = true;
          } else if (b === CLOSE_ARR) st = St.Next;
          else fail(`expected ',' or ']' after samples[${index - 1}]`);
          i++;
          break;
        case St.Value:
          value.reset();
          capture(true);
          break;
        case St.Next:
          if (b === COMMA) {
            st = St.KeyOrClose;
            afterComma = true;
          } else if (b === CLOSE_OBJ) st = St.End;
          else fail("expected ',' or '}'");
          i++;
          break;
        case St.End:
          fail("unexpected data after the document");
      }
      if (st !== St.KeyOrClose && st !== St.Element) afterComma = false;
    }
    if (lines.length > 0) yield { firstLine: samples[0]!.line, lines, samples };
  }
  if (capturing || st !== St.End) fail("the document ends early");
  if (!sawSamples) fail('no "samples" list');
}
