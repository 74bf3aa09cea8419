/**
 * `prepare-dataset` as a library call: pick the generator, stream JSONL lines to stdout or to a file that
 * appears atomically, then summarize the dataset on stderr. The CLI only parses flags into these options.
 */

import type { Writable } from "node:stream";
import { setImmediate as tick } from "node:timers/promises";
import { UsageError } from "../errors.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import { nowNs } from "../util/clock.ts";
import { log } from "../util/log.ts";
import { writingOutput } from "../util/output-paths.ts";
import { type ChunkSink, fileSink, JsonlWriter, streamSink } from "./jsonl-writer.ts";
import { generatePrefixShared, type PrefixSharedSpec } from "./prefix-shared.ts";
import { generateRealDataset, type RealDatasetSpec } from "./real-dataset.ts";
import { computeDatasetMetadata } from "./stats.ts";
import { generateSynthetic, LoraPlan, type NormDistSpec, type Seed, type UnifDistSpec } from "./synthetic.ts";
import type { TextPromptStats } from "./text-prompts.ts";
import type { DatasetMetadata, PercentileStats } from "./types.ts";
import { WorkloadDocumentWriter, workloadMetadata } from "./workload-document.ts";

/** "ids": `input_ids` lines (trtllm-bench's format). "text": `prompt` lines whose re-encoding has exactly the sampled length. */
export type PromptMode = "ids" | "text";

export type WorkloadSpec = NormDistSpec | UnifDistSpec | RealDatasetSpec | PrefixSharedSpec;

export interface TaskIdOptions {
  /** LoRA task id for every request; -1 = no LoRA. */
  taskId: number;
  /** Random task id per request in [min, max] (inclusive). */
  randTaskId: [number, number] | undefined;
  /** LoRA adapter root; without it task ids only produce a warning. */
  loraDir: string | undefined;
  /** The 0.17 document records every request's task id (gptManagerBenchmark's LoRA task), LoRA dir or not. */
  recordTaskIds?: boolean;
}

export interface PrepareDatasetOptions {
  tokenizer: Tokenizer;
  workload: WorkloadSpec;
  /** File written atomically (default `preprocessed_dataset.json`); ignored with `stdout`. */
  output?: string;
  /**
   * The file's format: "jsonl" (default; one request per line, what the benchmarks read) or "document", the
   * `{metadata, samples}` JSON of trtllm-bench 0.17 (`--compat 0.17`). `stdout` always prints JSONL.
   */
  outputFormat?: "jsonl" | "document";
  /** Print the lines to stdout (or to `stream`) instead of a file. */
  stdout?: boolean;
  /** Destination used with `stdout` (default `process.stdout`). */
  stream?: Writable;
  /** Default 420. Any integer; each generator checks the range its RNG takes. */
  randomSeed?: Seed;
  /** Default -1. */
  taskId?: number;
  randTaskId?: [number, number];
  loraDir?: string;
  /** Print the summary on stderr (default true). */
  summary?: boolean;
}

export interface PrepareDatasetSummary {
  workload: WorkloadSpec["kind"];
  numRequests: number;
  /** The file written, or "-" for stdout. */
  output: string;
  bytes: number;
  elapsedMs: number;
  /** ISL/OSL/sequence-length statistics as trtllm-bench computes them for a dataset. */
  metadata: DatasetMetadata;
  /** Text mode only: how many prompts needed repair to hit their exact length. */
  textPrompts: TextPromptStats | undefined;
}

/** What every generator gets. */
export interface GenerateContext {
  tokenizer: Tokenizer;
  writer: JsonlWriter;
  seed: Seed;
  lora: LoraPlan;
  /** Lets signals and timers run during long CPU-bound loops. */
  yieldNow(): Promise<void>;
}

export interface GenerateResult {
  isl: Int32Array;
  osl: Int32Array;
  textStats: TextPromptStats | undefined;
}

export const DEFAULT_OUTPUT = "preprocessed_dataset.json";
export const DEFAULT_SEED = 420;

function generate(spec: WorkloadSpec, ctx: GenerateContext): Promise<GenerateResult> {
  switch (spec.kind) {
    case "token-norm-dist":
    case "token-unif-dist":
      return generateSynthetic(spec, ctx);
    case "real-dataset":
      return generateRealDataset(spec, ctx);
    case "prefix-shared":
      return generatePrefixShared(spec, ctx);
  }
}

function printSummary(s: PrepareDatasetSummary): void {
  const f = (p: PercentileStats) =>
    `min ${p.minimum}, avg ${p.average.toFixed(1)}, p50 ${p.p50}, p90 ${p.p90}, p99 ${p.p99}, max ${p.maximum}`;
  const m = s.metadata;
  log.info(`Dataset: ${s.numRequests} requests (${s.workload}) → ${s.output === "-" ? "stdout" : s.output}`);
  log.info(`  ISL: ${f(m.isl_stats)}`);
  log.info(`  OSL: ${f(m.osl_stats)}`);
  log.info(`  Sequence length: max ${m.max_sequence_length}, avg ${m.seq_len_stats.average.toFixed(1)}`);
  if (s.textPrompts) {
    const t = s.textPrompts;
    log.info(
      `  Text prompts: ${t.prompts} checked by re-encoding, ${t.repaired} needed repair, ${t.fallback} rebuilt from safe words`,
    );
  }
  log.info(`  ${(s.bytes / 1048576).toFixed(1)} MiB in ${(s.elapsedMs / 1000).toFixed(2)} s`);
}

export async function prepareDataset(opts: PrepareDatasetOptions): Promise<PrepareDatasetSummary> {
  const started = nowNs();
  const seed = opts.randomSeed ?? DEFAULT_SEED;
  const document = opts.outputFormat === "document" && !opts.stdout;
  if (document && opts.workload.promptMode === "text") {
    throw new UsageError(
      "--prompt-mode text: the 0.17 {metadata, samples} document holds token ids only (use --stdout for prompts)",
    );
  }
  const lora = new LoraPlan({
    taskId: opts.taskId ?? -1,
    randTaskId: opts.randTaskId,
    loraDir: opts.loraDir,
    recordTaskIds: document,
  });
  const output = opts.stdout ? "-" : (opts.output ?? DEFAULT_OUTPUT);
  const sink: ChunkSink = opts.stdout
    ? streamSink(opts.stream ?? process.stdout)
    : await writingOutput("--output", output, () => fileSink(output));
  const writer = document
    ? new WorkloadDocumentWriter(sink, (lengths) =>
        workloadMetadata(opts.workload, opts.tokenizer.vocabSize, lengths),
      )
    : new JsonlWriter(sink);
  let result: GenerateResult;
  try {
    result = await generate(opts.workload, {
      tokenizer: opts.tokenizer,
      writer,
      seed,
      lora,
      yieldNow: () => tick(),
    });
    await writingOutput("--output", output, () => writer.close());
  } catch (err) {
    await writer.abort();
    throw err;
  }
  const summary: PrepareDatasetSummary = {
    workload: opts.workload.kind,
    numRequests: result.isl.length,
    output,
    bytes: writer.bytes,
    elapsedMs: (nowNs() - started) / 1e6,
    metadata: computeDatasetMetadata(output, result.isl, result.osl),
    textPrompts: result.textStats,
  };
  if (opts.summary !== false) printSummary(summary);
  return summary;
}
