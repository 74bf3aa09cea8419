/**
 * The backend plugin contract. A backend is one folder under src/engine/ whose public entry (`index.ts`)
 * exports one `BackendPlugin`: its names, its own flags and their schema, its capabilities, `prepare` and
 * optional hooks. Nothing outside the folder imports anything else of it (src/engine/boundaries.test.ts), and
 * src/engine/registry.ts lists the plugins.
 *
 * A backend is prepared in two phases because the dataset sits in between: the tokenizer (phase 1) is needed to
 * read the dataset, and the longest request (phase 2's limits) sets the engine's runtime limits.
 */
import type { z } from "zod";
import type { CompatVersion } from "../compat.ts";
import { UsageError } from "../errors.ts";
import type { RequestRecord } from "../metrics/record.ts";
import type { LlmApiOptions } from "../model/llm-api-options.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import type { FlagTable, FlagValues } from "../util/flag-table.ts";
import { log } from "../util/log.ts";
import type { RuntimeKnobs } from "./runtime-knobs.ts";
import type { Engine, EngineInfo } from "./types.ts";

export type { RuntimeKnobs } from "./runtime-knobs.ts";

/** What every backend gets, whatever its own options. */
export interface CommonBackendOptions {
  /** The model; undefined only where an engine built ahead names it (`serve --engine_dir` without --model). */
  model?: string | undefined;
  modelPath?: string | undefined;
  workspace: string;
  revision?: string | undefined;
  /** The dataset path: a backend that builds an engine on the fly (no engine dir) tunes it for this dataset. */
  dataset?: string | undefined;
  engineDir?: string | undefined;
  runtime: RuntimeKnobs;
  yaml: LlmApiOptions;
  /** Requests in flight at most (<= 0: unlimited); an HTTP backend sizes its connection pool to it. */
  concurrency: number;
  /** `--iteration_log`: one JSON object per engine step, its fields the backend's own. */
  onIteration?: ((row: object) => void) | undefined;
  /** Speculative decoding, as this backend's `resolveSpeculation` made it. */
  speculative?: Speculation | undefined;
  /** `--compat`: the heuristic an engine built on the fly is tuned with. */
  compat?: CompatVersion | undefined;
}

/** Phase 2's input: the longest request the engine must take. */
export interface EngineLimits {
  /** Longest prompt, tokens. */
  maxInputLength: number;
  /** Longest prompt + output, tokens. */
  maxSequenceLength: number;
}

export interface StartedBackend {
  engine: Engine;
  info: EngineInfo;
}

export interface PreparedBackend {
  tokenizer: Tokenizer;
  /** Dataset ids must be below this. */
  vocabSize: number;
  /** An engine built ahead of time: its model and the limits it was built for (`serve` sizes itself by them). */
  built?: { modelName: string; limits: EngineLimits } | undefined;
  start(limits: EngineLimits): Promise<StartedBackend>;
}

export interface BackendCapabilities {
  /**
   * One started engine can serve several runs (sweep points): each run ends with every request finished and
   * nothing it sized depends on the run's load shape. False: started afresh per run (an HTTP pool is sized to
   * the concurrency).
   */
  reusableAcrossRuns: boolean;
  /** Runs speculative decoding itself (`latency --speculative`, `--draft_engine_dir`): needs `resolveSpeculation`. */
  speculativeDecoding: boolean;
}

/** `latency`'s speculative decoding flags, as the user gave them. */
export interface SpeculationRequest {
  /** Default: "draft" with a draft engine, otherwise "none". */
  mode?: "draft" | "ngram" | "none" | undefined;
  draftEngineDir?: string | undefined;
  maxDraftLen?: number | undefined;
  ngramSize?: number | undefined;
  medusaChoices?: string | undefined;
}

/** A speculative decoding setup a backend resolved; the rest of it is the backend's own. */
export interface Speculation {
  /** The report's `DECODING STATISTICS (<mode>)` name (TensorRT-LLM's mode names). */
  readonly decodingMode: string;
  /** One line for the log: what will run. */
  readonly summary: string;
}

