import { DatasetError, type DatasetIssue } from "../errors.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import { describeValue } from "./describe.ts";
import { IdPool, PackedRequest } from "./id-pool.ts";
import { computeDatasetMetadata } from "./stats.ts";
import type { DatasetMetadata, DatasetRequest, LoraRequest } from "./types.ts";
import { readDatasetSource } from "./workload-document-reader.ts";

export interface ReadDatasetOptions {
  /** Tokenizes `prompt` when a line has no `input_ids`; its `totalVocabSize` bounds ids unless `vocabSize` is set. */
  tokenizer?: Tokenizer | undefined;
  /** Ids must lie in [0, vocabSize); without it (and without a tokenizer) only the int32 range is enforced. */
  vocabSize?: number | undefined;
  /** Stop after this many non-empty lines (trtllm-bench's `--num_requests`); 0 or undefined reads them all. */
  numRequests?: number | undefined;
  /** How many issues the error lists before summarising the rest (default 50). */
  maxIssues?: number | undefined;
  /** Longest line accepted, in bytes (default MAX_LINE_BYTES, 32 MiB). */
  maxLineBytes?: number | undefined;
  /**
   * Refuse a task_id seen on an earlier line (default: true for readDataset, whose requests are benchmarked and
   * keyed by id; false for iterateDataset, which would otherwise hold every id and lose its bounded memory).
   */
  uniqueTaskIds?: boolean | undefined;
}

export interface ReadDatasetResult {
  requests: DatasetRequest[];
  metadata: DatasetMetadata;
}

const DEFAULT_MAX_ISSUES = 50;
const INT32_LIMIT = 2 ** 31;
/** Read size: large enough for few syscalls, small enough that one batch of parsed requests stays small. */
const READ_CHUNK_BYTES = 256 * 1024;

/**
 * Reads a whole dataset into memory as compact requests (ids packed in shared Int32Array chunks, the line text
 * dropped) and
 * computes trtllm-bench's dataset statistics. Throws one DatasetError listing every bad line.
 */
export async function readDataset(path: string, opts: ReadDatasetOptions = {}): Promise<ReadDatasetResult> {
  const requests: DatasetRequest[] = [];
  const isl: number[] = [];
  const osl: number[] = [];
  for await (const batch of requestBatches(path, { ...opts, uniqueTaskIds: opts.uniqueTaskIds ?? true })) {
    for (const r of batch) {
      requests.push(r);
      isl.push(r.inputLength);
      osl.push(r.outputTokens);
    }
  }
  if (requests.length === 0) {
    throw new DatasetError([{ file: path, line: 0, field: "(file)", reason: "contains no requests" }]);
  }
  return { requests, metadata: computeDatasetMetadata(path, isl, osl) };
}

/**
 * Streams valid requests one by one. Bad lines are collected rather than thrown at once so the user fixes
 * them all in one go; the DatasetError comes after the last line (valid requests were already yielded).
 */
export async function* iterateDataset(
  path: string,
  opts: ReadDatasetOptions = {},
): AsyncGenerator<DatasetRequest, void, undefined> {
  for await (const batch of requestBatches(path, opts)) yield* batch;
}

/** Valid requests per read chunk: one await per chunk, not per request. */
async function* requestBatches(
  path: string,
  opts: ReadDatasetOptions,
): AsyncGenerator<PackedRequest[], void, undefined> {
  const issues = new IssueCollector(path, opts.maxIssues ?? DEFAULT_MAX_ISSUES);
  const ctx: LineContext = {
    issues,
    tokenizer: opts.tokenizer,
    vocabLimit: opts.vocabSize ?? opts.tokenizer?.totalVocabSize ?? INT32_LIMIT,
    fieldPrefix: "",
    seenIds: opts.uniqueTaskIds ? new Map() : undefined,
    pool: new IdPool(),
  };
  const cap = opts.numRequests && opts.numRequests > 0 ? opts.numRequests : Number.POSITIVE_INFINITY;
  let seen = 0;
  try {
    // JSONL, or trtllm-bench 0.17's {metadata, samples} document (its samples arrive as JSONL requests).
    for await (const batch of readDatasetSource(path, {
      chunkBytes: READ_CHUNK_BYTES,
      maxLineBytes: opts.maxLineBytes,
    })) {
      const out: PackedRequest[] = [];
      let full = false;
      for (let i = 0; i < batch.lines.length; i++) {
        const text = batch.lines[i]!;
        const sample = batch.samples?.[i];
        if (!sample && isBlank(text)) continue;
        if (seen >= cap) {
          full = true;
          break;
        }
        seen++;
        if (sample?.issue) {
          issues.add(sample.line, sample.prefix + sample.issue.field, sample.issue.reason);
          continue;
        }
        ctx.fieldPrefix = sample?.prefix ?? "";
        const req = parseDatasetLine(text, sample?.line ?? batch.firstLine + i, ctx);
        if (req) out.push(req);
      }
      if (out.length > 0) yield out;
      if (full || seen >= cap) break;
    }
  } catch (err) {
    // A line too long to read: reported with the issues found before it.
    if (err instanceof DatasetError) {
      for (const i of err.issues) issues.add(i.line, i.field, i.reason);
      issues.throwIfAny();
    }
    // Only file-system failures become dataset errors; anything else (a tokenizer bug) keeps its own stack.
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code !== "string" || !(err as NodeJS.ErrnoException).syscall) throw err;
    const reason = code === "ENOENT" ? "file not found" : `cannot read (${(err as Error).message})`;
    throw new DatasetError([{ file: path, line: 0, field: "(file)", reason }]);
  }
  issues.throwIfAny();
}

