/**
 * The backends, one line each. Everything about a backend (its names, flags, capabilities, hooks) is in its
 * plugin; code outside src/engine/ asks the registry, never tests a backend's name.
 */
import { UnsupportedError, UsageError } from "../errors.ts";
import type { FlagTable } from "../util/flag-table.ts";
import { type BackendPlugin, type Speculation, type SpeculationRequest, speculationMode } from "./backend.ts";
import { embeddedBackend } from "./embedded/index.ts";
import { openaiBackend } from "./openai/index.ts";

const PLUGINS = [
  embeddedBackend, // embedded, pytorch
  openaiBackend,
] as const;

export type BackendName = (typeof PLUGINS)[number]["names"][number];
type OwnOf<P> = P extends BackendPlugin<string, FlagTable, infer O> ? O : never;
/** Any backend's own options (which one's is checked against its schema when the backend is prepared). */
export type BackendOwnOptions = OwnOf<(typeof PLUGINS)[number]>;
/** A plugin whatever its own options' type. */
// biome-ignore lint/suspicious/noExplicitAny: own options are checked by the plugin's schema at run time.
export type AnyBackendPlugin = BackendPlugin<string, any, any>;

const BY_NAME = new Map<string, AnyBackendPlugin>(
  PLUGINS.flatMap((p) => p.names.map((n) => [n, p] as const)),
);

/** Every `--backend` value, in registry order. */
export const BACKEND_NAMES: readonly BackendName[] = PLUGINS.flatMap((p) => p.names);

/** `--backend`'s default. */
export const DEFAULT_BACKEND: BackendName = "embedded";

/** Every plugin once (aliases folded). */
export const BACKEND_PLUGINS: readonly AnyBackendPlugin[] = PLUGINS;

export function isBackendName(name: string): name is BackendName {
  return BY_NAME.has(name);
}

export function backendPlugin(name: string): AnyBackendPlugin {
  const p = BY_NAME.get(name);
  if (!p) throw new UsageError(`unknown backend '${name}' (choices: ${BACKEND_NAMES.join(", ")})`);
  return p;
}

/** The backend's own options, checked against its schema (a UsageError names the field). */
export function checkOwnOptions(name: string, own: unknown): BackendOwnOptions {
  const r = backendPlugin(name).flags.schema.safeParse(own ?? {});
  if (!r.success) {
    const i = r.error.issues[0];
    const where = i && i.path.length > 0 ? `${i.path.join(".")}: ` : "";
    throw new UsageError(`--backend ${name}: ${where}${i?.message ?? "invalid options"}`);
  }
  return r.data as BackendOwnOptions;
}

/** `latency`'s speculative decoding flags, resolved by the backend; refused by one that does not run it. */
export async function resolveSpeculation(
  name: string,
  req: SpeculationRequest | undefined,
): Promise<Speculation | undefined> {
  const p = backendPlugin(name);
  if (p.capabilities.speculativeDecoding && p.resolveSpeculation) return p.resolveSpeculation(req ?? {});
  if (speculationMode(req ?? {}) !== "none") {
    throw new UnsupportedError(`the ${p.names[0]} backend does not run speculative decoding`);
  }
  return undefined;
}
