/**
 * The only module that touches node-llama-cpp. Model loading and context creation go through its public API;
 * the step loop drives the native context directly (`initBatch` / `addToBatch` / `decodeBatch` / `sampleToken`),
 * because node-llama-cpp's own dispatcher decides batch composition itself, and our scheduler must decide it
 * (max tokens per step, chunked context, admission). Those calls are internal to node-llama-cpp, which is pinned
 * to an exact version in package.json; `assertNativeApi` fails loudly if an upgrade changes them.
 */
import { EngineError } from "../../errors.ts";
import { log } from "../../util/log.ts";
import { validateGgufFile } from "./gguf/validate.ts";

type Llama = import("node-llama-cpp").Llama;
type LlamaModel = import("node-llama-cpp").LlamaModel;
type LlamaContext = import("node-llama-cpp").LlamaContext;

/** The subset of node-llama-cpp's native AddonContext the step loop uses. */
export interface NativeContext {
  initBatch(size: number): void;
  addToBatch(
    sequenceId: number,
    firstTokenSequenceIndex: number,
    tokens: Uint32Array,
    logitIndexes: Uint32Array,
  ): Uint32Array;
  decodeBatch(): Promise<void>;
  sampleToken(batchLogitIndex: number, sampler: NativeSampler): Promise<number>;
  removeTokenCellsFromSequence(sequenceId: number, startPos: number, endPos: number): boolean;
  getMemoryBreakdown(): { cpuRam: number; gpuVram: number };
}
export interface NativeSampler {
  applyConfig(config: { temperature?: number; topK?: number; topP?: number; seed?: number }): void;
  dispose(): void;
}

export interface LlamaRuntime {
  llama: Llama;
  model: LlamaModel;
  context: LlamaContext;
  native: NativeContext;
  newSampler(): NativeSampler;
  /** "cpu", "cuda", "vulkan", "metal". */
  device: string;
  threads: number;
  dispose(): Promise<void>;
}

/** How a llama.cpp context is shaped and run, whatever model it loads (the target engine's or a draft's). */
export interface LlamaRuntimeShape {
  /** llama.cpp sequences: the most requests that can hold KV cells at once. */
  sequences: number;
  /** KV cells of each sequence (max ISL+OSL). */
  contextSize: number;
  /** Max tokens per llama_decode call (max_num_tokens). */
  batchSize: number;
  threads: number;
  /** "auto" lets node-llama-cpp pick a GPU backend when one works here; false forces the CPU. */
  gpu: "auto" | false;
  /** ggml type name for the KV cache (F16, Q8_0, ...). */
  kvCacheType: string;
}

export interface LlamaRuntimeOptions extends LlamaRuntimeShape {
  modelPath: string;
}

/**
 * Greedy-samples every requested position of the last decode. llama.cpp reorders a batch's output rows lazily, in
 * the first logits read after a decode and without a lock, so that read must finish before the others start in
 * parallel (on libuv's pool); otherwise concurrent reads can see half-swapped rows and return wrong tokens.
 */
export async function sampleAll(
  native: NativeContext,
  positions: readonly number[],
  samplers: readonly NativeSampler[],
): Promise<number[]> {
  if (positions.length === 0) return [];
  const head = await native.sampleToken(positions[0]!, samplers[0]!);
  if (positions.length === 1) return [head];
  const rest = new Array<Promise<number>>(positions.length - 1);
  for (let i = 1; i < positions.length; i++) rest[i - 1] = native.sampleToken(positions[i]!, samplers[i]!);
  const tail = await Promise.all(rest);
  tail.unshift(head);
  return tail;
}

/** llama.cpp's compile-time limit on sequences per context (LLAMA_MAX_SEQ). */
export const LLAMA_MAX_SEQUENCES = 256;

/** Node-llama-cpp's version, for the report. */
export async function nodeLlamaCppVersion(): Promise<string> {
  const { createRequire } = await import("node:module");
  const { readFile } = await import("node:fs/promises");
  const { dirname, join } = await import("node:path");
  // The package's "exports" hide package.json: find it from the entry point.
  let dir = dirname(createRequire(import.meta.url).resolve("node-llama-cpp"));
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(await readFile(join(dir, "package.json"), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "node-llama-cpp" && pkg.version) return pkg.version;
    } catch {
      // not this level
    }
  }
  return "unknown";
}

