import { UsageError } from "../errors.ts";
import type { BackendFactory } from "./backend.ts";
import { prepareEmbedded } from "./embedded/prepare.ts";
import { prepareOpenai } from "./openai/prepare.ts";

/** Backend name -> factory. `pytorch` is trtllm-bench's default backend name; here it runs the embedded engine. */
export const BACKENDS: Readonly<Record<string, BackendFactory>> = {
  embedded: prepareEmbedded,
  pytorch: prepareEmbedded,
  openai: prepareOpenai,
};

export function backendFactory(name: string): BackendFactory {
  const f = BACKENDS[name];
  if (!f) throw new UsageError(`unknown backend '${name}' (choices: ${Object.keys(BACKENDS).join(", ")})`);
  return f;
}
