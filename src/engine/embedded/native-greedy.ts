/**
 * The optional native greedy sampler (native/greedy.cc, built into dist/native by `npm run build` where a C++
 * compiler exists): one call argmaxes every sampled position of a decode on llama.cpp's logits, on a few
 * threads, instead of one node-llama-cpp call per position that copies the whole vocabulary first. Loading it
 * never fails a run: any problem (no build, another platform, a node-llama-cpp whose object layout differs)
 * leaves the caller on node-llama-cpp's sampler, and the reason is logged at debug level.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { log } from "../../util/log.ts";

interface Addon {
  init(libllama: string): void;
  contextHandle(ctx: unknown, nCtxMin: number, nCtxMax: number, nBatch: number, nSeqMax: number): unknown;
  argmax(handle: unknown, positions: Uint32Array, threads: number, syncFloats?: number): Promise<Uint32Array>;
  decodeArgmax(
    context: unknown,
    positions: Uint32Array,
    threads: number,
    timings: Float64Array,
  ): Promise<Uint32Array>;
  decodeRun(
    context: unknown,
    positions: Uint32Array,
    threads: number,
    spec: Int32Array,
    maxSteps: number,
    control: Int32Array,
    onStep: StepCallback,
  ): Promise<number>;
  argmaxRow(row: Float32Array): number;
  moveSequence(context: unknown, from: number, to: number): void;
  backendGreedy(context: unknown, on: boolean): number;
  limitOutputs(context: unknown, n: number, perSequence: number): void;
  pausedArgmaxSteps(): number;
  attachThreadpool(handle: unknown, threads: number): unknown;
  detachThreadpool(handle: unknown, pool: unknown): void;
}

export interface NativeArgmax {
  /** Greedy tokens at the given batch indexes of the last decode. */
  argmax(positions: Uint32Array): Promise<Uint32Array>;
  /**
   * Decodes the batch built with node-llama-cpp's initBatch/addToBatch, then argmaxes the given batch indexes,
   * both on one pool thread; `timings` receives [decode ns, argmax ns] as timed there. A failed decode rejects
   * with code DECODE_FAILED; any other rejection is the sampler's (the decode itself succeeded).
   */
  decodeArgmax(positions: Uint32Array, timings: Float64Array): Promise<Uint32Array>;
  /** Runs up to run.maxSteps steps; resolves with how many steps were posted to onStep (all of them reach it). */
  decodeRun(run: DecodeRunSpec, onStep: StepCallback): Promise<number>;
  /**
   * Attaches llama.cpp's greedy sampler to every sequence of the context, in its compute graph: later decodes
   * bring back token ids instead of logits, and the calls above read those. Throws where llama.cpp refuses it.
   * Only between steps.
   */
  attachBackendSampler(): void;
  /** Detaches and frees them (before the context is disposed); a no-op when none is attached. */
  detachBackendSampler(): void;
}

/**
 * One step of a decode run, on the event loop: the tokens sampled (null on failure), the decode and argmax times
 * as timed on the pool thread, when the step ended (process.hrtime.bigint()'s clock), and the failure.
 */
export type StepCallback = (
  tokens: Uint32Array | null,
  decodeNs: number,
  sampleNs: number,
  endNs: bigint,
  error: string | undefined,
  decodeFailed: boolean,
) => void;

/** The sequences of a decode run (native/greedy.cc's decodeRun says what a run is). */
export interface DecodeRunSpec {
  /** Batch indexes of the first step's sampled positions, one per sequence, in item order. */
  positions: Uint32Array;
  /** [llama.cpp sequence id × n, position of the step-1 token × n, EOS token id or -1 × n]. */
  spec: Int32Array;
  maxSteps: number;
  /**
   * On a SharedArrayBuffer: [0] non-zero: no further step starts; [1] steps the event loop has applied (a step
   * starts only once the one before the previous is applied).
   */
  control: Int32Array;
}

/** The `code` of a decodeArgmax rejection whose llama_decode failed. */
export const DECODE_FAILED = "LLM_BENCH_DECODE_FAILED";

/** The context's shape, as llm-bench created it: the addon checks node-llama-cpp's copy against it. */
export interface ContextShape {
  contextSize: number;
  sequences: number;
  batchSize: number;
}

function addonPath(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++, dir = resolve(dir, "..")) {
    const p = join(dir, "dist", "native", "greedy.node");
    if (existsSync(p)) return p;
    if (existsSync(join(dir, "native", "greedy.node"))) return join(dir, "native", "greedy.node");
  }
  return undefined;
}

/** The libllama node-llama-cpp loaded into this process (its functions are looked up there, never linked). */
export function loadedLibllama(maps = "/proc/self/maps"): string | undefined {
  try {
    for (const line of readFileSync(maps, "utf8").split("\n")) {
      const path = line.slice(line.indexOf("/"));
      if (line.includes("/") && /\/libllama[^/]*\.so[^/]*$/.test(path)) return path.trim();
    }
  } catch {
    // not Linux
  }
  return undefined;
}

let addon: Addon | null | undefined;

function loadAddon(): Addon | undefined {
  if (addon !== undefined) return addon ?? undefined;
  addon = null;
  const path = addonPath();
  const lib = loadedLibllama();
  if (!path || !lib) {
    log.debug(
      `native greedy sampler: unavailable (${!path ? "not built: npm run build" : "libllama not found in this process"})`,
    );
    return undefined;
  }
  try {
    const a = createRequire(import.meta.url)(path) as Addon;
    a.init(lib);
    addon = a;
  } catch (err) {
    log.debug(`native greedy sampler: cannot load ${path}: ${(err as Error).message}`);
  }
  return addon ?? undefined;
}

