/**
 * `--request_log PATH`: one row per request with every timestamp, as JSONL (`.jsonl`) or CSV (`.csv`).
 * Times are integer ns relative to the run start (the earliest scheduled time), so files from different runs
 * line up and stay small; durations are derived with the formulas of docs/metrics.md. `report` reads these
 * files back to draw distributions, throughput over time and the per-request timeline.
 */
import { access } from "node:fs/promises";
import { basename, dirname, extname, isAbsolute, relative, resolve, sep } from "node:path";
import { readLineBatches } from "../dataset/line-stream.ts";
import { DatasetError, type DatasetIssue, UsageError } from "../errors.ts";
import type { RequestRecord } from "../metrics/record.ts";
import { hasFirstToken, requestMetrics } from "../metrics/request-metrics.ts";
import { AtomicFileStream } from "../util/atomic-write.ts";

export interface RequestLogEntry {
  id: string;
  scheduled_ns: number;
  start_ns: number;
  /** HTTP backends: request written to the socket, first response byte; null otherwise (and in older logs). */
  sent_ns: number | null;
  first_byte_ns: number | null;
  /** null when unknown (no streaming). */
  first_token_ns: number | null;
  end_ns: number;
  input_tokens: number;
  output_tokens: number;
  requested_output_tokens: number;
  decode_iterations: number;
  queue_ns: number;
  ttft_ns: number | null;
  /** null when unknown or with a single output token. */
  tpot_ns: number | null;
  e2e_ns: number;
  error: string | null;
}

/** Column order of the CSV header and of every JSONL object. */
export const REQUEST_LOG_COLUMNS = [
  "id",
  "scheduled_ns",
  "start_ns",
  "sent_ns",
  "first_byte_ns",
  "first_token_ns",
  "end_ns",
  "input_tokens",
  "output_tokens",
  "requested_output_tokens",
  "decode_iterations",
  "queue_ns",
  "ttft_ns",
  "tpot_ns",
  "e2e_ns",
  "error",
] as const satisfies readonly (keyof RequestLogEntry)[];

const NULLABLE = new Set<string>(["sent_ns", "first_byte_ns", "first_token_ns", "ttft_ns", "tpot_ns"]);

export type RequestLogFormat = "jsonl" | "csv";

export function requestLogFormat(path: string): RequestLogFormat {
  const ext = extname(path).toLowerCase();
  if (ext === ".jsonl" || ext === ".ndjson") return "jsonl";
  if (ext === ".csv") return "csv";
  throw new UsageError(`--request_log ${path}: the name must end in .jsonl or .csv (it picks the format)`);
}

/**
 * How the report JSON names its request log: relative to the JSON's folder when the log sits under it (the
 * pair can then be moved together), absolute otherwise.
 */
export function requestLogRef(logPath: string, reportJsonPath: string | undefined): string {
  const abs = resolve(logPath);
  if (!reportJsonPath) return abs;
  const rel = relative(dirname(resolve(reportJsonPath)), abs);
  return rel === "" || rel.startsWith(`..${sep}`) || rel === ".." || isAbsolute(rel) ? abs : rel;
}

/**
 * Finds the request log a report JSON names: the recorded path (relative to the JSON's folder), else a file
 * of the same name next to the JSON. undefined when the JSON names none or the file is gone.
 */
export async function locateRequestLog(reportJsonPath: string, ref: string | undefined) {
  if (ref === undefined) return undefined;
  const dir = dirname(resolve(reportJsonPath));
  for (const candidate of [resolve(dir, ref), resolve(dir, basename(ref))]) {
    try {
      await access(candidate);
      return candidate;
    } catch {
      // try the next place
    }
  }
  return undefined;
}

/** The run start: the earliest time any request was due. */
export function runStartNs(records: readonly RequestRecord[]): number {
  let t0 = Number.POSITIVE_INFINITY;
  for (const r of records) t0 = Math.min(t0, r.scheduledNs, r.startNs);
  return Number.isFinite(t0) ? t0 : 0;
}

export function toLogEntry(r: RequestRecord, t0: number): RequestLogEntry {
  const m = requestMetrics(r);
  const known = hasFirstToken(r);
  return {
    id: r.id,
    scheduled_ns: r.scheduledNs - t0,
    start_ns: r.startNs - t0,
    sent_ns: r.sentNs !== undefined ? r.sentNs - t0 : null,
    first_byte_ns: r.firstByteNs !== undefined ? r.firstByteNs - t0 : null,
    first_token_ns: known ? r.firstTokenNs - t0 : null,
    end_ns: r.endNs - t0,
    input_tokens: r.numInputTokens,
    output_tokens: r.numOutputTokens,
    requested_output_tokens: r.requestedOutputTokens,
    decode_iterations: r.decodeIterations,
    queue_ns: m.queueNs,
    ttft_ns: known ? m.ttftNs : null,
    tpot_ns: known && r.numOutputTokens > 1 ? m.tpotNs : null,
    e2e_ns: m.e2eNs,
    error: r.error ?? null,
  };
}

