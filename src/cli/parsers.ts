import { InvalidArgumentError } from "commander";
import { FlagValueError, floatValue, intValue } from "../util/flag-table.ts";

/** Option value parsers: commander calls them with the raw string; a bad value becomes a usage error. */
function asCommander<T>(parse: (raw: string) => T): (raw: string) => T {
  return (raw) => {
    try {
      return parse(raw);
    } catch (err) {
      if (err instanceof FlagValueError) throw new InvalidArgumentError(err.message);
      throw err;
    }
  };
}

export function intArg(min?: number, max?: number) {
  return asCommander(intValue(min, max));
}

export function floatArg(min?: number, max?: number) {
  return asCommander(floatValue(min, max));
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