/** The server an HTTP backend talks to: `--server_metrics` without a URL scrapes `<root>/metrics` with its headers. */
export interface ServerRef {
  /** The server's root URL, credential-free. */
  root: string;
  /** Headers that authenticate to that server (sent to its origin only). */
  headers: Readonly<Record<string, string>>;
  /** How its certificate is checked (`--ca_cert`, `--insecure`), for scrapes beside the requests. */
  tls?: { ca?: string | undefined; insecure?: boolean | undefined } | undefined;
}

export interface FinalizeContext {
  tokenizer: Tokenizer;
  /** Keep output ids on the records (`--output_json`, `--request_json`). */
  keepOutputIds: boolean;
  signal?: AbortSignal | undefined;
}

export interface FinalizeOutcome {
  /** The signal stopped the work before every record was done. */
  interrupted: boolean;
  /** Successful records whose output length is still unknown: left out of the statistics. */
  unknownLength: RequestRecord[];
}

/** A backend's own flags: the table (help, defaults, parsers), how parsed values become its options, their schema. */
export interface BackendFlags<Table extends FlagTable, Own> {
  table: Table;
  /** Parsed flag values -> the backend's options (errors are UsageErrors naming the flag). */
  read(values: FlagValues<Table>, env: NodeJS.ProcessEnv): Own;
  /** Validates options however they were made (flags, a script, a test) before `prepare` sees them. */
  schema: z.ZodType<Own>;
}

export interface BackendPlugin<Name extends string, Table extends FlagTable, Own> {
  /** `--backend` values; the first is the backend's name in messages. */
  readonly names: readonly [Name, ...Name[]];
  readonly capabilities: BackendCapabilities;
  readonly flags: BackendFlags<Table, Own>;
  prepare(common: CommonBackendOptions, own: Own): Promise<PreparedBackend>;
  /** Turns `latency`'s speculative decoding flags into this backend's setup; refuses what it cannot run. */
  resolveSpeculation?(req: SpeculationRequest): Promise<Speculation | undefined>;
  /** After the measured run, outside its window: completes the records (e.g. counts returned text in tokens). */
  finalizeRecords?(records: readonly RequestRecord[], ctx: FinalizeContext): Promise<FinalizeOutcome>;
  /** The server behind the backend, when there is one. */
  server?(own: Own): ServerRef | undefined;
}

/**
 * The speculative decoding mode the flags ask for, after the checks that hold for any backend (a draft engine
 * needs draft mode and the reverse; a draft tree needs a mode). Backends resolve the rest.
 */
export function speculationMode(req: SpeculationRequest): "draft" | "ngram" | "none" {
  const mode = req.mode ?? (req.draftEngineDir !== undefined ? "draft" : "none");
  if (req.draftEngineDir !== undefined && mode !== "draft") {
    throw new UsageError(`--draft_engine_dir needs --speculative draft (got --speculative ${mode})`);
  }
  if (mode === "none") {
    if (req.medusaChoices !== undefined) {
      // trtllm-bench refuses Medusa choices for an engine without Medusa heads; ours have none, but the tree
      // can shape the drafts of the other modes.
      throw new UsageError(
        "--medusa_choices needs speculative decoding: the embedded engine has no Medusa heads. " +
          "Add --speculative ngram or --draft_engine_dir; the tree's depth then sets the draft length.",
      );
    }
    for (const [flag, v] of [
      ["--max_draft_len", req.maxDraftLen],
      ["--ngram_size", req.ngramSize],
    ] as const) {
      if (v !== undefined) log.warn(`${flag} is ignored without speculative decoding (--speculative none).`);
    }
  }
  if (mode === "draft" && req.draftEngineDir === undefined) {
    throw new UsageError("--speculative draft needs --draft_engine_dir");
  }
  return mode;
}