function csvCell(v: string | number | null): string {
  if (v === null) return "";
  if (typeof v === "number") return String(v);
  // One record per line: newlines inside messages become spaces; quotes per RFC 4180.
  const s = v.replace(/\r?\n/g, " ");
  return /[",]/.test(s) || s === "" ? `"${s.replace(/"/g, '""')}"` : s;
}

export function formatLogLine(e: RequestLogEntry, format: RequestLogFormat): string {
  if (format === "jsonl") return JSON.stringify(e);
  return REQUEST_LOG_COLUMNS.map((k) => csvCell(e[k])).join(",");
}

const BATCH = 1024;

/** Streams the log in batches (atomic: the file appears only when complete). */
export async function writeRequestLog(path: string, records: readonly RequestRecord[]): Promise<void> {
  const format = requestLogFormat(path);
  const t0 = runStartNs(records);
  const file = await AtomicFileStream.open(path);
  try {
    if (format === "csv") await file.write(`${REQUEST_LOG_COLUMNS.join(",")}\n`);
    for (let i = 0; i < records.length; i += BATCH) {
      let chunk = "";
      for (let j = i; j < Math.min(records.length, i + BATCH); j++) {
        chunk += `${formatLogLine(toLogEntry(records[j]!, t0), format)}\n`;
      }
      await file.write(chunk);
    }
    await file.commit();
  } catch (err) {
    await file.abort();
    throw err;
  }
}

/** Splits one CSV line (no embedded newlines: the writer never produces them). */
export function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let cell = "";
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q === -1) throw new Error("unterminated quoted cell");
        cell += line.slice(i, q);
        if (line[q + 1] === '"') {
          cell += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      out.push(cell);
      if (i >= line.length) return out;
      if (line[i] !== ",") throw new Error("text after a quoted cell");
      i++;
    } else {
      const c = line.indexOf(",", i);
      if (c === -1) {
        out.push(line.slice(i));
        return out;
      }
      out.push(line.slice(i, c));
      i = c + 1;
    }
  }
}

function checkEntry(raw: Record<string, unknown>, file: string, line: number): RequestLogEntry {
  const issues: DatasetIssue[] = [];
  const out: Record<string, unknown> = {};
  for (const k of REQUEST_LOG_COLUMNS) {
    const v = raw[k];
    if (k === "id") {
      if (typeof v === "string" || typeof v === "number") out[k] = String(v);
      else issues.push({ file, line, field: k, reason: "expected a string" });
    } else if (k === "error") {
      if (v === null || v === undefined || typeof v === "string") out[k] = v ?? null;
      else issues.push({ file, line, field: k, reason: "expected a string or null" });
    } else if ((v === null || v === undefined) && NULLABLE.has(k)) {
      out[k] = null;
    } else if (typeof v === "number" && Number.isFinite(v)) {
      out[k] = v;
    } else {
      issues.push({
        file,
        line,
        field: k,
        reason: `expected a number, got ${JSON.stringify(v) ?? "nothing"}`,
      });
    }
  }
  if (issues.length > 0) throw new DatasetError(issues);
  return out as unknown as RequestLogEntry;
}

function csvValue(key: string, cell: string): unknown {
  if (key === "id") return cell;
  if (key === "error") return cell === "" ? null : cell;
  if (cell === "") return NULLABLE.has(key) ? null : undefined;
  const n = Number(cell);
  return Number.isNaN(n) ? cell : n;
}

/** Reads a JSONL or CSV request log back; a bad row is a DatasetError naming the file, line and field. */
export async function readRequestLog(path: string): Promise<RequestLogEntry[]> {
  const format = requestLogFormat(path);
  const out: RequestLogEntry[] = [];
  let header: string[] | undefined;
  for await (const { firstLine, lines } of readLineBatches(path)) {
    for (let i = 0; i < lines.length; i++) {
      const text = lines[i]!;
      const line = firstLine + i;
      if (text.trim() === "") continue;
      if (format === "jsonl") {
        let raw: unknown;
        try {
          raw = JSON.parse(text);
        } catch (err) {
          throw new DatasetError([{ file: path, line, field: "(line)", reason: (err as Error).message }]);
        }
        if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
          throw new DatasetError([{ file: path, line, field: "(line)", reason: "expected a JSON object" }]);
        }
        out.push(checkEntry(raw as Record<string, unknown>, path, line));
        continue;
      }
      let cells: string[];
      try {
        cells = splitCsvLine(text);
      } catch (err) {
        throw new DatasetError([{ file: path, line, field: "(line)", reason: (err as Error).message }]);
      }
      if (!header) {
        header = cells;
        continue;
      }
      if (cells.length !== header.length) {
        throw new DatasetError([
          {
            file: path,
            line,
            field: "(line)",
            reason: `${cells.length} cells, the header has ${header.length}`,
          },
        ]);
      }
      const raw: Record<string, unknown> = {};
      header.forEach((k, j) => {
        raw[k] = csvValue(k, cells[j]!);
      });
      out.push(checkEntry(raw, path, line));
    }
  }
  return out;
}
