/**
 * The only module that touches node-llama-cpp. Model loading and context creation go through its public API;
 * the step loop drives the native context directly (`initBatch` / `addToBatch` / `decodeBatch` / `sampleToken`),
 * because node-llama-cpp's own dispatcher decides batch composition itself, and our scheduler must decide it
 * (max tokens per step, chunked context, admission). Those calls are internal to node-llama-cpp, which is pinned
 * to an exact version in package.json; `assertNativeApi` fails loudly if an upgrade changes them.
 */
import { availableParallelism } from "node:os";
import { EngineError } from "../../errors.ts";
import { nowNs } from "../../util/clock.ts";
import { enabled, log } from "../../util/log.ts";
import type { DeviceFlag } from "../runtime-knobs.ts";
import type { ComputeDevice } from "../types.ts";
import { validateGgufFile } from "./gguf/validate.ts";
import {
  DECODE_FAILED,
  type DecodeRunSpec,
  type NativeArgmax,
  nativeArgmaxFor,
  nativeOutputsLimiter,
  nativeSequenceMover,
  nativeThreadpoolFor,
  type StepCallback,
} from "./native-greedy.ts";

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
  /** Greedy sampling for this context: native batched argmax when available, else node-llama-cpp's calls. */
  newGreedySampling(): GreedySampling;
  /** Moves a sequence's KV cells to another, empty sequence id; undefined without the native addon. */
  moveSequence: ((from: number, to: number) => void) | undefined;
  /** "cpu", "cuda", "vulkan", "metal". */
  device: string;
  /** The most positions one decode may sample (llama.cpp aborts beyond it); undefined: a whole batch. */
  maxOutputs: number | undefined;
  threads: number;
  /** What ran the model, for the reports. */
  compute: ComputeDevice;
  dispose(): Promise<void>;
}

/** How a llama.cpp context is shaped and run, whatever model it loads (the target engine's or a draft's). */
export interface LlamaRuntimeShape {
  /** llama.cpp sequences: the most requests that can hold KV cells at once. */
  sequences: number;
  /** KV cells of each sequence: the run's max ISL+OSL, padded (contextCells), never the GGUF's context length. */
  contextSize: number;
  /** Max tokens per llama_decode call (max_num_tokens). */
  batchSize: number;
  threads: number;
  /** "auto" lets node-llama-cpp pick a GPU backend when one works here; false forces the CPU. */
  gpu: GpuChoice;
  /** Layers to offload to the GPU ("max": all); ignored on the CPU. */
  gpuLayers?: number | "max" | undefined;
  /** ggml type name for the KV cache (F16, Q8_0, ...). */
  kvCacheType: string;
  /**
   * Greedy sampling in llama.cpp's graph (GreedySampling). Undefined: on where every layer is on a GPU, off on the
   * CPU; LLM_BENCH_DEVICE_SAMPLING=1 or 0 forces either way (1 still needs the output layer on the device).
   */
  deviceSampling?: boolean | undefined;
  /**
   * The most positions sampled in one decode (at least `sequences`), and for one sequence: llama.cpp reserves its
   * logits buffers for this many rows instead of a whole batch. Undefined: a whole batch, one per sequence.
   */
  outputs?: { max: number; perSequence: number } | undefined;
}

/**
 * Whether greedy sampling runs in llama.cpp's graph: the option, else LLM_BENCH_DEVICE_SAMPLING ("1" / "0"), else
 * on exactly where every layer is on a GPU. Never on a GPU holding only part of the model (`allLayersOnGpu`
 * false: the output layer may be on the CPU); undefined means the CPU runs the model.
 */
export function samplesInGraph(
  option: boolean | undefined,
  env: string | undefined,
  allLayersOnGpu: boolean | undefined,
): boolean {
  const wanted = option ?? (env === "1" ? true : env === "0" ? false : allLayersOnGpu === true);
  return wanted && allLayersOnGpu !== false;
}

