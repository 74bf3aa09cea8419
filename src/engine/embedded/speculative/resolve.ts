/**
 * `latency`'s speculative decoding flags -> the embedded engine's setup: the mode, the draft length (a
 * `--medusa_choices` tree's depth), the n-gram size and the draft engine's GGUF.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { UsageError } from "../../../errors.ts";
import { log } from "../../../util/log.ts";
import { type Speculation, type SpeculationRequest, speculationMode } from "../../backend.ts";
import { readEngineConfig } from "../engine-dir.ts";
import { loadMedusaChoices } from "./medusa-choices.ts";
import { decodingModeName, type SpeculativeConfig } from "./speculator.ts";

export const LATENCY_DEFAULT_MAX_DRAFT_LEN = 4;
export const LATENCY_DEFAULT_NGRAM_SIZE = 3;

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
  const mode = speculationMode(req);
  if (mode === "none") return undefined;
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

/** The embedded engine's speculative decoding setup, as the pipeline carries it to `prepare`. */
export class EmbeddedSpeculation implements Speculation {
  readonly decodingMode: string;
  readonly summary: string;
  constructor(readonly config: SpeculativeConfig) {
    this.decodingMode = decodingModeName(config.mode);
    this.summary =
      `Speculative decoding: ${config.mode}, up to ${config.maxDraftLen} drafts per step` +
      (config.mode === "ngram" ? `, n-grams of up to ${config.ngramSize} tokens.` : ".");
  }
}
