/**
 * `real-dataset` from local files: ShareGPT JSON (`conversations`), JSON arrays or JSONL of objects with a
 * prompt key, or plain text (one prompt per line). As trtllm-bench: the prompt is encoded with the real
 * tokenizer (special tokens included), longer-than-`--max-input-len` prompts are dropped (not truncated), the
 * output length is the golden output's token count or drawn from `--output-len-dist`.
 */

import { constants } from "node:buffer";
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { extname } from "node:path";
import { DatasetError, type DatasetIssue, UsageError } from "../errors.ts";
import { log } from "../util/log.ts";
import { describeValue } from "./describe.ts";
import { readLineBatches } from "./line-stream.ts";
import type { GenerateContext, GenerateResult, PromptMode } from "./prepare.ts";
import { PythonRandom } from "./rng/python-random.ts";
import { legacySeed, MAX_OUTPUT_TOKENS, normDistLengths } from "./synthetic.ts";

export const REAL_FORMATS = ["auto", "sharegpt", "json", "jsonl", "text"] as const;
export type RealDatasetFormat = (typeof REAL_FORMATS)[number];

export interface RealDatasetSpec {
  kind: "real-dataset";
  datasetPath: string;
  format?: RealDatasetFormat;
  /** Key of the main text in JSON/JSONL records (default "prompt"). */
  inputKey?: string;
  /** Key of an instruction put before the input, joined with a space (trtllm-bench's --dataset-prompt-key). */
  promptKey?: string;
  /** A literal instruction put before every input (trtllm-bench's --dataset-prompt). */
  prompt?: string;
  /** Key of the golden output; its token count becomes the output length. */
  outputKey?: string;
  numRequests?: number;
  maxInputLen?: number;
  /** [mean, stdev]: output lengths from the normal distribution instead of golden outputs. */
  outputLenDist?: [number, number];
  /** "text" writes the prompt text instead of its ids. */
  promptMode?: PromptMode;
}

/** One usable row: the input text, an optional instruction and golden output, and where it came from. */
interface RawRecord {
  line: number;
  input: string;
  instruction: string | undefined;
  output: string | undefined;
}

type Row = { line: number; value: unknown };

const MAX_ISSUES = 20;

/** Parses "mean,stdev" as trtllm-bench does (two non-negative integers). */
export function parseOutputLenDist(raw: string): [number, number] {
  const m = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(raw);
  if (!m)
    throw new UsageError(`--output-len-dist: expected <output_len_mean>,<output_len_stdev> (got '${raw}')`);
  return [Number(m[1]), Number(m[2])];
}

/** 1-based line where each top-level array element starts (the text is already known to be valid JSON). */
export function topLevelElementLines(text: string): number[] {
  const lines: number[] = [];
  let line = 1;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let expect = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) line++;
    if (inString) {
      if (escaped) escaped = false;
      else if (c === 92) escaped = true;
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 32 || c === 9 || c === 10 || c === 13) continue;
    if (depth === 1 && expect && c !== 93) {
      lines.push(line);
      expect = false;
    }
    if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      depth++;
      if (depth === 1) expect = true;
    } else if (c === 93 || c === 125) depth--;
    else if (c === 44 && depth === 1) expect = true;
  }
  return lines;
}