export interface LlamaRuntimeOptions extends LlamaRuntimeShape {
  modelPath: string;
}

/**
 * libuv's thread pool size, which bounds how many native sampling calls run at once. The CLI's entry point
 * raises it to the core count before anything uses the pool (bin.cts); node's default is 4.
 */
export function threadPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.UV_THREADPOOL_SIZE);
  return Number.isInteger(n) && n >= 1 ? Math.min(n, 1024) : 4;
}

/**
 * Greedy sampling of many positions of one decode, through node-llama-cpp's one-position native call (3.21 has
 * no batched call). Each call copies the whole vocabulary into its sampler's candidate array (12 bytes a token:
 * 1.5 MB for a 128k vocabulary) and scans it, on libuv's pool. With one sampler per sequence, 256 sequences
 * touch 384 MB of cold candidate arrays per step; here a few lanes (one per pool thread) each sample their
 * stripe of positions in turn with one sampler, so each lane's array stays in cache, and lanes run in parallel.
 * A greedy sampler keeps no state between calls, so sharing one along a lane changes no token.
 *
 * llama.cpp reorders a batch's output rows lazily, in the first logits read after a decode and without a lock,
 * so that read finishes before the parallel ones start; otherwise concurrent reads can see half-swapped rows.
 */
export class GreedySampling {
  private readonly samplers: NativeSampler[] = [];
  private disposed = false;
  /** Checked against node-llama-cpp's sampler on the first step before it is trusted. */
  private verified = false;
  /** llama.cpp's greedy sampler runs in the graph: no logits reach the host, so there is no fallback. */
  private onDevice = false;

  constructor(
    private readonly newSampler: () => NativeSampler,
    /** Most lanes sampling at once; more than the pool's threads would only queue. */
    readonly maxLanes: number = threadPoolSize(),
    /** The native one-call sampler (native-greedy.ts), when it loaded for this context. */
    private nativeArgmax?: NativeArgmax | undefined,
    /**
     * Move sampling into llama.cpp's graph once the native sampler is checked: the device argmaxes the output
     * rows and only token ids are copied back (native/greedy.cc RowArgmax, backendGreedy).
     */
    private readonly onDeviceWanted = false,
  ) {}

  /** Where greedy sampling runs, for logs and reports. */
  get path(): string {
    if (this.onDevice) return "llama.cpp greedy in the graph";
    return this.nativeArgmax ? "native batched argmax" : "node-llama-cpp per-position";
  }

  private sampler(lane: number): NativeSampler {
    let s = this.samplers[lane];
    if (!s) {
      s = this.newSampler();
      s.applyConfig({ temperature: 0 });
      this.samplers[lane] = s;
    }
    return s;
  }

  /** The greedy token at each position (logit index) of the last decode, in order. */
  async sample(native: NativeContext, positions: ArrayLike<number>): Promise<number[]> {
    if (this.disposed) throw new EngineError("sampling after the engine stopped");
    const n = positions.length;
    if (n === 0) return [];
    if (this.nativeArgmax) {
      try {
        const tokens = await this.checked(
          native,
          positions,
          await this.nativeArgmax.argmax(Uint32Array.from(positions)),
        );
        if (tokens) return tokens;
      } catch (err) {
        if (this.onDevice) throw new EngineError(`llama.cpp sampling failed: ${(err as Error).message}`);
        this.nativeOff((err as Error).message);
      }
    }
    const out = new Array<number>(n);
    out[0] = await native.sampleToken(positions[0]!, this.sampler(0));
    const lanes = Math.min(this.maxLanes, n - 1);
    if (lanes === 0) return out;
    const stripe = async (lane: number): Promise<void> => {
      const s = this.sampler(lane);
      for (let i = 1 + lane; i < n; i += lanes) out[i] = await native.sampleToken(positions[i]!, s);
    };
    const running = new Array<Promise<void>>(lanes);
    for (let lane = 0; lane < lanes; lane++) running[lane] = stripe(lane);
    await Promise.all(running);
    return out;
  }