function assertNativeApi(ctx: unknown): asserts ctx is NativeContext {
  const c = ctx as Record<string, unknown> | undefined;
  for (const m of ["initBatch", "addToBatch", "decodeBatch", "sampleToken", "removeTokenCellsFromSequence"]) {
    if (typeof c?.[m] !== "function") {
      throw new EngineError(
        `node-llama-cpp's native context has no '${m}': this llm-bench needs node-llama-cpp 3.21.1 exactly (see docs/architecture.md)`,
      );
    }
  }
}

let llamaPromise: Promise<Llama> | undefined;
let llamaGpu: "auto" | false | undefined;

async function getLlamaOnce(gpu: "auto" | false, threads: number): Promise<Llama> {
  if (llamaPromise && llamaGpu === gpu) return llamaPromise;
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  llamaGpu = gpu;
  llamaPromise = getLlama({
    gpu,
    build: "never",
    // The default (max(cores, 4)) oversubscribes small machines and made decoding 40-100x slower here.
    maxThreads: threads,
    logLevel: LlamaLogLevel.error,
    logger: (level, message) => {
      const text = message.trim();
      if (text) log.debug(`llama.cpp [${level}] ${text}`);
    },
  });
  return llamaPromise;
}

/**
 * Where the embedded engine runs and how much memory is free there for the KV cache: VRAM when node-llama-cpp
 * has a working GPU backend on this machine (CUDA, Vulkan, Metal), RAM otherwise. Probing the supported GPU
 * types first avoids loading a GPU binary on CPU-only machines.
 */
export async function resolveDevice(threads: number): Promise<{ gpu: "auto" | false; freeBytes: number }> {
  const { getLlamaGpuTypes } = await import("node-llama-cpp");
  const { freemem } = await import("node:os");
  const supported = (await getLlamaGpuTypes("supported")).some((t) => t !== false);
  if (!supported) return { gpu: false, freeBytes: freemem() };
  const llama = await getLlamaOnce("auto", threads);
  if (llama.gpu === false) return { gpu: "auto", freeBytes: freemem() };
  const vram = await llama.getVramState();
  return { gpu: "auto", freeBytes: vram.free };
}

export async function loadLlamaRuntime(opts: LlamaRuntimeOptions): Promise<LlamaRuntime> {
  let llama: Llama;
  try {
    llama = await getLlamaOnce(opts.gpu, opts.threads);
  } catch (err) {
    throw new EngineError(
      `cannot load llama.cpp (node-llama-cpp prebuilt binary): ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  // llama.cpp asserts (aborting the process) on some bad hyper-parameters: refuse them here, naming the key.
  await validateGgufFile(opts.modelPath);
  let model: LlamaModel;
  try {
    model = await llama.loadModel({ modelPath: opts.modelPath, gpuLayers: llama.gpu === false ? 0 : "max" });
  } catch (err) {
    throw new EngineError(
      `${opts.modelPath}: llama.cpp could not load the model: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  let context: LlamaContext;
  try {
    context = await model.createContext({
      sequences: opts.sequences,
      contextSize: opts.contextSize,
      batchSize: opts.batchSize,
      threads: opts.threads,
      // Memory planning is ours (KV budget from --kv_cache_free_gpu_mem_fraction); node-llama-cpp's own
      // safety margins would refuse contexts that fit.
      ignoreMemorySafetyChecks: true,
      failedCreationRemedy: false,
      experimentalKvCacheKeyType: opts.kvCacheType as never,
      experimentalKvCacheValueType: opts.kvCacheType as never,
    });
  } catch (err) {
    await model.dispose();
    throw new EngineError(
      `llama.cpp could not create a context of ${opts.sequences} sequences x ${opts.contextSize} tokens ` +
        `(batch ${opts.batchSize}, KV ${opts.kvCacheType}): ${(err as Error).message}`,
      { cause: err },
    );
  }
  const native = (context as unknown as { _ctx: unknown })._ctx;
  assertNativeApi(native);
  const bindings = (llama as unknown as { _bindings: { AddonSampler: new (m: unknown) => NativeSampler } })
    ._bindings;
  const nativeModel = (model as unknown as { _model: unknown })._model;
  return {
    llama,
    model,
    context,
    native,
    newSampler: () => new bindings.AddonSampler(nativeModel),
    device: llama.gpu === false ? "cpu" : llama.gpu,
    threads: opts.threads,
    async dispose() {
      await context.dispose();
      await model.dispose();
    },
  };
}
