/**
 * numpy's `np.random.default_rng(seed)` (PCG64 seeded through `SeedSequence`) and the bounded-integer path
 * of `Generator.integers(low, high, size)` for ranges that fit in 32 bits (Lemire's multiply-and-reject on
 * the buffered 32-bit outputs). BigInt keeps the 128-bit state arithmetic obviously right; it only runs once
 * per sampled length, never per token.
 */
const MASK32 = 0xffffffff;
const MASK64 = (1n << 64n) - 1n;
const MASK128 = (1n << 128n) - 1n;
const PCG_MULT = (2549297995355413924n << 64n) | 4865540595714422341n;

const INIT_A = 0x43b0d7e5;
const MULT_A = 0x931e8875;
const INIT_B = 0x8b51f9dd;
const MULT_B = 0x58f38ded;
const MIX_MULT_L = 0xca01f9dd;
const MIX_MULT_R = 0x4973f715;
const POOL_SIZE = 4;

/** The 32-bit words of a non-negative integer seed, least significant first (numpy's `_coerce_to_uint32_array`). */
function seedWords(seed: number | bigint): number[] {
  let v = typeof seed === "bigint" ? seed : BigInt(seed);
  if (v < 0n) throw new RangeError("SeedSequence expects non-negative integers");
  const words: number[] = [];
  do {
    words.push(Number(v & 0xffffffffn));
    v >>= 32n;
  } while (v > 0n);
  return words;
}

/** numpy's `SeedSequence(entropy)` with no spawn key: the mixed 4-word pool and `generate_state`. */
export class SeedSequence {
  readonly pool = new Uint32Array(POOL_SIZE);

  constructor(entropy: number | bigint) {
    const ent = seedWords(entropy);
    const pool = this.pool;
    let hashConst = INIT_A;
    const hashmix = (value: number): number => {
      let v = (value ^ hashConst) >>> 0;
      hashConst = Math.imul(hashConst, MULT_A) >>> 0;
      v = Math.imul(v, hashConst) >>> 0;
      return (v ^ (v >>> 16)) >>> 0;
    };
    const mix = (x: number, y: number): number => {
      const r = (Math.imul(MIX_MULT_L, x) - Math.imul(MIX_MULT_R, y)) >>> 0;
      return (r ^ (r >>> 16)) >>> 0;
    };
    for (let i = 0; i < POOL_SIZE; i++) pool[i] = hashmix(i < ent.length ? ent[i]! : 0);
    for (let src = 0; src < POOL_SIZE; src++) {
      for (let dst = 0; dst < POOL_SIZE; dst++) {
        if (src !== dst) pool[dst] = mix(pool[dst]!, hashmix(pool[src]!));
      }
    }
    for (let src = POOL_SIZE; src < ent.length; src++) {
      for (let dst = 0; dst < POOL_SIZE; dst++) pool[dst] = mix(pool[dst]!, hashmix(ent[src]!));
    }
  }

  /** `generate_state(n, np.uint32)`. */
  generateState32(n: number): Uint32Array {
    const out = new Uint32Array(n);
    let hashConst = INIT_B;
    for (let i = 0; i < n; i++) {
      let v = (this.pool[i % POOL_SIZE]! ^ hashConst) >>> 0;
      hashConst = Math.imul(hashConst, MULT_B) >>> 0;
      v = Math.imul(v, hashConst) >>> 0;
      out[i] = (v ^ (v >>> 16)) >>> 0;
    }
    return out;
  }

  /** `generate_state(n, np.uint64)`: pairs of 32-bit words, little-endian. */
  generateState64(n: number): bigint[] {
    const w = this.generateState32(2 * n);
    const out: bigint[] = [];
    for (let i = 0; i < n; i++) out.push((BigInt(w[2 * i + 1]!) << 32n) | BigInt(w[2 * i]!));
    return out;
  }
}

/** PCG64 (XSL-RR 128/64) with numpy's buffered 32-bit output. */
export class PCG64 {
  state: bigint;
  readonly inc: bigint;
  private hasUint32 = false;
  private uinteger = 0;

  constructor(initState: bigint, initSeq: bigint) {
    this.inc = ((initSeq << 1n) | 1n) & MASK128;
    this.state = 0n;
    this.step();
    this.state = (this.state + initState) & MASK128;
    this.step();
  }

  /** `np.random.PCG64(seed)`: SeedSequence → 4 uint64 words → (state, increment). */
  static fromSeed(seed: number | bigint): PCG64 {
    const v = new SeedSequence(seed).generateState64(4);
    return new PCG64((v[0]! << 64n) | v[1]!, (v[2]! << 64n) | v[3]!);
  }

  private step(): void {
    this.state = (this.state * PCG_MULT + this.inc) & MASK128;
  }

  next64(): bigint {
    this.step();
    const s = this.state;
    const x = ((s >> 64n) ^ s) & MASK64;
    const rot = s >> 122n;
    return ((x >> rot) | (x << ((64n - rot) & 63n))) & MASK64;
  }

  /** Low half first, the high half is kept for the next call (numpy's `has_uint32`). */
  next32(): number {
    if (this.hasUint32) {
      this.hasUint32 = false;
      return this.uinteger;
    }
    const n = this.next64();
    this.hasUint32 = true;
    this.uinteger = Number(n >> 32n);
    return Number(n & 0xffffffffn);
  }
}

/** High and low 32 bits of x * m for 32-bit unsigned x and m, without losing precision. */
function mul32x32(x: number, m: number): { hi: number; lo: number } {
  const lo = Math.imul(x, m) >>> 0;
  const p1 = (x >>> 16) * m; // < 2^48, exact
  const p0 = (x & 0xffff) * m; // < 2^48, exact
  const hi = Math.floor(p1 / 65536) + Math.floor(((p1 % 65536) * 65536 + p0) / 4294967296);
  return { hi: hi >>> 0, lo };
}

/** `Generator(PCG64(seed))`, integer sampling only. */
export class NumpyGenerator {
  constructor(private readonly bitgen: PCG64) {}

  static defaultRng(seed: number | bigint): NumpyGenerator {
    return new NumpyGenerator(PCG64.fromSeed(seed));
  }

  /**
   * `integers(low, high, size)` with exclusive `high` (int64, endpoint=False). Supports high - low - 1 ≤ 2**32 - 1,
   * which covers any token length.
   */
  integers(low: number, high: number, size: number): number[] {
    if (!(high > low)) throw new RangeError("low >= high");
    const rng = high - low - 1;
    if (rng > MASK32) throw new RangeError("integers(): ranges wider than 2**32 are not supported");
    const out = new Array<number>(size);
    if (rng === 0) return out.fill(low);
    if (rng === MASK32) {
      for (let i = 0; i < size; i++) out[i] = low + this.bitgen.next32();
      return out;
    }
    const rngExcl = rng + 1;
    for (let i = 0; i < size; i++) {
      let m = mul32x32(this.bitgen.next32(), rngExcl);
      if (m.lo < rngExcl) {
        const threshold = (MASK32 - rng) % rngExcl;
        while (m.lo < threshold) m = mul32x32(this.bitgen.next32(), rngExcl);
      }
      out[i] = low + m.hi;
    }
    return out;
  }
}