  /**
   * Decodes the batch built on `native` (initBatch / addToBatch) and returns the greedy token at each position.
   * `timings` receives [decode ns, sampling ns]. With the native sampler both run in one call on one pool thread
   * (timed there, so the hops to and from the pool are in neither); otherwise node-llama-cpp's decodeBatch, then
   * sample(), each timed from call to resolution on the event loop.
   */
  async decodeAndSample(
    native: NativeContext,
    positions: number[],
    timings: Float64Array,
  ): Promise<number[]> {
    if (this.disposed) throw new EngineError("sampling after the engine stopped");
    const fast = this.nativeArgmax;
    if (fast) {
      let tokens: Uint32Array;
      try {
        tokens = await fast.decodeArgmax(Uint32Array.from(positions), timings);
      } catch (err) {
        if ((err as { code?: string }).code === DECODE_FAILED) throw err;
        // The decode ran; only the argmax failed: node-llama-cpp samples this step and every later one.
        this.nativeOff((err as Error).message);
        const t = nowNs();
        const out = await this.sample(native, positions);
        timings[1] = nowNs() - t;
        return out;
      }
      return (await this.checked(native, positions, tokens)) ?? this.sample(native, positions);
    }
    const t0 = nowNs();
    await native.decodeBatch();
    const t1 = nowNs();
    const out = await this.sample(native, positions);
    timings[0] = t1 - t0;
    timings[1] = nowNs() - t1;
    return out;
  }

  /**
   * The native sampler's tokens, once trusted: on its first sampled step node-llama-cpp's sampler must choose the
   * same token at the first position (read after the native call, which did llama.cpp's lazy row reorder; never
   * concurrently with it). On a mismatch the native sampler is switched off and undefined returned.
   */
  private async checked(
    native: NativeContext,
    positions: ArrayLike<number>,
    tokens: Uint32Array,
  ): Promise<number[] | undefined> {
    if (this.verified || positions.length === 0) return Array.from(tokens);
    const reference = await native.sampleToken(positions[0]!, this.sampler(0));
    if (tokens[0] === reference) {
      this.verified = true;
      if (this.onDeviceWanted) this.toDevice();
      return Array.from(tokens);
    }
    this.nativeOff(`it chose ${tokens[0]} where node-llama-cpp chose ${reference}`);
    return undefined;
  }

  /** From the next decode on, llama.cpp samples in its graph; where it refuses, the host keeps sampling. */
  private toDevice(): void {
    try {
      this.nativeArgmax!.attachBackendSampler();
      this.onDevice = true;
      log.debug("greedy sampling: in llama.cpp's graph from the next decode");
    } catch (err) {
      log.warn(`greedy sampling stays on the host: ${(err as Error).message}`);
    }
  }

  private nativeOff(reason: string): void {
    log.warn(`native greedy sampler off: ${reason}; sampling through node-llama-cpp`);
    this.nativeArgmax = undefined;
  }

  /** Whether decodeRun is available: the native sampler loaded and has been checked against node-llama-cpp. */
  get canRun(): boolean {
    return this.verified && this.nativeArgmax !== undefined;
  }

  /**
   * A native decode run (native/greedy.cc): only when canRun. Resolves with the steps posted to onStep; the
   * caller waits until that many have reached it (the last may arrive after the promise settles).
   */
  decodeRun(run: DecodeRunSpec, onStep: StepCallback): Promise<number> {
    if (this.disposed) throw new EngineError("sampling after the engine stopped");
    if (!this.canRun) throw new EngineError("decode runs need the checked native sampler");
    return this.nativeArgmax!.decodeRun(run, onStep);
  }

