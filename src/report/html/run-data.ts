/**
 * What the HTML report draws from: each run's `--report_json` (checked against the published schema) and,
 * when the JSON names one (`llm_bench.request_log`), its per-request log.
 */
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { ConfigError } from "../../errors.ts";
import { type ReportJson, reportSchema } from "../report-schema.ts";
import { locateRequestLog, type RequestLogEntry, readRequestLog } from "../request-log.ts";

export interface RunData {
  /** Legend name: the file name without `.json`, unless the caller names it. */
  name: string;
  path: string;
  report: ReportJson;
  /** undefined when the run has no request log: per-request charts are then left out. */
  requests: RequestLogEntry[] | undefined;
}

export async function loadRun(path: string, name?: string): Promise<RunData> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new ConfigError(`cannot read the report JSON: ${(err as Error).message}`, path, { cause: err });
  }
  const parsed = reportSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new ConfigError(
      `not an llm-bench --report_json (schemas/report.schema.json): ${first.path.join(".") || "(root)"}: ${first.message}`,
      path,
    );
  }
  const report = parsed.data;
  const logPath = await locateRequestLog(path, report.llm_bench.request_log);
  return {
    name: name ?? basename(path).replace(/\.json$/i, ""),
    path,
    report,
    requests: logPath ? await readRequestLog(logPath) : undefined,
  };
}

/** Distinct legend names: a repeated name gets " (2)", " (3)"... */
export function uniqueNames(names: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((n) => {
    const k = (seen.get(n) ?? 0) + 1;
    seen.set(n, k);
    return k === 1 ? n : `${n} (${k})`;
  });
}