/**
 * The native argmax kernel on one row, or undefined where the addon is not built. For tests: it must choose what
 * llama.cpp's greedy sampler chooses (the first maximum; NaN never, except a NaN first value).
 */
export function nativeArgmaxRow(): ((row: Float32Array) => number) | undefined {
  const a = builtAddon();
  return a && ((row) => a.argmaxRow(row));
}

/** The built addon, loaded without init(): for its functions that need no llama.cpp (the tests' probes). */
function builtAddon(): Addon | undefined {
  const path = addonPath();
  return path ? (createRequire(import.meta.url)(path) as Addon) : undefined;
}

/**
 * Moves a sequence's KV cells to another (empty) sequence id in node-llama-cpp's context (native/greedy.cc
 * moveSequence), or undefined where the addon is missing or LLM_BENCH_COMPACT_SLOTS=0: the scheduler then leaves
 * gaps in the sequence ids open (each costs llama.cpp a forward pass per step).
 */
export function nativeSequenceMover(
  nativeContext: unknown,
): ((from: number, to: number) => void) | undefined {
  if (process.env.LLM_BENCH_COMPACT_SLOTS === "0") {
    log.debug("sequence compaction: off (LLM_BENCH_COMPACT_SLOTS=0)");
    return undefined;
  }
  const a = loadAddon();
  if (!a) return undefined;
  return (from, to) => a.moveSequence(nativeContext, from, to);
}

/**
 * Sets the most outputs one llama_decode may ask for on node-llama-cpp's AddonContext before its init()
 * (native/greedy.cc limitOutputs says why), or undefined where the addon is missing: llama.cpp then reserves for
 * a whole batch of outputs.
 */
export function nativeOutputsLimiter():
  | ((addonContext: unknown, n: number, perSequence: number) => void)
  | undefined {
  const a = loadAddon();
  return a && ((ctx, n, perSequence) => a.limitOutputs(ctx, n, perSequence));
}

/**
 * How many steps' argmax paused llama.cpp's CPU thread pool and ran on its cores too (native/greedy.cc
 * ArgmaxRows), process-wide; undefined where the addon is not built. For tests.
 */
export function nativePausedArgmaxSteps(): number | undefined {
  return builtAddon()?.pausedArgmaxSteps();
}

/** node-llama-cpp's llama_context, once the addon has checked its layout against the shape llm-bench created. */
function contextHandle(a: Addon, nativeContext: unknown, shape: ContextShape): unknown {
  const cells = shape.contextSize * shape.sequences;
  return a.contextHandle(nativeContext, cells, cells + 1024, shape.batchSize, shape.sequences);
}

/** The native sampler bound to one node-llama-cpp context, or undefined (the caller keeps node-llama-cpp's). */
export function nativeArgmaxFor(
  nativeContext: unknown,
  shape: ContextShape,
  threads: number,
  /** Rows of at most this many logits are argmaxed on the calling thread (0: never; CPU backend only). */
  syncFloats = 0,
): NativeArgmax | undefined {
  if (process.env.LLM_BENCH_NATIVE_SAMPLER === "0") {
    log.debug("native greedy sampler: off (LLM_BENCH_NATIVE_SAMPLER=0)");
    return undefined;
  }
  const a = loadAddon();
  if (!a) return undefined;
  try {
    const handle = contextHandle(a, nativeContext, shape);
    return {
      argmax: (positions) => a.argmax(handle, positions, threads, syncFloats),
      decodeArgmax: (positions, timings) => a.decodeArgmax(nativeContext, positions, threads, timings),
      decodeRun: (run, onStep) =>
        a.decodeRun(nativeContext, run.positions, threads, run.spec, run.maxSteps, run.control, onStep),
      attachBackendSampler: () => {
        a.backendGreedy(nativeContext, true);
      },
      detachBackendSampler: () => {
        a.backendGreedy(nativeContext, false);
      },
    };
  } catch (err) {
    log.debug(`native greedy sampler: not used for this context: ${(err as Error).message}`);
    return undefined;
  }
}

/** A CPU thread pool attached to the context, kept for its life; `detach()` before the context is disposed. */
export interface NativeThreadpool {
  detach(): void;
}

/**
 * Attaches a persistent CPU thread pool of `threads` to the context (native/greedy.cc says why), or returns
 * undefined (the addon is missing, or LLM_BENCH_CPU_THREADPOOL=0): llama.cpp then starts threads per graph.
 */
export function nativeThreadpoolFor(
  nativeContext: unknown,
  shape: ContextShape,
  threads: number,
): NativeThreadpool | undefined {
  if (process.env.LLM_BENCH_CPU_THREADPOOL === "0") {
    log.debug("CPU thread pool: off (LLM_BENCH_CPU_THREADPOOL=0)");
    return undefined;
  }
  const a = loadAddon();
  if (!a) return undefined;
  try {
    const handle = contextHandle(a, nativeContext, shape);
    const pool = a.attachThreadpool(handle, threads);
    let attached = true;
    return {
      detach() {
        if (!attached) return;
        attached = false;
        a.detachThreadpool(handle, pool);
      },
    };
  } catch (err) {
    log.debug(`CPU thread pool: not attached: ${(err as Error).message}`);
    return undefined;
  }
}
