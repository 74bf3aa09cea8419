/**
 * Command-line options as data: each flag's syntax, help, parser, choices and default are written once in a
 * table, and the parsed values' type is inferred from it (`FlagValues<typeof table>`), so no hand-written
 * interface can drift from the `.option()` calls. Backends declare their own flags this way without knowing the
 * CLI library; `src/cli/flag-table.ts` turns a table into commander options (and checks that every key is the
 * name commander stores the value under).
 */

/** A value a flag parser refuses; the CLI reports it as commander reports its own ("option '--x <n>' argument ..."). */
export class FlagValueError extends Error {}

export interface FlagSpec<T = unknown> {
  /** commander's syntax: `--name <value>`, `--name [value]`, `--name <values...>`, `--name`, `--long, --alias <v>`. */
  readonly flags: string;
  readonly description: string;
  /** Turns the raw text into the value (`previous`: the value so far, for repeatable flags); throws FlagValueError. */
  readonly parse?: ((raw: string, previous: T) => T) | undefined;
  readonly choices?: readonly string[] | undefined;
  readonly default?: T | undefined;
  readonly required?: boolean | undefined;
  /** Help of a `--no-<name>` companion that sets the value to false. */
  readonly negate?: string | undefined;
}

/** Any flag's spec, whatever its value type. */
export interface AnyFlagSpec {
  readonly flags: string;
  readonly description: string;
  readonly parse?: ((raw: string, previous: never) => unknown) | undefined;
  readonly choices?: readonly string[] | undefined;
  readonly default?: unknown;
  readonly required?: boolean | undefined;
  readonly negate?: string | undefined;
}

/** Flags keyed by the name commander stores their value under (`--max_seq_len` -> `max_seq_len`). */
export type FlagTable = Readonly<Record<string, AnyFlagSpec>>;

type Parsed<S> = S extends { parse: (raw: string, previous: never) => infer T }
  ? T
  : S extends { choices: readonly (infer C)[] }
    ? C
    : S extends { flags: `${string}...${">" | "]"}` }
      ? string[]
      : S extends { flags: `${string}<${string}>` }
        ? string
        : S extends { flags: `${string}[${string}]` }
          ? string
          : boolean;

/** The parsed value of one flag: an optional value (`[v]`) is `true` when the flag comes alone. */
export type FlagValue<S> =
  | Parsed<S>
  | (S extends { flags: `${string}[${string}]` } ? true : never)
  | (S extends { negate: string } ? false : never);

type Always<S> = S extends { default: unknown } ? true : S extends { required: true } ? true : false;

/** What commander's `opts()` holds after parsing: flags with a default or required are always there. */
export type FlagValues<T extends FlagTable> = {
  -readonly [K in keyof T as Always<T[K]> extends true ? K : never]: FlagValue<T[K]>;
} & {
  -readonly [K in keyof T as Always<T[K]> extends true ? never : K]?: FlagValue<T[K]>;
};

/** Keeps the table's literal types (choices, defaults) for `FlagValues`. */
export function defineFlags<const T extends FlagTable>(table: T): T {
  return table;
}

/** An integer in [min, max]. */
export function intValue(min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string): number => {
    if (!/^[-+]?\d+$/.test(raw.trim())) throw new FlagValueError(`'${raw}' is not an integer.`);
    const v = Number.parseInt(raw, 10);
    if (v < min || v > max) throw new FlagValueError(`'${raw}' must be between ${min} and ${max}.`);
    return v;
  };
}

/** A finite number in [min, max]. */
export function floatValue(min = -Infinity, max = Infinity) {
  return (raw: string): number => {
    const v = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(v)) throw new FlagValueError(`'${raw}' is not a number.`);
    if (v < min || v > max) throw new FlagValueError(`'${raw}' must be between ${min} and ${max}.`);
    return v;
  };
}

/** The flag's first long name, e.g. `--base_url`. */
export function longName(spec: AnyFlagSpec): string {
  return /--[^\s,<[]+/.exec(spec.flags)?.[0] ?? spec.flags;
}

/** Which of a table's flags differ from their defaults (i.e. were given), as `--name`s. */
export function flagsGiven(table: FlagTable, values: object): string[] {
  const out: string[] = [];
  for (const [key, spec] of Object.entries(table)) {
    const v = (values as Record<string, unknown>)[key];
    const d = spec.default;
    const differs = Array.isArray(v)
      ? v.length > (Array.isArray(d) ? d.length : 0)
      : v !== undefined && v !== d;
    if (differs) out.push(longName(spec));
  }
  return out;
}
