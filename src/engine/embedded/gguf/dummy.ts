/**
 * Deterministic random weights. Each tensor gets its own xorshift32 stream seeded from (seed, name), so
 * a tensor's values depend neither on the weight type, the chunk size nor the other tensors. Matrices
 * are uniform in ±0.02·√3 (std 0.02); norm weights are 1 and biases 0, so activations stay finite.
 */
import type { TensorPlan } from "./tensor-plan.ts";
import { elementCount } from "./writer.ts";

export const DUMMY_STD = 0.02;
const HALF_WIDTH = DUMMY_STD * Math.sqrt(3);
/** Target chunk size in elements (whole rows are kept together). */
export const CHUNK_ELEMENTS = 1 << 20;

/** FNV-1a over the name, mixed with the seed; never 0 (a zero state would stay zero). */
export function streamSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= Math.imul((seed / 0x100000000) >>> 0, 0x9e3779b1);
  return h >>> 0 || 0x9e3779b9;
}

/** xorshift32 (13, 17, 5) mapped to uniform(−w, w). */
export class UniformStream {
  private s: number;
  constructor(
    seed: number,
    private readonly halfWidth: number = HALF_WIDTH,
  ) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  fill(out: Float32Array): Float32Array {
    let x = this.s;
    const scale = (2 * this.halfWidth) / 4294967296;
    const w = this.halfWidth;
    for (let i = 0; i < out.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = (x >>> 0) * scale - w;
    }
    this.s = x >>> 0;
    return out;
  }
}

/** Chunk length: as many whole rows of `ne0` as fit in CHUNK_ELEMENTS (at least one). */
export function rowChunk(ne0: number, total: number): number {
  return Math.min(total, Math.max(1, Math.floor(CHUNK_ELEMENTS / ne0)) * ne0);
}

/** The dummy values of one planned tensor, in chunks of whole rows. */
export function* dummyTensorValues(t: TensorPlan, seed: number): Generator<Float32Array> {
  const n = elementCount(t.dims);
  if (t.role === "constant") {
    yield Float32Array.from(t.values ?? new Float32Array(n));
    return;
  }
  if (t.role === "norm" || t.role === "bias") {
    yield new Float32Array(n).fill(t.role === "norm" ? 1 : 0);
    return;
  }
  const rng = new UniformStream(streamSeed(seed, t.name));
  const step = rowChunk(t.dims[0]!, n);
  for (let done = 0; done < n; done += step) yield rng.fill(new Float32Array(Math.min(step, n - done)));
}

/** All of a tensor's dummy values at once (tests and small tensors). */
export function dummyTensor(t: TensorPlan, seed: number): Float32Array {
  const out = new Float32Array(elementCount(t.dims));
  let off = 0;
  for (const c of dummyTensorValues(t, seed)) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