interface LineContext {
  issues: IssueCollector;
  tokenizer: Tokenizer | undefined;
  vocabLimit: number;
  /** Put before field names in messages: `samples[3].` for a document's samples. */
  fieldPrefix: string;
  /** First line of each task_id seen (integer-like strings keyed as numbers: both become the same JSON key). */
  seenIds: Map<string | number, number> | undefined;
  pool: IdPool;
}

const CANONICAL_INT = /^-?(0|[1-9]\d*)$/;

/** `--output_json` and the request records key by String(task_id): 7 and "7" collide, so they count as one id. */
function idKey(id: string | number): string | number {
  if (typeof id === "number" || !CANONICAL_INT.test(id)) return id;
  const n = Number(id);
  return Number.isSafeInteger(n) ? n : id;
}

function isBlank(text: string): boolean {
  // Fast path: a JSON line starts with "{"; only then-unusual lines pay for the trim.
  return text.length === 0 || (text.charCodeAt(0) !== 0x7b && text.trim().length === 0);
}

/**
 * Validates one line by hand (measured ~15× cheaper than zod on 1024-id lines: ~15 µs vs ~230 µs): unknown keys are
 * allowed, `input_ids` (alias `logits`) wins over `prompt`, ids must be integers inside the vocabulary.
 */
function parseDatasetLine(text: string, line: number, ctx: LineContext): PackedRequest | undefined {
  const bad = (field: string, reason: string) => ctx.issues.add(line, ctx.fieldPrefix + field, reason);
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (err) {
    bad("(line)", `not valid JSON (${(err as Error).message})`);
    return undefined;
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) {
    bad("(line)", `expected a JSON object, got ${describe(o)}`);
    return undefined;
  }
  const rec = o as Record<string, unknown>;
  const before = ctx.issues.total;

  const taskId = rec["task_id"];
  if (taskId === undefined) bad("task_id", "required (a string or an integer)");
  else if (typeof taskId !== "string" && !Number.isSafeInteger(taskId)) {
    bad("task_id", `must be a string or an integer, got ${describe(taskId)}`);
  } else if (ctx.seenIds) {
    const key = idKey(taskId as string | number);
    const first = ctx.seenIds.get(key);
    if (first !== undefined) bad("task_id", `${describe(taskId)} duplicates the task_id of line ${first}`);
    else ctx.seenIds.set(key, line);
  }

  const outputTokens = rec["output_tokens"];
  if (outputTokens === undefined) bad("output_tokens", "required (a positive integer)");
  else if (!Number.isSafeInteger(outputTokens) || (outputTokens as number) <= 0) {
    bad("output_tokens", `must be a positive integer, got ${describe(outputTokens)}`);
  }

  const prompt = typeof rec["prompt"] === "string" ? rec["prompt"] : undefined;
  const inputIds = readInputIds(rec, prompt, ctx, bad);
  const loraRequest = readLora(rec["lora_request"], bad);

  if (!inputIds) return undefined;
  if (ctx.issues.total !== before) {
    ctx.pool.release(inputIds);
    return undefined;
  }
  return new PackedRequest(
    taskId as string | number,
    inputIds.chunk,
    inputIds.offset,
    inputIds.length,
    prompt,
    outputTokens as number,
    line,
    loraRequest,
  );
}

/** Where a line's ids were written in the pool. */
interface PooledIds {
  chunk: Int32Array;
  offset: number;
  length: number;
}

type Bad = (field: string, reason: string) => void;