  /** Before the context is disposed. */
  dispose(): void {
    if (this.onDevice) {
      this.onDevice = false;
      try {
        this.nativeArgmax?.detachBackendSampler();
      } catch (err) {
        log.debug(`greedy sampling: detaching llama.cpp's samplers failed: ${(err as Error).message}`);
      }
    }
    this.disposed = true;
    for (const s of this.samplers) s.dispose();
    this.samplers.length = 0;
  }
}

/** llama.cpp's compile-time limit on sequences per context (LLAMA_MAX_SEQ). */
export const LLAMA_MAX_SEQUENCES = 256;

/**
 * KV cells llama.cpp gives each sequence for a run of `maxSeqLen` tokens: node-llama-cpp pads a context below the
 * model's trained length up to a multiple of 256 (`contextSizePad`, from llama.cpp's GGML_PAD of n_ctx), and the
 * GGUF's context length is the model's own, so the padding applies. The KV budget is planned on these cells.
 */
export const LLAMA_CONTEXT_PAD = 256;
export function contextCells(maxSeqLen: number): number {
  return Math.ceil(maxSeqLen / LLAMA_CONTEXT_PAD) * LLAMA_CONTEXT_PAD;
}

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

/** `--device`: node-llama-cpp's `gpu` option ("auto", a backend, or false for the CPU). */
export type GpuChoice = "auto" | false | "cuda" | "vulkan" | "metal";

export function gpuChoice(device: DeviceFlag | undefined): GpuChoice {
  return device === undefined || device === "auto" ? "auto" : device === "cpu" ? false : device;
}

/**
 * node-llama-cpp's "no binary" failures, as one message saying what is missing and how to get it. It loads
 * prebuilt binaries from optional npm packages (@node-llama-cpp/<platform>[-cuda|-vulkan]) and never builds
 * here (build: "never").
 */
export function llamaLoadError(err: unknown, gpu: GpuChoice): EngineError {
  const e = err as Error;
  const what = gpu === false ? "the CPU" : gpu === "auto" ? "this machine" : gpu.toUpperCase();
  const noBinary = e?.name === "NoBinaryFoundError" || /no (prebuilt )?binar/i.test(e?.message ?? "");
  if (noBinary) {
    const pkg = `@node-llama-cpp/${process.platform}-${process.arch}${gpu === "cuda" || gpu === "vulkan" ? `-${gpu}` : ""}`;
    return new EngineError(
      `no llama.cpp binary for ${what}: node-llama-cpp's prebuilt package ${pkg} is not installed ` +
        "(installs with --omit=optional or NODE_LLAMA_CPP_SKIP_DOWNLOAD skip it), and llm-bench never compiles " +
        `llama.cpp during a run. Reinstall without --omit=optional, or build one with \`npx node-llama-cpp source build${
          gpu === "cuda" || gpu === "vulkan" ? ` --gpu ${gpu}` : ""
        }\` (CMake and a C++ compiler${gpu === "cuda" ? ", the CUDA toolkit" : ""}), or run with --device cpu.`,
      { cause: err },
    );
  }
  return new EngineError(`cannot load llama.cpp for ${what} (node-llama-cpp): ${e?.message ?? String(err)}`, {
    cause: err,
  });
}

let llamaPromise: Promise<Llama> | undefined;
let llamaGpu: GpuChoice | undefined;

async function getLlamaOnce(gpu: GpuChoice, threads: number): Promise<Llama> {
  if (llamaPromise && llamaGpu === gpu) return llamaPromise;
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  llamaGpu = gpu;
  llamaPromise = getLlama({
    gpu,
    build: "never",
    // The default (max(cores, 4)) oversubscribes small machines and made decoding 40-100x slower here.
    maxThreads: threads,
    // llama.cpp's own messages (buffers, devices, offload) at --log_level debug, else only its errors.
    logLevel: enabled("debug") ? LlamaLogLevel.info : LlamaLogLevel.error,
    logger: (level, message) => {
      const text = message.trim();
      if (text) log.debug(`llama.cpp [${level}] ${text}`);
    },
  })
    .catch((err: unknown) => {
      llamaPromise = undefined;
      throw llamaLoadError(err, gpu);
    })
    .then((llama) => {
      // node-llama-cpp falls back to another backend rather than fail; a backend the user named must be the one.
      if (typeof gpu === "string" && gpu !== "auto" && llama.gpu !== gpu) {
        llamaPromise = undefined;
        throw new EngineError(
          `--device ${gpu}: llama.cpp cannot run on ${gpu.toUpperCase()} here (node-llama-cpp loaded ${
            llama.gpu === false ? "the CPU backend" : llama.gpu
          } instead: no ${gpu} binary, driver or device). Use --device auto or cpu.`,
        );
      }
      return llama;
    });
  return llamaPromise;
}

