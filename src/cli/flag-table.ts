/**
 * Flag tables (src/util/flag-table.ts) as commander options. A table's key must be the name commander stores the
 * value under, so `FlagValues<typeof table>` is exactly what the action receives: checked here when the command
 * is built (every CLI test builds every command).
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { type AnyFlagSpec, type FlagTable, FlagValueError } from "../util/flag-table.ts";

function commanderParser(parse: (raw: string, previous: never) => unknown) {
  return (raw: string, previous: unknown): unknown => {
    try {
      return parse(raw, previous as never);
    } catch (err) {
      if (err instanceof FlagValueError) throw new InvalidArgumentError(err.message);
      throw err;
    }
  };
}

export function flagOption(key: string, spec: AnyFlagSpec): Option {
  const opt = new Option(spec.flags, spec.description);
  if (opt.attributeName() !== key) {
    throw new Error(`flag table: '${spec.flags}' is stored as '${opt.attributeName()}', not '${key}'`);
  }
  if (spec.parse) opt.argParser(commanderParser(spec.parse));
  if (spec.choices) opt.choices(spec.choices);
  if (spec.default !== undefined) opt.default(spec.default);
  if (spec.required) opt.makeOptionMandatory();
  return opt;
}

/** Adds every flag of the tables to `cmd`, in table order. */
export function addFlags(cmd: Command, ...tables: FlagTable[]): Command {
  for (const table of tables) {
    for (const [key, spec] of Object.entries(table)) {
      cmd.addOption(flagOption(key, spec));
      if (spec.negate !== undefined) cmd.addOption(new Option(`--no-${key}`, spec.negate));
    }
  }
  return cmd;
}