function jsonErrorLine(text: string, err: Error): number {
  const lc = /line (\d+)/.exec(err.message);
  if (lc) return Number(lc[1]);
  const pos = /position (\d+)/.exec(err.message);
  if (!pos) return 1;
  let line = 1;
  const end = Math.min(Number(pos[1]), text.length);
  for (let i = 0; i < end; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Lines of a JSONL or text file, each bounded by MAX_LINE_BYTES (a longer one is a DatasetError). */
async function* lines(path: string): AsyncGenerator<{ line: number; text: string }> {
  for await (const { firstLine, lines } of readLineBatches(path)) {
    for (let i = 0; i < lines.length; i++) yield { line: firstLine + i, text: lines[i]! };
  }
}

async function* jsonArrayRows(path: string): AsyncGenerator<Row> {
  // A JSON array is parsed whole, and a V8 string holds at most MAX_STRING_LENGTH characters.
  const { size } = await stat(path);
  if (size > constants.MAX_STRING_LENGTH) {
    throw new DatasetError([
      {
        file: path,
        line: 0,
        field: "(file)",
        reason:
          `${size} bytes: a JSON array is read whole, and a string holds at most ${constants.MAX_STRING_LENGTH} ` +
          "characters. Convert it to JSONL (one record per line), which is streamed.",
      },
    ]);
  }
  const text = await readFile(path, "utf8");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new DatasetError([
      {
        file: path,
        line: jsonErrorLine(text, err as Error),
        field: "(json)",
        reason: (err as Error).message,
      },
    ]);
  }
  if (!Array.isArray(parsed)) {
    throw new DatasetError([
      { file: path, line: 1, field: "(json)", reason: "expected a JSON array of records" },
    ]);
  }
  const at = topLevelElementLines(text);
  for (const [i, value] of parsed.entries()) yield { line: at[i] ?? 1, value };
}

async function* jsonlRows(path: string, issues: DatasetIssue[]): AsyncGenerator<Row> {
  for await (const { line, text } of lines(path)) {
    if (text.trim() === "") continue;
    try {
      yield { line, value: JSON.parse(text) };
    } catch (err) {
      issues.push({ file: path, line, field: "(json)", reason: (err as Error).message });
    }
  }
}

/** Picks the format from the extension, then from the first non-blank character and the first record. */
export async function detectFormat(path: string): Promise<Exclude<RealDatasetFormat, "auto">> {
  const ext = extname(path).toLowerCase();
  if (ext === ".jsonl" || ext === ".ndjson") return "jsonl";
  if (ext === ".txt" || ext === ".text") return "text";
  const head = await new Promise<string>((resolve, reject) => {
    let acc = "";
    const s = createReadStream(path, { encoding: "utf8", start: 0, end: 65535 });
    s.on("data", (d) => {
      acc += d;
    });
    s.on("end", () => resolve(acc));
    s.on("error", reject);
  });
  const trimmed = head.trimStart();
  // A JSON array may still be ShareGPT: the first record decides (see `records`).
  if (trimmed.startsWith("[")) return "json";
  if (trimmed.startsWith("{")) return "jsonl";
  if (ext === ".json") return "json";
  return "text";
}

function field(
  obj: Record<string, unknown>,
  key: string,
  where: Omit<DatasetIssue, "field" | "reason">,
): string | DatasetIssue {
  const v = obj[key];
  if (typeof v === "string") return v;
  const reason =
    v === undefined
      ? `missing key (available: ${Object.keys(obj).join(", ") || "none"})`
      : `expected a string, got ${describeValue(v)}`;
  return { ...where, field: key, reason };
}

/** Rows → records, reporting bad rows as issues; ShareGPT conversations with fewer than two turns are skipped. */
async function* records(
  spec: RealDatasetSpec,
  format: Exclude<RealDatasetFormat, "auto">,
  issues: DatasetIssue[],
  skipped: { count: number },
): AsyncGenerator<RawRecord> {
  const file = spec.datasetPath;
  if (format === "text") {
    for await (const { line, text } of lines(file)) {
      if (text.trim() !== "") yield { line, input: text, instruction: spec.prompt, output: undefined };
    }
    return;
  }
  const rows = format === "jsonl" ? jsonlRows(file, issues) : jsonArrayRows(file);
  const auto = spec.format === undefined || spec.format === "auto";
  let sharegpt: boolean | undefined = format === "sharegpt" ? true : auto ? undefined : false;
  for await (const { line, value } of rows) {
    if (issues.length >= MAX_ISSUES) return;
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      issues.push({ file, line, field: "(record)", reason: "expected a JSON object" });
      continue;
    }
    const obj = value as Record<string, unknown>;
    const where = { file, line };
    if (sharegpt === undefined) {
      sharegpt = Array.isArray(obj.conversations) && !((spec.inputKey ?? "prompt") in obj);
      if (sharegpt) log.info("Detected ShareGPT conversations");
    }
    if (sharegpt) {
      const rec = shareGptRecord(obj, where, spec, issues, skipped);
      if (rec) yield rec;
      continue;
    }
    if (!spec.outputLenDist && spec.outputKey === undefined) throw missingOutput(format);
    const input = field(obj, spec.inputKey ?? "prompt", where);
    const instruction = spec.promptKey !== undefined ? field(obj, spec.promptKey, where) : spec.prompt;
    const output =
      spec.outputKey !== undefined && !spec.outputLenDist ? field(obj, spec.outputKey, where) : undefined;
    const bad = [input, instruction, output].find((v): v is DatasetIssue => typeof v === "object");
    if (bad) issues.push(bad);
    else
      yield {
        line,
        input: input as string,
        instruction: instruction as string | undefined,
        output: output as string | undefined,
      };
  }
}

