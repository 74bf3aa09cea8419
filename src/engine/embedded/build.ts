/**
 * `llm-bench build`: trtllm-bench's engine build (brief §1.2, §3) for the embedded llama.cpp engine. Plans
 * max_batch_size / max_num_tokens (user limits, defaults, or the tuning heuristic), maps the quantization onto
 * GGUF types, and writes `<workspace>/<org>/<model>/tp_X_pp_Y/` through a temporary directory and a rename.
 * `dryRun` stops after the plan, so a 70B plan can be checked on a laptop.
 */

import { chmod, copyFile, mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { type CompatVersion, heuristicVersionFor } from "../../compat.ts";
import { readDataset } from "../../dataset/reader.ts";
import type { DatasetMetadata } from "../../dataset/types.ts";
import { UnsupportedError } from "../../errors.ts";
import { resolveModelConfig } from "../../model/config-reader.ts";
import type { ModelConfig } from "../../model/model-config.ts";
import { estimateParamCount } from "../../model/param-count.ts";
import {
  planQuantization,
  type QuantAlgo,
  type QuantPlan,
  readHfQuantConfig,
} from "../../model/quantization.ts";
import type { Tokenizer } from "../../model/tokenizer.ts";
import { resolveTokenizer } from "../../model/tokenizer-resolve.ts";
import {
  DEFAULT_MAX_BATCH_SIZE,
  DEFAULT_MAX_NUM_TOKENS,
  datasetTargets,
  type HeuristicPlan,
  type HeuristicVersion,
  isTunedQuant,
  kvGeometry,
  planEngineSetting,
} from "../../model/tuning.ts";
import { nowNs } from "../../util/clock.ts";
import { log } from "../../util/log.ts";
import { checkOutputPaths } from "../../util/output-paths.ts";
import { checkFeasible, linkOrCopy, progressPrinter, swapInto } from "./build-io.ts";
import {
  type BuildMode,
  datasetDetailsBlock,
  engineInfoBlock,
  engineSavedBlock,
  validateBuildMode,
} from "./build-mode.ts";
import { ggufFileType, locateWeights, plannedGgufBytes, type WeightsPlan } from "./build-weights.ts";
import { type DeviceMemory, type DeviceMemoryOptions, GIB, getDeviceMemory } from "./device-memory.ts";
import {
  ENGINE_FORMAT,
  type EngineConfig,
  engineDirFor,
  llmBenchVersion,
  writeEngineConfig,
} from "./engine-dir.ts";
import { writeGguf } from "./gguf/index.ts";
import { validateGgufFile } from "./gguf/validate.ts";
import { rowSplitUnsupported } from "./gpu-split.ts";

export interface BuildOptions {
  model: string;
  modelPath?: string | undefined;
  workspace: string;
  revision?: string | undefined;
  tpSize?: number | undefined;
  ppSize?: number | undefined;
  quantization?: QuantAlgo | null | undefined;
  maxSeqLen?: number | undefined;
  dataset?: string | undefined;
  maxBatchSize?: number | undefined;
  maxNumTokens?: number | undefined;
  targetInputLen?: number | undefined;
  targetOutputLen?: number | undefined;
  /** trtllm-bench's `load_format="dummy"`: dummy weights even when the checkpoint has real ones. */
  noWeightsLoading?: boolean | undefined;
  dryRun?: boolean | undefined;
  /** `--device_memory`: GiB of one device, to plan for another machine. */
  deviceMemoryGb?: number | undefined;
  /** "B" (newer trtllm-bench) or "A" (0.16/0.17); default: the one `compat` selects. */
  heuristicVersion?: HeuristicVersion | undefined;
  /** `--compat` (default "latest"): picks the heuristic version when `heuristicVersion` is not given. */
  compat?: CompatVersion | undefined;
  /** Where llama.cpp may run; tests pass a probe instead of loading node-llama-cpp. */
  gpu?: "auto" | false | undefined;
  deviceProbe?: DeviceMemoryOptions["probe"];
  /** The `Loading Model: [i/3]` step lines (stdout by default, as the seed prints them). */
  out?: ((line: string) => void) | undefined;
}

export interface BuildPlan {
  mode: BuildMode;
  engineDir: string;
  modelConfig: ModelConfig;
  paramCount: number;
  quant: QuantPlan;
  /** The GGUF weight type actually written (a reused GGUF keeps its own). */
  weightType: string;
  weights: WeightsPlan;
  maxSeqLen: number;
  maxInputLen: number;
  maxBatchSize: number;
  maxNumTokens: number;
  targetInputLen: number | undefined;
  targetOutputLen: number | undefined;
  dataset: DatasetMetadata | undefined;
  heuristic: HeuristicPlan | undefined;
  device: DeviceMemory | undefined;
  /** Approximate size of the GGUF the build writes (exact tensor data plus the tokenizer metadata). */
  plannedGgufBytes: number;
}

export interface BuildResult {
  plan: BuildPlan;
  /** False for a dry run. */
  written: boolean;
  engineDir: string;
  ggufPath: string | undefined;
  ggufBytes: number | undefined;
  seconds: number;
}

/** Dummy weights are deterministic: the same config always gives the same engine. */
export const DUMMY_SEED = 0;

const secs = (ns: number) => (ns / 1e9).toFixed(3);
const gib = (bytes: number) => `${(bytes / GIB).toFixed(2)} GiB`;

async function fileSize(path: string | undefined): Promise<number> {
  if (!path) return 0;
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** Everything up to (and including) the printed plan; nothing is written. */
async function planBuild(
  opts: BuildOptions,
  probeDevice: () => Promise<DeviceMemory>,
): Promise<{ plan: BuildPlan; tokenizer: Tokenizer | undefined }> {
  const tpSize = opts.tpSize ?? 1;
  const ppSize = opts.ppSize ?? 1;
  const version = opts.heuristicVersion ?? heuristicVersionFor(opts.compat ?? "latest");
  const { mode, warnings } = validateBuildMode({ ...opts, tpSize, ppSize });
  for (const w of warnings) log.warn(w);
  const engineDir = engineDirFor(opts.workspace, opts.model, tpSize, ppSize);
  // Probing loads node-llama-cpp (seconds on a small box): overlap it with reading the model and dataset.
  if (mode.kind === "dataset" || mode.kind === "target" || !opts.dryRun) void probeDevice().catch(() => {});

  const modelConfig = await resolveModelConfig({
    model: opts.model,
    modelPath: opts.modelPath,
    revision: opts.revision,
  });
  const paramCount = modelConfig.paramCount ?? estimateParamCount(modelConfig);
  const quant = planQuantization({
    quantization: opts.quantization,
    dtype: modelConfig.dtype,
    hfQuant: await readHfQuantConfig(opts.modelPath),
  });
  const weights = await locateWeights(opts.modelPath, opts.noWeightsLoading === true, DUMMY_SEED);

  let tokenizer: Tokenizer | undefined;
  try {
    tokenizer = await resolveTokenizer({
      model: opts.model,
      modelPath: opts.modelPath,
      revision: opts.revision,
    });
  } catch (err) {
    if (!opts.dryRun) throw err;
    log.warn(
      `No tokenizer for ${opts.model} (${(err as Error).message}); the dry run continues without one.`,
    );
  }

  let maxSeqLen = opts.maxSeqLen;
  let targetInputLen = opts.targetInputLen;
  let targetOutputLen = opts.targetOutputLen;
  let dataset: DatasetMetadata | undefined;
  if (mode.kind === "dataset") {
    log.info("Found dataset.");
    const read = await readDataset(
      mode.dataset,
      tokenizer ? { tokenizer, vocabSize: modelConfig.vocabSize } : { vocabSize: modelConfig.vocabSize },
    );
    const targets = datasetTargets(read.metadata, version);
    // The block prints the averages the heuristic tunes for (0.17 rounded them up in its metadata).
    dataset = { ...read.metadata, avg_isl: targets.targetInputLen, avg_osl: targets.targetOutputLen };
    log.info(datasetDetailsBlock(dataset));
    if (maxSeqLen !== undefined && maxSeqLen !== dataset.max_sequence_length) {
      log.warn(
        `--max_seq_len ${maxSeqLen} is ignored: the dataset sets max_seq_len to ${dataset.max_sequence_length}.`,
      );
    }
    maxSeqLen = dataset.max_sequence_length;
    targetInputLen = dataset.avg_isl;
    targetOutputLen = dataset.avg_osl;
  }
  if (maxSeqLen === undefined) throw new Error("unreachable: validateBuildMode requires max_seq_len");

  let maxBatchSize: number;
  let maxNumTokens: number;
  let heuristic: HeuristicPlan | undefined;
  let device: DeviceMemory | undefined;
  if (mode.kind === "limits" || mode.kind === "default") {
    if (mode.kind === "limits") {
      log.info("Use user-provided max batch size and max num tokens for engine build and benchmark.");
    }
    maxBatchSize = mode.maxBatchSize;
    maxNumTokens = mode.maxNumTokens;
  } else {
    log.info(
      "Max batch size and max num tokens are not provided, use tuning heuristics or pre-defined setting from llm-bench.",
    );
    if (!isTunedQuant(quant.quantAlgo, version)) {
      maxBatchSize = DEFAULT_MAX_BATCH_SIZE;
      maxNumTokens = DEFAULT_MAX_NUM_TOKENS;
      log.warn(
        `Using default settings because quant_algo not supported. max_batch_size: ${maxBatchSize}, max_num_tokens: ${maxNumTokens}.`,
      );
    } else {
      device = await probeDevice();
      log.info(`Device memory: ${device.totalGb.toFixed(2)} GiB per device (${device.source}).`);
      heuristic = planEngineSetting({
        version,
        geometry: kvGeometry(modelConfig),
        paramCount,
        quantAlgo: quant.quantAlgo,
        kvCacheQuantAlgo: quant.kvCacheQuantAlgo,
        tpSize,
        ppSize,
        targetInputLen: targetInputLen!,
        targetOutputLen: targetOutputLen!,
        deviceMemoryGb: device.totalGb,
      });
      for (const line of heuristic.logLines) log.info(line);
      for (const w of heuristic.warnings) log.warn(w);
      if (heuristic.errors.length > 0) throw new UnsupportedError(heuristic.errors.join("\n"));
      maxBatchSize = heuristic.maxBatchSize;
      maxNumTokens = heuristic.maxNumTokens;
    }
  }
  if (maxSeqLen > modelConfig.maxPositionEmbeddings) {
    log.warn(
      `max_seq_len ${maxSeqLen} exceeds the model's max_position_embeddings ${modelConfig.maxPositionEmbeddings}.`,
    );
  }

  let weightType: string = quant.weightType;
  let planned: number;
  if (weights.kind === "gguf") {
    // Reused as is: a GGUF llama.cpp would abort on fails the build, not the first benchmark.
    await validateGgufFile(weights.file);
    weightType = await ggufFileType(weights.file);
    planned = await fileSize(weights.file);
    if (opts.quantization && weightType !== quant.weightType) {
      log.warn(
        `${weights.file} holds ${weightType} weights and is reused as is; --quantization ${opts.quantization} would give ${quant.weightType}.`,
      );
    }
  } else {
    planned = plannedGgufBytes(
      modelConfig,
      quant.weightType,
      modelConfig.maxPositionEmbeddings,
      paramCount,
      await fileSize(tokenizer?.files.tokenizerJson),
      opts.dryRun === true,
    );
  }
  log.info(`Set dtype to ${modelConfig.dtype}.`);

  const plan: BuildPlan = {
    mode,
    engineDir,
    modelConfig,
    paramCount,
    quant,
    weightType,
    weights,
    maxSeqLen,
    maxInputLen: maxSeqLen,
    maxBatchSize,
    maxNumTokens,
    targetInputLen,
    targetOutputLen,
    dataset,
    heuristic,
    device,
    plannedGgufBytes: planned,
  };
  log.info(
    engineInfoBlock({
      model: opts.model,
      modelPath: opts.modelPath,
      workspace: opts.workspace,
      engineDir,
      maxSeqLen,
      maxBatchSize,
      maxNumTokens,
      quantization: quant.quantAlgo,
      kvCacheDtype: quant.kvCacheQuantAlgo,
      weightType,
      kvCacheType: quant.kvCacheType,
      weightsSource: describeWeights(weights),
    }),
  );
  return { plan, tokenizer };
}

function describeWeights(w: WeightsPlan): string {
  if (w.kind === "dummy") return `dummy (deterministic random, seed ${w.seed})`;
  if (w.kind === "safetensors") return `converted from safetensors in ${w.dir}`;
  return `reused GGUF ${w.file}`;
}

export async function buildEngine(opts: BuildOptions): Promise<BuildResult> {
  const t0 = nowNs();
  const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const tpSize = opts.tpSize ?? 1;
  const ppSize = opts.ppSize ?? 1;
  let probed: Promise<DeviceMemory> | undefined;
  // A real multi-GPU build must see the GPUs even when --device_memory sets the plan's memory.
  const probe = (override: number | undefined) =>
    getDeviceMemory({
      overrideGb: override,
      gpu: opts.gpu ?? "auto",
      ...(opts.deviceProbe ? { probe: opts.deviceProbe } : {}),
    });
  const probeDevice = () => {
    probed ??= probe(opts.deviceMemoryGb);
    return probed;
  };

  if (!opts.dryRun) {
    // The engine directory is written last: a workspace it cannot go into fails before the plan, not after.
    const engineDir = engineDirFor(opts.workspace, opts.model, tpSize, ppSize);
    await checkOutputPaths([{ flag: "--workspace", path: engineDir, kind: "dir" }]);
  }
  const { plan, tokenizer } = await planBuild(opts, probeDevice);
  // No machine can run it (gpu-split.ts), so no GPU count makes it buildable; --dry_run still plans it.
  if (!opts.dryRun && tpSize > 1) throw rowSplitUnsupported(tpSize, ppSize, "build");
  if (opts.dryRun) {
    log.info(
      `Dry run: the engine would hold about ${gib(plan.plannedGgufBytes)} of ${plan.weightType} weights; nothing was written.`,
    );
    return {
      plan,
      written: false,
      engineDir: plan.engineDir,
      ggufPath: undefined,
      ggufBytes: undefined,
      seconds: (nowNs() - t0) / 1e9,
    };
  }
  if (!tokenizer) throw new Error("unreachable: a real build resolves its tokenizer");

  let device = await probeDevice();
  if (device.backend === "override" && tpSize * ppSize > 1) {
    const real = await probe(undefined);
    device = { ...device, gpuCount: real.gpuCount, gpuNames: real.gpuNames, backend: real.backend };
  }
  const parent = dirname(plan.engineDir);
  await checkFeasible(plan, tpSize, ppSize, device, parent);
  await mkdir(parent, { recursive: true });

  const tmp = await mkdtemp(join(parent, `.${basename(plan.engineDir)}.tmp-`));
  try {
    // mkdtemp creates 0700; an engine directory is as readable as any other output.
    await chmod(tmp, 0o755);
    let t = nowNs();
    out("Loading Model: [1/3]\tCopying tokenizer files");
    const tokenizerFiles = ["tokenizer.json"];
    await copyFile(tokenizer.files.tokenizerJson, join(tmp, "tokenizer.json"));
    if (tokenizer.files.tokenizerConfig) {
      await copyFile(tokenizer.files.tokenizerConfig, join(tmp, "tokenizer_config.json"));
      tokenizerFiles.push("tokenizer_config.json");
    }
    out(`Time: ${secs(nowNs() - t)}s`);

    t = nowNs();
    const w = plan.weights;
    let ggufFile: string;
    let ggufBytes: number;
    if (w.kind === "gguf") {
      out(`Loading Model: [2/3]\tReusing GGUF ${w.file}`);
      ggufFile = basename(w.file);
      await linkOrCopy(w.file, join(tmp, ggufFile));
      ggufBytes = await fileSize(join(tmp, ggufFile));
    } else {
      out(
        `Loading Model: [2/3]\tWriting ${plan.weightType} GGUF (${w.kind === "dummy" ? "dummy weights" : "from safetensors"})`,
      );
      ggufFile = `${basename(opts.model)}-${plan.weightType}.gguf`;
      const res = await writeGguf({
        config: plan.modelConfig,
        tokenizerJsonPath: tokenizer.files.tokenizerJson,
        tokenizerConfigPath: tokenizer.files.tokenizerConfig,
        weightType: plan.quant.weightType,
        source: w.kind === "dummy" ? { kind: "dummy", seed: w.seed } : { kind: "safetensors", dir: w.dir },
        // The model's own context length, as llama.cpp's converters write it: any llama.cpp-based server (llama-server
        // caps its slots at this key) can load the engine; the embedded runtime sizes its contexts from the run.
        contextLength: plan.modelConfig.maxPositionEmbeddings,
        outPath: join(tmp, ggufFile),
        onProgress: progressPrinter("Writing GGUF"),
      });
      ggufBytes = res.bytes;
    }
    out(`Time: ${secs(nowNs() - t)}s`);

    t = nowNs();
    out("Loading Model: [3/3]\tSaving engine");
    const config: EngineConfig = {
      version: await llmBenchVersion(),
      pretrained_config: {
        architecture: plan.modelConfig.architecture ?? plan.modelConfig.modelType,
        dtype: plan.modelConfig.dtype,
        quantization: { quant_algo: plan.quant.quantAlgo, kv_cache_quant_algo: plan.quant.kvCacheQuantAlgo },
        mapping: { tp_size: tpSize, pp_size: ppSize, world_size: tpSize * ppSize },
      },
      build_config: {
        max_batch_size: plan.maxBatchSize,
        max_num_tokens: plan.maxNumTokens,
        max_seq_len: plan.maxSeqLen,
        max_input_len: plan.maxInputLen,
        speculative_decoding_mode: "none",
        auto_parallel_config: { gpus_per_node: Math.max(1, device.gpuCount) },
      },
      llm_bench: {
        format: ENGINE_FORMAT,
        model_name: opts.model,
        gguf_file: ggufFile,
        gguf_bytes: ggufBytes,
        weight_type: plan.weightType,
        kv_cache_type: plan.quant.kvCacheType,
        weights_source: w.kind,
        ...(w.kind === "dummy" ? { dummy_seed: w.seed } : {}),
        param_count: plan.paramCount,
        model_config: plan.modelConfig.raw,
        tokenizer_files: tokenizerFiles,
        build_time: new Date().toISOString(),
        build_seconds: Number(((nowNs() - t0) / 1e9).toFixed(3)),
      },
    };
    await writeEngineConfig(tmp, config);
    await swapInto(tmp, plan.engineDir);
    out(`Time: ${secs(nowNs() - t)}s`);
    out("Loading model done.");
    const seconds = (nowNs() - t0) / 1e9;
    out(`Total latency: ${seconds.toFixed(3)}s`);
    log.info(engineSavedBlock(plan.engineDir));
    return {
      plan,
      written: true,
      engineDir: plan.engineDir,
      ggufPath: join(plan.engineDir, ggufFile),
      ggufBytes,
      seconds,
    };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
