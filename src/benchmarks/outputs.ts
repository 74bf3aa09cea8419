/**
 * Every file a benchmark run writes, in one keyed list: the flag that names it, the option that holds its path,
 * and how it is written once the run is over. The output-path preflight (src/util/output-paths.ts) checks the same
 * list before anything slow, and a late failure (disk full) names the flag. Adding an output is one entry here
 * plus its flag. The request log comes first: the report JSON points at it.
 */
import type { CompatVersion } from "../compat.ts";
import type { RequestRecord } from "../metrics/record.ts";
import type { IterationLogWriter } from "../report/iteration-log.ts";
import { writeOutputJson, writeReportJson, writeRequestJson } from "../report/json.ts";
import type { ReportInput } from "../report/report-input.ts";
import { writeRequestLog } from "../report/request-log.ts";
import type { OutputPath } from "../util/output-paths.ts";

/** What the writers take from a finished run. */
export interface RunOutput {
  report: ReportInput;
  records: readonly RequestRecord[];
  decode: (ids: readonly number[]) => string;
  compat?: CompatVersion | undefined;
  /** `--iteration_log` is streamed through the run; its writer commits it. */
  iterationLog?: IterationLogWriter | undefined;
}

/** The benchmark options that name an output file. */
export interface OutputPathOptions {
  /** Per-request timestamps as JSONL or CSV (by extension); the report JSON records the path. */
  requestLog?: string | undefined;
  reportJson?: string | undefined;
  requestJson?: string | undefined;
  outputJson?: string | undefined;
  iterationLog?: string | undefined;
}

export interface OutputWriter {
  flag: string;
  option: keyof OutputPathOptions;
  write(path: string, run: RunOutput): Promise<void>;
}

export const RUN_OUTPUTS: readonly OutputWriter[] = [
  { flag: "--request_log", option: "requestLog", write: (path, run) => writeRequestLog(path, run.records) },
  { flag: "--report_json", option: "reportJson", write: (path, run) => writeReportJson(path, run.report) },
  {
    flag: "--request_json",
    option: "requestJson",
    write: (path, run) => writeRequestJson(path, run.records, run.decode, run.compat),
  },
  {
    flag: "--output_json",
    option: "outputJson",
    write: (path, run) => writeOutputJson(path, run.records, run.decode),
  },
  { flag: "--iteration_log", option: "iterationLog", write: async (_path, run) => run.iterationLog?.close() },
];

/** Every output of a run with its path (undefined: not asked for), for the preflight. */
export function outputPaths(opts: OutputPathOptions): OutputPath[] {
  return RUN_OUTPUTS.map((w) => ({ flag: w.flag, path: opts[w.option] }));
}
