/**
 * numpy's legacy global generator as trtllm-bench uses it: `np.random.seed(seed)` then
 * `np.random.normal(loc, scale, size)`. Integer seeds go through `init_genrand` (not `init_by_array`), and
 * `legacy_gauss` is the Marsaglia polar method that caches the second value of each pair.
 *
 * Caveat: the polar method calls log(); V8's Math.log and the C library's may differ in the last bit for
 * rare inputs, which could change a length only if a draw then lands within 1 ulp of an integer.
 */
import { MT19937 } from "./mt19937.ts";

export class NumpyRandomState {
  private readonly mt: MT19937;
  private gaussCached: number | undefined;

  /** `np.random.seed(seed)` for 0 ≤ seed < 2**32 (numpy rejects anything else). */
  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new RangeError("Seed must be between 0 and 2**32 - 1");
    }
    this.mt = MT19937.fromSeed(seed);
  }

  /** `random_sample()`: the 53-bit double. */
  randomSample(): number {
    return this.mt.nextDouble();
  }

  /** `legacy_gauss`: a standard normal draw. */
  gauss(): number {
    if (this.gaussCached !== undefined) {
      const g = this.gaussCached;
      this.gaussCached = undefined;
      return g;
    }
    let x1: number;
    let x2: number;
    let r2: number;
    do {
      x1 = 2.0 * this.mt.nextDouble() - 1.0;
      x2 = 2.0 * this.mt.nextDouble() - 1.0;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 === 0.0);
    const f = Math.sqrt((-2.0 * Math.log(r2)) / r2);
    this.gaussCached = f * x1;
    return f * x2;
  }

  /** `normal(loc, scale, size)`: each value is `loc + scale * gauss()` (draws happen even when scale is 0). */
  normal(loc: number, scale: number, size: number): Float64Array {
    if (!(scale >= 0)) throw new RangeError("scale < 0");
    const out = new Float64Array(size);
    for (let i = 0; i < size; i++) out[i] = loc + scale * this.gauss();
    return out;
  }
}
