/** GGUF engine files for the embedded llama.cpp engine: dummy weights or a converted HF checkpoint. */
import { stat } from "node:fs/promises";
import { ConfigError } from "../../../errors.ts";
import type { ModelConfig } from "../../../model/model-config.ts";
import { FILE_TYPE, type GgufWeightType, isQuantized } from "./constants.ts";
import { dummyTensorValues } from "./dummy.ts";
import { assertConvertible, checkpointValues, resolveSources } from "./hf-names.ts";
import { CheckpointReader, indexCheckpoint } from "./safetensors.ts";
import type { TensorPlan } from "./tensor-plan.ts";
import { planArchitecture, storageType, supportedArchitectures } from "./tensors.ts";
import { buildTokenizerMetadata, type TokenizerMetadata } from "./tokenizer-metadata.ts";
import { elementCount, type GgufKv, type GgufTensorSource, writeGgufFile } from "./writer.ts";

export type { GgufWeightType } from "./constants.ts";
export { supportedArchitectures };

export interface WriteGgufOptions {
  config: ModelConfig;
  tokenizerJsonPath: string;
  tokenizerConfigPath?: string | undefined;
  /** Storage of the matrices (token_embd included); norms, biases and the MoE router stay F32. */
  weightType: GgufWeightType;
  source: { kind: "dummy"; seed: number } | { kind: "safetensors"; dir: string };
  /** Written as `<arch>.context_length`. */
  contextLength: number;
  outPath: string;
  /** Tensor data bytes written so far, and in total. */
  onProgress?: (done: number, total: number) => void;
}

export interface WriteGgufResult {
  path: string;
  bytes: number;
  tensorCount: number;
  paramCount: number;
}

/**
 * The last tokenizer metadata built, keyed by files, their mtimes and the vocab size: parsing the 9 MB
 * Llama-3 tokenizer.json costs about a second, and a process often writes several files from one.
 */
let lastTokenizer: { key: string; meta: Promise<TokenizerMetadata> } | undefined;

async function tokenizerMetadata(json: string, cfg: string | undefined, vocabSize: number) {
  const mtime = (p: string | undefined) =>
    p
      ? stat(p).then(
          (s) => s.mtimeMs,
          () => -1,
        )
      : -1;
  const key = JSON.stringify([json, cfg, vocabSize, await mtime(json), await mtime(cfg)]);
  if (lastTokenizer?.key !== key) {
    const meta = buildTokenizerMetadata({ tokenizerJsonPath: json, tokenizerConfigPath: cfg, vocabSize });
    lastTokenizer = { key, meta };
    meta.catch(() => {
      if (lastTokenizer?.meta === meta) lastTokenizer = undefined;
    });
  }
  return lastTokenizer.meta;
}

export async function writeGguf(opts: WriteGgufOptions): Promise<WriteGgufResult> {
  const { config } = opts;
  if (!Number.isInteger(opts.contextLength) || opts.contextLength <= 0) {
    throw new ConfigError(`context length must be a positive integer, got ${opts.contextLength}`);
  }
  const plan = planArchitecture(config, opts.contextLength);
  const tok = await tokenizerMetadata(opts.tokenizerJsonPath, opts.tokenizerConfigPath, config.vocabSize);
  const kvs: GgufKv[] = [
    { key: "general.architecture", type: "str", value: plan.arch },
    { key: "general.name", type: "str", value: config.name },
    { key: "general.file_type", type: "u32", value: FILE_TYPE[opts.weightType] },
  ];
  if (isQuantized(opts.weightType)) kvs.push({ key: "general.quantization_version", type: "u32", value: 2 });
  kvs.push(...plan.kvs, ...tok.kvs);

  const src = opts.source;
  let values: (t: TensorPlan) => AsyncIterable<Float32Array> | Iterable<Float32Array>;
  let reader: CheckpointReader | undefined;
  if (src.kind === "dummy") {
    values = (t) => dummyTensorValues(t, src.seed);
  } else {
    assertConvertible(config);
    const index = await indexCheckpoint(src.dir);
    const sources = resolveSources(plan.tensors, config, index, src.dir);
    const r = new CheckpointReader();
    reader = r;
    values = (t) =>
      t.role === "constant"
        ? dummyTensorValues(t, 0)
        : checkpointValues(t, sources.get(t.name)!, r, config.headSize);
  }
  const tensors: GgufTensorSource[] = plan.tensors.map((t) => ({
    name: t.name,
    dims: t.dims,
    type: storageType(t, opts.weightType),
    values: () => values(t),
  }));
  try {
    const res = await writeGgufFile(opts.outPath, kvs, tensors, opts.onProgress);
    return {
      path: res.path,
      bytes: res.bytes,
      tensorCount: tensors.length,
      paramCount: plan.tensors.reduce((a, t) => a + elementCount(t.dims), 0),
    };
  } finally {
    await reader?.close();
  }
}
