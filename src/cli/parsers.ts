import { InvalidArgumentError } from "commander";

/** Option value parsers: commander calls them with the raw string; a bad value becomes a usage error. */
export function intArg(min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string): number => {
    if (!/^[-+]?\d+$/.test(raw.trim())) throw new InvalidArgumentError(`'${raw}' is not an integer.`);
    const v = Number.parseInt(raw, 10);
    if (v < min || v > max) throw new InvalidArgumentError(`'${raw}' must be between ${min} and ${max}.`);
    return v;
  };
}

export function floatArg(min = -Infinity, max = Infinity) {
  return (raw: string): number => {
    const v = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(v)) throw new InvalidArgumentError(`'${raw}' is not a number.`);
    if (v < min || v > max) throw new InvalidArgumentError(`'${raw}' must be between ${min} and ${max}.`);
    return v;
  };
}

/**
 * Any integer, as Python's click `type=int` takes it: a number while it is safe, a bigint beyond (seeds).
 */
export function bigIntArg(raw: string): number | bigint {
  const t = raw.trim();
  if (!/^[-+]?\d+$/.test(t)) throw new InvalidArgumentError(`'${raw}' is not an integer.`);
  const v = BigInt(t);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}