/**
 * Where the embedded engine runs and how much memory is free there for the KV cache: VRAM when node-llama-cpp
 * has a working GPU backend on this machine (CUDA, Vulkan, Metal), RAM otherwise. Probing the supported GPU
 * types first avoids loading a GPU binary on CPU-only machines.
 */
export async function resolveDevice(
  threads: number,
  requested: GpuChoice = "auto",
): Promise<{ gpu: GpuChoice; freeBytes: number }> {
  const { getLlamaGpuTypes } = await import("node-llama-cpp");
  const { freemem } = await import("node:os");
  if (requested === false) return { gpu: false, freeBytes: freemem() };
  if (requested === "auto") {
    const supported = (await getLlamaGpuTypes("supported")).some((t) => t !== false);
    if (!supported) return { gpu: false, freeBytes: freemem() };
  }
  const llama = await getLlamaOnce(requested, threads);
  if (llama.gpu === false) return { gpu: requested, freeBytes: freemem() };
  const vram = await llama.getVramState();
  return { gpu: requested, freeBytes: vram.free };
}

/**
 * Until restore(), every AddonContext node-llama-cpp constructs gets at most `n` outputs per decode before its
 * init() (the binding class is swapped for a subclass: node-llama-cpp has no option for it). Undefined where
 * the shape sets no limit or the addon is missing.
 */
function limitedOutputs(llama: Llama, shape: LlamaRuntimeShape): { n: number; restore(): void } | undefined {
  if (shape.outputs === undefined) return undefined;
  const limiter = nativeOutputsLimiter();
  if (!limiter) return undefined;
  const limit: (addonContext: unknown, n: number, perSequence: number) => void = limiter;
  const n = Math.max(shape.outputs.max, shape.sequences);
  const perSequence = Math.min(n, Math.max(1, shape.outputs.perSequence));
  const bindings = (llama as unknown as { _bindings: { AddonContext: new (...a: unknown[]) => object } })
    ._bindings;
  const Original = bindings.AddonContext;
  const Limited = class extends Original {
    constructor(...args: unknown[]) {
      super(...args);
      limit(this, n, perSequence);
    }
  };
  bindings.AddonContext = Limited;
  return {
    n,
    restore() {
      if (bindings.AddonContext === Limited) bindings.AddonContext = Original;
    },
  };
}

let contextCreation: Promise<void> = Promise.resolve();

/** 2 rows of a 128k vocabulary (8 of a 32k one): at most ~0.05 ms on the event loop. */
const SYNC_ARGMAX_FLOATS = 262_144;

