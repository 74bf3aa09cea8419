/**
 * Monotonic time in integer nanoseconds since this process's clock origin.
 * `process.hrtime.bigint()` counts from an arbitrary past point (often boot); subtracting a fixed origin keeps
 * values small enough to be exact as JS numbers (2^53 ns ≈ 104 days of process life).
 */
const ORIGIN = process.hrtime.bigint();

export function nowNs(): number {
  return Number(process.hrtime.bigint() - ORIGIN);
}

/** A reading of the same monotonic clock taken elsewhere (native code's steady_clock on Linux), on nowNs()'s scale. */
export function fromMonotonicNs(abs: bigint): number {
  return Number(abs - ORIGIN);
}

export function nsToMs(ns: number): number {
  return ns / 1e6;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
