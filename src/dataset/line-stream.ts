import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import { DatasetError } from "../errors.ts";

/** A run of consecutive lines from one read chunk; `firstLine` is the 1-based number of `lines[0]`. */
export interface LineBatch {
  firstLine: number;
  lines: string[];
}

const NL = 0x0a;
const CR = 0x0d;

/**
 * The longest line read (bytes, newline excluded): 32 MiB holds a prompt of several million token ids. Past it
 * a line is refused before it is joined or parsed, so a corrupt or hostile file (a 600 MB line) costs bounded
 * memory and gets a clear error instead of V8's string-length or heap limits.
 */
export const MAX_LINE_BYTES = 32 * 1024 * 1024;

function tooLong(path: string, line: number, limit: number): DatasetError {
  return new DatasetError([
    {
      file: path,
      line,
      field: "(line)",
      reason: `longer than ${limit} bytes (${formatBytes(limit)}), the longest line llm-bench reads`,
    },
  ]);
}

function formatBytes(n: number): string {
  return n >= 1 << 20
    ? `${+(n / (1 << 20)).toFixed(1)} MiB`
    : n >= 1024
      ? `${+(n / 1024).toFixed(1)} KiB`
      : `${n} B`;
}

/**
 * Splits a file (or stdin for "-") into lines without holding more than one read chunk plus one partial line.
 * Lines come in per-chunk batches: one await per chunk instead of one per line keeps a million-line file from
 * paying a million microtask hops, while each batch is small enough not to stall the event loop.
 * Handles CRLF, a UTF-8 BOM and a missing final newline; empty lines are kept so numbering stays exact.
 */
export async function* readLineBatches(
  path: string,
  opts: { chunkBytes?: number | undefined; maxLineBytes?: number | undefined } = {},
): AsyncGenerator<LineBatch, void, undefined> {
  yield* lineBatchesOf(openInput(path, opts.chunkBytes), path, opts.maxLineBytes ?? MAX_LINE_BYTES);
}

/** The file's bytes, or stdin for "-". */
export function openInput(path: string, chunkBytes = 1 << 20): Readable {
  return path === "-" ? process.stdin : createReadStream(path, { highWaterMark: chunkBytes });
}

/**
 * `readLineBatches` over any byte stream (a file's, or one whose first chunks were already read); `path` names
 * it in errors. A line over `maxLine` throws, and leaving the loop closes the stream: the rest is never read.
 */
export async function* lineBatchesOf(
  input: AsyncIterable<Buffer | string>,
  path: string,
  maxLine = MAX_LINE_BYTES,
): AsyncGenerator<LineBatch, void, undefined> {
  // Pieces of a line that spans chunks; joined once when its newline arrives, so a huge line costs O(size).
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let lineNo = 1;
  let first = true;
  const decode = (buf: Buffer, start: number, end: number): string => {
    if (end > start && buf[end - 1] === CR) end--;
    let text = buf.toString("utf8", start, end);
    if (first) {
      first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    return text;
  };
  const fail = (extra: number): never => {
    throw tooLong(path, lineNo + extra, maxLine);
  };
  for await (const chunk of input) {
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    const lines: string[] = [];
    const batchStart = lineNo;
    let pos = 0;
    let nl = buf.indexOf(NL, pos);
    if (nl !== -1 && pending.length > 0) {
      if (pendingBytes + nl > maxLine) fail(0);
      pending.push(buf.subarray(0, nl));
      const whole = Buffer.concat(pending);
      pending = [];
      pendingBytes = 0;
      lines.push(decode(whole, 0, whole.length));
      pos = nl + 1;
      nl = buf.indexOf(NL, pos);
    }
    while (nl !== -1) {
      if (nl - pos > maxLine) fail(lines.length);
      lines.push(decode(buf, pos, nl));
      pos = nl + 1;
      nl = buf.indexOf(NL, pos);
    }
    if (pos < buf.length) {
      pendingBytes += buf.length - pos;
      if (pendingBytes > maxLine) fail(lines.length);
      pending.push(buf.subarray(pos));
    }
    if (lines.length > 0) {
      lineNo += lines.length;
      yield { firstLine: batchStart, lines };
    }
  }
  if (pending.length > 0) {
    const whole = Buffer.concat(pending);
    yield { firstLine: lineNo, lines: [decode(whole, 0, whole.length)] };
  }
}