export async function loadLlamaRuntime(opts: LlamaRuntimeOptions): Promise<LlamaRuntime> {
  const llama = await getLlamaOnce(opts.gpu, opts.threads);
  // llama.cpp asserts (aborting the process) on some bad hyper-parameters: refuse them here, naming the key.
  await validateGgufFile(opts.modelPath);
  let model: LlamaModel;
  try {
    model = await llama.loadModel({
      modelPath: opts.modelPath,
      gpuLayers: llama.gpu === false ? 0 : (opts.gpuLayers ?? "max"),
    });
  } catch (err) {
    throw new EngineError(
      `${opts.modelPath}: llama.cpp could not load the model: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  let context: LlamaContext;
  // One context creation at a time: the binding class swapped by limitedOutputs is shared by the process.
  const created = contextCreation;
  let done!: () => void;
  contextCreation = new Promise<void>((r) => {
    done = r;
  });
  await created;
  let maxOutputs: ReturnType<typeof limitedOutputs>;
  try {
    maxOutputs = limitedOutputs(llama, opts);
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
  } finally {
    maxOutputs?.restore();
    done();
  }
  const native = (context as unknown as { _ctx: unknown })._ctx;
  assertNativeApi(native);
  const bindings = (llama as unknown as { _bindings: { AddonSampler: new (m: unknown) => NativeSampler } })
    ._bindings;
  const nativeModel = (model as unknown as { _model: unknown })._model;
  const onGpu = llama.gpu !== false;
  const shape = { contextSize: opts.contextSize, sequences: opts.sequences, batchSize: opts.batchSize };
  // On the CPU, threads kept between steps instead of started per graph (native-greedy.ts); on a GPU the CPU
  // backend's share of a step is small and the measured figures are without it.
  const threadpool =
    !onGpu && opts.threads > 1 ? nativeThreadpoolFor(native, shape, opts.threads) : undefined;
  // Greedy sampling in llama.cpp's graph (GreedySampling) is the default where the whole model is on a GPU: on an
  // H100 the host argmax's copy-and-scan of every row slowed the next decode (batch 64: 0.898 of
  // llama-batched-bench, 0.970 in the graph), and refills cost it 2-3 % (docs/performance.md). On the CPU its
  // graph nodes cost more than the native argmax (batch 64 decode steps 25.5 -> 34 ms), so there it is opt-in. It
  // needs the output layer on the device that samples.
  const samplesOnDevice = samplesInGraph(
    opts.deviceSampling,
    process.env.LLM_BENCH_DEVICE_SAMPLING,
    onGpu ? model.gpuLayers >= model.fileInsights.totalLayers : undefined,
  );
  const compute: ComputeDevice = {
    backend: onGpu ? String(llama.gpu) : "cpu",
    devices: onGpu ? await llama.getGpuDeviceNames() : [],
    vramTotalBytes: onGpu ? (await llama.getVramState()).total : undefined,
    gpuLayers: onGpu ? { offloaded: model.gpuLayers, total: model.fileInsights.totalLayers } : undefined,
    // llama.cpp turns flash attention on for a quantized V cache; otherwise "auto" decides per device.
    flashAttention: /^(F32|F16|BF16)$/i.test(opts.kvCacheType) ? "auto" : "on",
    threads: opts.threads,
  };
  return {
    llama,
    model,
    context,
    native,
    moveSequence: nativeSequenceMover(native),
    newGreedySampling: () =>
      new GreedySampling(
        () => new bindings.AddonSampler(nativeModel),
        threadPoolSize(),
        // On the CPU the logits are ready when the decode returns: a row or two (~0.02 ms each) is argmaxed on
        // the calling thread rather than hopping to a pool thread and back (~0.1 ms); on a GPU never, since
        // reading the logits there waits for the device.
        // Argmax threads: on a GPU host the cores are idle during sampling; on the CPU only those llama.cpp's
        // threads leave free (its pool's threads spin between steps: more sampler threads only contend), unless
        // the rows are many: then the native side pauses that pool and takes its cores too (native/greedy.cc).
        nativeArgmaxFor(
          native,
          shape,
          onGpu ? availableParallelism() : Math.max(1, availableParallelism() - opts.threads),
          onGpu ? 0 : SYNC_ARGMAX_FLOATS,
        ),
        samplesOnDevice,
      ),
    device: llama.gpu === false ? "cpu" : llama.gpu,
    threads: opts.threads,
    maxOutputs: maxOutputs?.n,
    compute,
    async dispose() {
      threadpool?.detach();
      await context.dispose();
      await model.dispose();
    },
  };
}
