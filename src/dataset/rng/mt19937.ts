/**
 * MT19937 (Matsumoto & Nishimura), the generator behind both CPython's `random` and numpy's legacy
 * `RandomState`. The two differ only in how an integer seed is turned into the state: numpy's
 * `np.random.seed(int)` uses `init_genrand`, CPython's `random.seed(int)` uses `init_by_array` over the
 * integer's 32-bit words. Both provide the same 53-bit `random_double`.
 */
const N = 624;
const M = 397;
const UPPER = 0x80000000;
const LOWER = 0x7fffffff;
const MATRIX_A = 0x9908b0df;

export class MT19937 {
  private readonly mt = new Uint32Array(N);
  /**
   * The tempered outputs of the current block and the read position: hot loops (token sampling) read
   * `out[index++]` directly and call `refill()` when `index === 624`, which costs far less than a call per draw.
   */
  readonly out = new Uint32Array(N);
  index = N;

  private constructor() {}

  /** numpy's legacy `RandomState.seed(int)` (and the reference `init_genrand`). */
  static fromSeed(seed: number): MT19937 {
    const g = new MT19937();
    g.initGenrand(seed >>> 0);
    return g;
  }

  /** The reference `init_by_array`; CPython seeds with the little-endian 32-bit words of |seed|. */
  static fromKey(key: ArrayLike<number>): MT19937 {
    const g = new MT19937();
    const mt = g.mt;
    g.initGenrand(19650218);
    const len = key.length;
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, len); k > 0; k--) {
      const prev = mt[i - 1]!;
      const x = (mt[i]! ^ Math.imul(prev ^ (prev >>> 30), 1664525)) >>> 0;
      mt[i] = x + (key[j]! >>> 0) + j;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1]!;
        i = 1;
      }
      if (j >= len) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1]!;
      const x = (mt[i]! ^ Math.imul(prev ^ (prev >>> 30), 1566083941)) >>> 0;
      mt[i] = x - i;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1]!;
        i = 1;
      }
    }
    mt[0] = 0x80000000;
    g.index = N;
    return g;
  }

  private initGenrand(s: number): void {
    const mt = this.mt;
    mt[0] = s;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1]!;
      mt[i] = Math.imul(1812433253, prev ^ (prev >>> 30)) + i;
    }
    this.index = N;
  }

  /** Regenerates all 624 words and tempers them into `out`. */
  refill(): void {
    const mt = this.mt;
    let kk = 0;
    for (; kk < N - M; kk++) {
      const y = (mt[kk]! & UPPER) | (mt[kk + 1]! & LOWER);
      mt[kk] = mt[kk + M]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    for (; kk < N - 1; kk++) {
      const y = (mt[kk]! & UPPER) | (mt[kk + 1]! & LOWER);
      mt[kk] = mt[kk + (M - N)]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    const y = (mt[N - 1]! & UPPER) | (mt[0]! & LOWER);
    mt[N - 1] = mt[M - 1]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    const out = this.out;
    for (let i = 0; i < N; i++) {
      let t = mt[i]!;
      t ^= t >>> 11;
      t ^= (t << 7) & 0x9d2c5680;
      t ^= (t << 15) & 0xefc60000;
      t ^= t >>> 18;
      out[i] = t;
    }
    this.index = 0;
  }

  /** `genrand_uint32`: a uniform unsigned 32-bit integer. */
  nextUint32(): number {
    if (this.index >= N) this.refill();
    return this.out[this.index++]!;
  }

  /** `genrand_res53` / numpy's `mt19937_next_double`: 27 + 26 bits into a double in [0, 1). */
  nextDouble(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }
}
