/**
 * A time series of samples with a row cap, so memory stays bounded over a run of any length: when it is full,
 * every other row is dropped and from then on only every second sample is kept (then every fourth...), which
 * keeps the kept rows evenly spread over the run. Figures that must stay exact under this thinning (energy) are
 * accumulated by the caller at full rate and stored as running totals.
 */
export class BoundedTimeline<K extends string> {
  /** Sample times, `nowNs()` (monotonic ns). */
  readonly t: number[] = [];
  readonly columns: Record<K, Array<number | null>>;
  /** Samples seen, kept or not. */
  seen = 0;
  private stride = 1;

  constructor(
    readonly keys: readonly K[],
    private readonly maxRows: number,
  ) {
    if (maxRows < 2) throw new Error("a timeline needs room for at least 2 rows");
    this.columns = Object.fromEntries(keys.map((k) => [k, [] as Array<number | null>])) as Record<
      K,
      Array<number | null>
    >;
  }

  get length(): number {
    return this.t.length;
  }

  push(timeNs: number, row: Partial<Record<K, number | null>>): void {
    const index = this.seen++;
    if (index % this.stride !== 0) return;
    this.t.push(timeNs);
    for (const k of this.keys) {
      const v = row[k];
      this.columns[k].push(v === undefined || v === null || !Number.isFinite(v) ? null : v);
    }
    if (this.t.length > this.maxRows) this.thin();
  }

  private thin(): void {
    const keep = (a: unknown[]) => {
      let j = 0;
      for (let i = 0; i < a.length; i += 2) a[j++] = a[i];
      a.length = j;
    };
    keep(this.t);
    for (const k of this.keys) keep(this.columns[k]);
    this.stride *= 2;
  }
}

/** At most `max` indexes of `n` rows, evenly spaced, the first and last included (for the report's timelines). */
export function evenIndexes(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let i = 0; i < max; i++) out.push(Math.round((i * (n - 1)) / (max - 1)));
  return out;
}
