/**
 * `latency`: trtllm-bench's low-latency benchmark (brief §5) on the shared pipeline. Requests run one at a time
 * by default (concurrency 1) on a runtime batch of 1, without chunked context, under guaranteed_no_evict, always
 * streaming, after 2 non-streaming warmup requests; optionally with speculative decoding.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { readEngineConfig } from "../engine/embedded/engine-dir.ts";
import { loadMedusaChoices } from "../engine/embedded/speculative/medusa-choices.ts";
import type { SpeculativeConfig, SpeculativeMode } from "../engine/embedded/speculative/speculator.ts";
import { UsageError } from "../errors.ts";
import { log } from "../util/log.ts";
import { type BenchmarkOptions, type BenchmarkResult, runBenchmark } from "./pipeline.ts";

export const LATENCY_DEFAULT_MAX_DRAFT_LEN = 4;
export const LATENCY_DEFAULT_NGRAM_SIZE = 3;

/** What the user asked for; `resolveSpeculation` turns it into the engine's config. */
export interface SpeculationRequest {
  /** Default: "draft" with a draft engine, otherwise "none". */
  mode?: SpeculativeMode | "none" | undefined;
  draftEngineDir?: string | undefined;
  maxDraftLen?: number | undefined;
  ngramSize?: number | undefined;
  medusaChoices?: string | undefined;
}

export type LatencyOptions = Omit<
  BenchmarkOptions,
  | "name"
  | "streaming"
  | "maxBatchSize"
  | "maxNumTokens"
  | "enableChunkedContext"
  | "schedulerPolicy"
  | "speculative"
  | "concurrency"
  | "warmup"
> & {
  /** Default 1. */
  concurrency?: number | undefined;
  /** Default 2 (run without streaming, discarded). */
  warmup?: number | undefined;
  speculation?: SpeculationRequest | undefined;
};

/** The draft engine's GGUF: an engine directory written by `build`, or a .gguf file. */
export async function resolveDraftGguf(path: string): Promise<string> {
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch {
    throw new UsageError(`--draft_engine_dir '${path}' does not exist`);
  }
  if (!isDir) {
    if (!path.toLowerCase().endsWith(".gguf")) {
      throw new UsageError(`--draft_engine_dir '${path}' is neither an engine directory nor a .gguf file`);
    }
    return path;
  }
  const cfg = await readEngineConfig(path);
  return join(path, cfg.llm_bench.gguf_file);
}

export async function resolveSpeculation(
  req: SpeculationRequest = {},
): Promise<SpeculativeConfig | undefined> {
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
    return undefined;
  }
  if (mode === "draft" && req.draftEngineDir === undefined) {
    throw new UsageError("--speculative draft needs --draft_engine_dir");
  }
  let maxDraftLen = req.maxDraftLen ?? LATENCY_DEFAULT_MAX_DRAFT_LEN;
  const tree = req.medusaChoices !== undefined ? await loadMedusaChoices(req.medusaChoices) : undefined;
  if (tree) {
    if (req.maxDraftLen !== undefined && req.maxDraftLen !== tree.depth) {
      log.warn(
        `--max_draft_len ${req.maxDraftLen} is replaced by the medusa_choices tree's depth ${tree.depth}.`,
      );
    }
    maxDraftLen = tree.depth;
    if (tree.widthPerDepth.some((w) => w > 1)) {
      log.warn(
        `medusa_choices: ${tree.paths.length} paths over ${tree.depth} levels; the embedded engine verifies one ` +
          `chain of ${tree.depth} drafts per step (no tree attention in llama.cpp's batch API), see docs/latency.md.`,
      );
    }
  }
  if (maxDraftLen < 1) throw new UsageError("--max_draft_len must be at least 1 with speculative decoding");
  return {
    mode,
    maxDraftLen,
    ngramSize: req.ngramSize ?? LATENCY_DEFAULT_NGRAM_SIZE,
    draftGgufPath: req.draftEngineDir !== undefined ? await resolveDraftGguf(req.draftEngineDir) : undefined,
    medusaTree: tree,
  };
}

export async function runLatency(opts: LatencyOptions): Promise<BenchmarkResult> {
  const { speculation, concurrency = 1, warmup = 2, ...rest } = opts;
  const speculative = await resolveSpeculation(speculation);
  if (concurrency !== 1) {
    log.warn(
      `--concurrency ${concurrency}: the latency benchmark's runtime batch size is 1, so requests beyond the ` +
        "first wait in the engine's queue and their TTFT includes that wait.",
    );
  }
  if (speculative) {
    log.info(
      `Speculative decoding: ${speculative.mode}, up to ${speculative.maxDraftLen} drafts per step` +
        (speculative.mode === "ngram" ? `, n-grams of up to ${speculative.ngramSize} tokens.` : "."),
    );
  }
  return runBenchmark({
    ...rest,
    name: "latency",
    concurrency,
    warmup,
    // trtllm-bench's low_latency settings.
    maxBatchSize: 1,
    enableChunkedContext: false,
    schedulerPolicy: "guaranteed_no_evict",
    streaming: true,
    speculative,
  });
}
