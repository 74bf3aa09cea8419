/**
 * Arrival schedules for rate-shaped load, as a pure seeded function. Inter-arrival gaps follow a gamma
 * distribution with shape = burstiness and mean 1/rate (vLLM's convention): burstiness 1 is a Poisson process
 * (exponential gaps), < 1 is burstier, > 1 more regular. The same seed always gives the same schedule.
 */
import { MT19937 } from "../dataset/rng/mt19937.ts";

export interface RateSpec {
  /** Requests per second (> 0; Infinity means everything at t0). */
  rate: number;
  /** Gamma shape of the inter-arrival gaps (> 0); 1 = Poisson. */
  burstiness: number;
  seed: number;
}

/** A uniform in (0, 1): never 0, so logarithms and powers stay finite. */
function openUniform(rng: MT19937): number {
  let u = rng.nextDouble();
  while (u === 0) u = rng.nextDouble();
  return u;
}

/** Standard normal by the polar method (two uniforms per accepted pair; the spare is dropped for simplicity). */
function normal(rng: MT19937): number {
  for (;;) {
    const x = 2 * rng.nextDouble() - 1;
    const y = 2 * rng.nextDouble() - 1;
    const s = x * x + y * y;
    if (s > 0 && s < 1) return x * Math.sqrt((-2 * Math.log(s)) / s);
  }
}

/**
 * Gamma(shape, 1) by Marsaglia and Tsang's squeeze method; shapes below 1 use the boost
 * Gamma(a) = Gamma(a + 1) · U^(1/a).
 */
export function gammaSample(rng: MT19937, shape: number): number {
  if (shape === 1) return -Math.log(openUniform(rng));
  if (shape < 1) return gammaSample(rng, shape + 1) * openUniform(rng) ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = openUniform(rng);
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/**
 * The schedule drawn one arrival at a time, so a run holds no per-request schedule (a million-request dataset
 * costs nothing up front, and a run stopped early never draws the rest). `next()` gives offsets (ns from the
 * start of the run, non-decreasing); the first request is due after one gap, as in vLLM (a gap is drawn before
 * every request). Infinite rate: all zero.
 */
export class ArrivalSchedule {
  private readonly rng: MT19937 | undefined;
  private readonly scaleNs: number;
  private t = 0;

  constructor(private readonly spec: RateSpec) {
    if (!(spec.rate > 0)) throw new RangeError(`rate must be > 0, got ${spec.rate}`);
    if (!(spec.burstiness > 0)) throw new RangeError(`burstiness must be > 0, got ${spec.burstiness}`);
    this.rng = spec.rate === Number.POSITIVE_INFINITY ? undefined : MT19937.fromSeed(spec.seed >>> 0);
    // Gamma(k, θ) has mean kθ: θ = 1 / (rate · k) gives mean gap 1/rate.
    this.scaleNs = 1e9 / (spec.rate * spec.burstiness);
  }

  next(): number {
    if (this.rng) this.t += gammaSample(this.rng, this.spec.burstiness) * this.scaleNs;
    return this.t;
  }
}

/** The first `n` offsets of an `ArrivalSchedule` (tests and tools; the load generator draws them lazily). */
export function arrivalOffsetsNs(n: number, spec: RateSpec): Float64Array {
  const schedule = new ArrivalSchedule(spec);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = schedule.next();
  return out;
}