/** ShareGPT: the first turn is the input, the second the golden output (as vLLM and SGLang read it). */
function shareGptRecord(
  obj: Record<string, unknown>,
  where: { file: string; line: number },
  spec: RealDatasetSpec,
  issues: DatasetIssue[],
  skipped: { count: number },
): RawRecord | undefined {
  const conv = obj.conversations;
  if (!Array.isArray(conv)) {
    issues.push({ ...where, field: "conversations", reason: "missing or not an array" });
    return undefined;
  }
  if (conv.length < 2) {
    skipped.count++;
    return undefined;
  }
  const text = (i: number): string | undefined => {
    const t = conv[i] as { value?: unknown } | null;
    if (typeof t === "object" && t !== null && typeof t.value === "string") return t.value;
    issues.push({ ...where, field: `conversations[${i}].value`, reason: "missing or not a string" });
    return undefined;
  };
  const input = text(0);
  const output = input === undefined ? undefined : text(1);
  if (input === undefined || output === undefined) return undefined;
  return { line: where.line, input, instruction: spec.prompt, output };
}

function missingOutput(format: string): UsageError {
  return new UsageError(
    format === "text"
      ? "plain-text datasets have no golden output: set --output-len-dist <mean>,<stdev>"
      : "--dataset-output-key is not set: either set --output-len-dist <mean>,<stdev> or give the key of the golden output",
  );
}

export async function generateRealDataset(
  spec: RealDatasetSpec,
  ctx: GenerateContext,
): Promise<GenerateResult> {
  const file = spec.datasetPath;
  try {
    if (!(await stat(file)).isFile()) throw new Error("not a regular file");
  } catch (err) {
    throw new UsageError(`cannot read dataset file ${file}: ${(err as Error).message}`);
  }
  if (spec.promptKey !== undefined && spec.prompt !== undefined) {
    throw new UsageError("--dataset-prompt-key and --dataset-prompt cannot be set at the same time.");
  }
  if (spec.numRequests !== undefined && !(spec.numRequests >= 1))
    throw new UsageError("--num-requests must be ≥ 1");
  const format = !spec.format || spec.format === "auto" ? await detectFormat(file) : spec.format;
  if (!spec.outputLenDist && format === "text") throw missingOutput(format);
  log.info(`Reading ${format} dataset ${file}`);

  const { tokenizer } = ctx;
  const issues: DatasetIssue[] = [];
  const skipped = { count: 0 };
  let dropped = 0;
  const inputs: Int32Array[] = [];
  const prompts: string[] = [];
  const golden: number[] = [];
  const taskIds: number[] = [];
  const taskRng = new PythonRandom(ctx.seed);
  let seen = 0;
  for await (const rec of records(spec, format, issues, skipped)) {
    if (issues.length > 0) continue; // keep reading only to report every bad row (up to the cap)
    const prompt = rec.instruction !== undefined ? `${rec.instruction} ${rec.input}` : rec.input;
    const ids = tokenizer.encode(prompt, { addSpecialTokens: true });
    if ((++seen & 63) === 0) await ctx.yieldNow();
    if (spec.maxInputLen && ids.length > spec.maxInputLen) {
      dropped++;
      continue;
    }
    inputs.push(Int32Array.from(ids));
    if (spec.promptMode === "text") prompts.push(prompt);
    if (!spec.outputLenDist)
      golden.push(tokenizer.encode(rec.output ?? "", { addSpecialTokens: true }).length);
    taskIds.push(ctx.lora.drawTaskId(taskRng));
    if (spec.numRequests && inputs.length >= spec.numRequests) break;
  }
  if (issues.length > 0) throw new DatasetError(issues);
  if (skipped.count > 0) log.info(`Skipped ${skipped.count} conversations with fewer than two turns`);
  if (dropped > 0) log.info(`Dropped ${dropped} requests longer than --max-input-len ${spec.maxInputLen}`);
  const n = inputs.length;
  if (n === 0) throw new DatasetError([{ file, line: 0, field: "(dataset)", reason: "no usable requests" }]);
  if (spec.numRequests && n < spec.numRequests) {
    log.warn(`Number of requests=${n} is smaller than the num-requests user set=${spec.numRequests}.`);
  }
  const osl = spec.outputLenDist
    ? normDistLengths(
        spec.outputLenDist[0],
        spec.outputLenDist[1],
        n,
        legacySeed(ctx.seed, "real-dataset --output-len-dist"),
        { max: MAX_OUTPUT_TOKENS, what: "output tokens", options: "--output-len-dist" },
      )
    : Int32Array.from(golden);
  const isl = Int32Array.from(inputs, (ids) => ids.length);
  await ctx.writer.begin({ isl, osl });
  for (let i = 0; i < n; i++) {
    const ids = inputs[i]!;
    const lora = ctx.lora.loraFor(taskIds[i]!);
    if (spec.promptMode === "text") await ctx.writer.writePrompt(i, prompts[i]!, osl[i]!, lora, taskIds[i]);
    else await ctx.writer.writeIds(i, ids, ids.length, osl[i]!, lora, taskIds[i]);
  }
  return { isl, osl, textStats: undefined };
}
