/**
 * CPython's `random.Random` (3.x), the parts trtllm-bench's token sampling uses: `seed(int)`,
 * `getrandbits`, `random`, `_randbelow`, `randint`, `sample(range(n), k)` and `choices(range(n), k=k)`.
 * Every draw consumes the MT19937 stream exactly as CPython does, so the same seed gives the same ids.
 */
import { MT19937 } from "./mt19937.ts";

const TWO32 = 4294967296;

/** CPython seeds `init_by_array` with the little-endian 32-bit words of |seed| (at least one word). */
export function pythonSeedKey(seed: number | bigint): number[] {
  let v = typeof seed === "bigint" ? seed : BigInt(Math.trunc(seed));
  if (typeof seed === "number" && !Number.isSafeInteger(seed))
    throw new RangeError(`seed ${seed} is not a safe integer`);
  if (v < 0n) v = -v;
  const key: number[] = [];
  do {
    key.push(Number(v & 0xffffffffn));
    v >>= 32n;
  } while (v > 0n);
  return key;
}

export class PythonRandom {
  private readonly mt: MT19937;
  /** `sample`'s set path: taken[j] === 1 while j is in the current sample (cleared before returning). */
  private taken: Uint8Array | undefined;

  constructor(seed: number | bigint) {
    this.mt = MT19937.fromKey(pythonSeedKey(seed));
  }

  /** `getrandbits(k)` for 1 ≤ k ≤ 53 (CPython fills low words first and shifts the last one). */
  getrandbits(k: number): number {
    if (k <= 32) return this.mt.nextUint32() >>> (32 - k);
    if (k > 53) throw new RangeError("getrandbits supports at most 53 bits here");
    const lo = this.mt.nextUint32();
    const hi = this.mt.nextUint32() >>> (64 - k);
    return hi * TWO32 + lo;
  }

  random(): number {
    return this.mt.nextDouble();
  }

  /** `_randbelow_with_getrandbits(n)`: rejection sampling on n.bit_length() bits; n ≥ 1. */
  randbelow(n: number): number {
    if (n < TWO32) {
      const shift = Math.clz32(n); // 32 - bit_length(n)
      let r = this.mt.nextUint32() >>> shift;
      while (r >= n) r = this.mt.nextUint32() >>> shift;
      return r;
    }
    // n.bit_length(), exactly (Math.log2 rounds 2**53 - 1 up to 53); n is a safe integer ≥ 2**32 here.
    const k = 64 - Math.clz32(Math.floor(n / TWO32));
    let r = this.getrandbits(k);
    while (r >= n) r = this.getrandbits(k);
    return r;
  }

  /** `randint(a, b)`: inclusive, via `randrange(a, b + 1)`. */
  randint(a: number, b: number): number {
    if (b < a) throw new RangeError(`empty range for randint(${a}, ${b})`);
    return a + this.randbelow(b - a + 1);
  }

  /**
   * `random.sample(range(n), k)` into `out[0..k)`. CPython picks a pool (partial Fisher–Yates) when a list of
   * n is smaller than a set of k, else rejection against a set; both paths are reproduced, as the draws differ.
   */
  sampleRange(n: number, k: number, out: Int32Array | number[]): void {
    if (!(k >= 0 && k <= n)) throw new RangeError("Sample larger than population or is negative");
    let setsize = 21;
    if (k > 5) setsize += 4 ** Math.ceil(Math.log(k * 3) / Math.log(4));
    if (n <= setsize) {
      const pool = new Int32Array(n);
      for (let i = 0; i < n; i++) pool[i] = i;
      for (let i = 0; i < k; i++) {
        const j = this.randbelow(n - i);
        out[i] = pool[j]!;
        pool[j] = pool[n - i - 1]!;
      }
      return;
    }
    if (this.taken === undefined || this.taken.length < n) this.taken = new Uint8Array(n);
    const taken = this.taken;
    if (n < TWO32) {
      // The hot path of dataset generation: MT19937's output block is read inline.
      const shift = Math.clz32(n);
      const mt = this.mt;
      let block = mt.out;
      let pos = mt.index;
      for (let i = 0; i < k; i++) {
        let j: number;
        do {
          do {
            if (pos === 624) {
              mt.refill();
              block = mt.out;
              pos = 0;
            }
            j = block[pos++]! >>> shift;
          } while (j >= n);
        } while (taken[j] === 1);
        taken[j] = 1;
        out[i] = j;
      }
      mt.index = pos;
    } else {
      for (let i = 0; i < k; i++) {
        let j = this.randbelow(n);
        while (taken[j] === 1) j = this.randbelow(n);
        taken[j] = 1;
        out[i] = j;
      }
    }
    // Clearing only what was set keeps the membership table small and the cost O(k).
    for (let i = 0; i < k; i++) taken[out[i]!] = 0;
  }

  /** `random.choices(range(n), k=k)` (no weights): `floor(random() * n)`, with replacement. */
  choicesRange(n: number, k: number, out: Int32Array | number[]): void {
    for (let i = 0; i < k; i++) out[i] = Math.floor(this.mt.nextDouble() * n);
  }
}
