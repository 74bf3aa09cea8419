/**
 * Python's printf-style number formats, which trtllm-bench's report uses, in JS.
 * `toFixed`/`toExponential` round the exact binary value like Python; the one difference is an exact binary
 * tie (e.g. 0.03125 at 4 decimals), where Python rounds half to even and JS rounds up.
 */

/** `%.<d>f`. Non-finite values print as Python does (`nan`, `inf`, `-inf`). */
export function fixed(x: number, digits = 4): string {
  if (!Number.isFinite(x)) return nonFinite(x);
  return x.toFixed(digits);
}

/** `%.<d>e` / `%.<d>E`: JS drops the exponent's leading zero ("e+5"); Python keeps two digits ("e+05"). */
export function exponential(x: number, digits: number, upper = false): string {
  if (!Number.isFinite(x)) return upper ? nonFinite(x).toUpperCase() : nonFinite(x);
  const s = x.toExponential(digits).replace(/e([+-])(\d)$/, "e$10$2");
  return upper ? s.toUpperCase() : s;
}

/** trtllm-bench's dataset table cell: `%9.4f`, or `%9.2e` from 100000 up, right-aligned in 9 columns. */
export function datasetCell(x: number): string {
  return (x >= 100000 ? exponential(x, 2) : fixed(x, 4)).padStart(9);
}

/** Python's `str()` of an optional value: `None` when absent. */
export function pyStr(v: string | number | undefined | null): string {
  return v === undefined || v === null ? "None" : String(v);
}

function nonFinite(x: number): string {
  if (Number.isNaN(x)) return "nan";
  return x > 0 ? "inf" : "-inf";
}