function readInputIds(
  rec: Record<string, unknown>,
  prompt: string | undefined,
  ctx: LineContext,
  bad: Bad,
): PooledIds | undefined {
  // trtllm-bench: data.get("input_ids", data.get("logits")); a null value counts as absent.
  let field = "input_ids";
  let ids = rec["input_ids"];
  if (ids === undefined || ids === null) {
    const logits = rec["logits"];
    if (logits !== undefined && logits !== null) {
      field = "logits";
      ids = logits;
    }
  }
  if (ids !== undefined && ids !== null) {
    if (!Array.isArray(ids)) {
      bad(field, `must be an array of integer token ids, got ${describe(ids)}`);
      return undefined;
    }
    return toIds(ids, field, ctx, bad);
  }
  const raw = rec["prompt"];
  if (raw === undefined || raw === null) {
    bad("input_ids", "required when there is no prompt (give input_ids or prompt)");
    return undefined;
  }
  if (prompt === undefined) {
    bad("prompt", `must be a string, got ${describe(raw)}`);
    return undefined;
  }
  if (!ctx.tokenizer) {
    bad(
      "prompt",
      "a text prompt needs a tokenizer and none is loaded (give input_ids, or a model with a tokenizer)",
    );
    return undefined;
  }
  // HF `tokenizer(prompt)` as trtllm-bench calls it adds special tokens (BOS for Llama).
  return toIds(ctx.tokenizer.encode(prompt, { addSpecialTokens: true }), "prompt", ctx, bad);
}

/** Copies ids into the pool, stopping at the first bad one (one issue per line, not one per token). */
function toIds(ids: readonly unknown[], field: string, ctx: LineContext, bad: Bad): PooledIds | undefined {
  const n = ids.length;
  const limit = ctx.vocabLimit;
  if (n === 0) {
    bad(field, field === "prompt" ? "tokenizes to no tokens" : "must not be empty");
    return undefined;
  }
  const at = ctx.pool.reserve(n);
  const out = at.chunk;
  const base = at.offset;
  for (let i = 0; i < n; i++) {
    const v = ids[i];
    // typeof first: `>>>` would coerce an array or object through toString, recursing as deep as it is nested.
    // Then `>>> 0` maps fractions and negatives to a different value, so one compare checks them all.
    if (typeof v !== "number" || v >>> 0 !== v || v >= limit) {
      const where = field === "prompt" ? "prompt" : `${field}[${i}]`;
      if (typeof v === "number" && Number.isInteger(v) && v >= 0) {
        bad(where, `${v} is outside the vocabulary [0, ${limit})`);
      } else bad(where, `${describe(v)} is not a non-negative integer token id`);
      ctx.pool.release(at);
      return undefined;
    }
    out[base + i] = v;
  }
  return { chunk: out, offset: base, length: n };
}

function readLora(v: unknown, bad: Bad): LoraRequest | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) {
    bad("lora_request", `must be an object, got ${describe(v)}`);
    return undefined;
  }
  const o = v as Record<string, unknown>;
  const name = o["lora_name"];
  const id = o["lora_int_id"];
  const path = o["lora_path"];
  let ok = true;
  if (typeof name !== "string") {
    bad("lora_request.lora_name", `must be a string, got ${describe(name)}`);
    ok = false;
  }
  if (!Number.isSafeInteger(id)) {
    bad("lora_request.lora_int_id", `must be an integer, got ${describe(id)}`);
    ok = false;
  }
  if (typeof path !== "string") {
    bad("lora_request.lora_path", `must be a string, got ${describe(path)}`);
    ok = false;
  }
  return ok ? { lora_name: name as string, lora_int_id: id as number, lora_path: path as string } : undefined;
}

const describe = describeValue;

class IssueCollector {
  readonly kept: DatasetIssue[] = [];
  total = 0;
  private lastLine = -1;
  badLines = 0;
  constructor(
    readonly file: string,
    readonly max: number,
  ) {}
  add(line: number, field: string, reason: string): void {
    this.total++;
    if (line !== this.lastLine) {
      this.badLines++;
      this.lastLine = line;
    }
    if (this.kept.length < this.max) this.kept.push({ file: this.file, line, field, reason });
  }
  throwIfAny(): void {
    if (this.total === 0) return;
    const err = new DatasetError(this.kept);
    const more = this.total - this.kept.length;
    const lines = `${this.badLines} bad line${this.badLines === 1 ? "" : "s"}`;
    err.message = more > 0 ? `${err.message}\n… and ${more} more issue(s) (${lines} in total)` : err.message;
    throw err;
  }
}
