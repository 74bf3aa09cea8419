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
