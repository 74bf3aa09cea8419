/**
 * Where a build's weights come from (dummy, a safetensors checkpoint, or a GGUF reused as is) and how large the
 * GGUF it writes will be.
 */
import { readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { ConfigError } from "../../errors.ts";
import type { ModelConfig } from "../../model/model-config.ts";
import { GGUF_BYTES_PER_WEIGHT, type GgufWeightType } from "../../model/quantization.ts";
import { log } from "../../util/log.ts";
import { tensorBytes } from "./gguf/constants.ts";
import { planArchitecture, storageType } from "./gguf/tensors.ts";
import { alignUp, elementCount } from "./gguf/writer.ts";

export type WeightsPlan =
  | { kind: "dummy"; seed: number }
  | { kind: "safetensors"; dir: string }
  | { kind: "gguf"; file: string };

async function kindOf(path: string): Promise<"file" | "dir" | undefined> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? "dir" : s.isFile() ? "file" : undefined;
  } catch {
    return undefined;
  }
}

/**
 * No `--model_path` (or `--no_weights_loading`): dummy weights of the config's shape. A `.gguf` file, or a folder
 * holding one and no safetensors, is reused as is. A folder with `model.safetensors[.index.json]` is converted.
 */
export async function locateWeights(
  modelPath: string | undefined,
  noWeightsLoading: boolean,
  seed: number,
): Promise<WeightsPlan> {
  if (modelPath === undefined) return { kind: "dummy", seed };
  const path = resolve(modelPath);
  const kind = await kindOf(path);
  if (kind === undefined) throw new ConfigError("--model_path does not exist", modelPath);
  if (noWeightsLoading) {
    log.info("--no_weights_loading: the engine gets dummy weights of the checkpoint's shape.");
    return { kind: "dummy", seed };
  }
  if (kind === "file") {
    if (path.endsWith(".gguf")) return { kind: "gguf", file: path };
    throw new ConfigError("--model_path must be a checkpoint directory or a .gguf file", modelPath);
  }
  const names = await readdir(path);
  if (names.includes("model.safetensors") || names.includes("model.safetensors.index.json")) {
    return { kind: "safetensors", dir: path };
  }
  const ggufs = names.filter((n) => n.endsWith(".gguf")).sort();
  if (ggufs.length === 1) return { kind: "gguf", file: join(path, ggufs[0]!) };
  if (ggufs.length > 1) {
    throw new ConfigError(
      `holds several GGUF files (${ggufs.join(", ")}); give the one to use as --model_path`,
      modelPath,
    );
  }
  log.warn(`${modelPath} holds no safetensors or GGUF weights; the engine gets dummy weights.`);
  return { kind: "dummy", seed };
}

/**
 * Bytes of the GGUF a build writes: the exact tensor data of the architecture's tensor plan plus the tokenizer
 * metadata (about the size of tokenizer.json). For an architecture the writer does not know, a dry run falls
 * back to parameters x bytes per weight; a real build fails as the writer would.
 */
export function plannedGgufBytes(
  config: ModelConfig,
  weightType: GgufWeightType,
  contextLength: number,
  paramCount: number,
  tokenizerBytes: number,
  dryRun: boolean,
): number {
  let data: number;
  try {
    const plan = planArchitecture(config, contextLength);
    data = 0;
    for (const t of plan.tensors)
      data += alignUp(tensorBytes(storageType(t, weightType), elementCount(t.dims)));
  } catch (err) {
    if (!dryRun) throw err;
    log.warn(
      `${(err as Error).message}: a real build would fail; the size below is parameters x bytes per weight.`,
    );
    data = Math.ceil(paramCount * GGUF_BYTES_PER_WEIGHT[weightType]);
  }
  return data + tokenizerBytes;
}

/** The weight type of an existing GGUF (`general.file_type`), e.g. Q8_0 or Q4_K_M. */
export async function ggufFileType(file: string): Promise<string> {
  const { readGgufFileInfo, GgufFileType } = await import("node-llama-cpp");
  let info: Awaited<ReturnType<typeof readGgufFileInfo>>;
  try {
    info = await readGgufFileInfo(file, {
      readTensorInfo: false,
      logWarnings: false,
      ignoreKeys: [
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.merges",
        "tokenizer.ggml.token_type",
        "tokenizer.ggml.scores",
      ],
    });
  } catch (err) {
    throw new ConfigError(`not a readable GGUF file: ${(err as Error).message}`, file, { cause: err });
  }
  const ft = info.metadata.general?.file_type;
  if (typeof ft !== "number") return "UNKNOWN";
  const name = (GgufFileType as unknown as Record<number, string | undefined>)[ft];
  return name ? name.replace(/^(MOSTLY|ALL)_/, "") : `FILE_TYPE_${ft}`;
}
