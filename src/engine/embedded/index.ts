/**
 * The embedded backend's public entry: the only module of src/engine/embedded/ that code outside the folder
 * imports (src/engine/boundaries.test.ts). `pytorch` is trtllm-bench's default backend name; here it runs this
 * engine.
 */
import { z } from "zod";
import type { BackendPlugin, CommonBackendOptions, SpeculationRequest } from "../backend.ts";
import { prepareEmbedded } from "./prepare.ts";
import { EmbeddedSpeculation, resolveSpeculation } from "./speculative/resolve.ts";

export { type BuildOptions, type BuildResult, buildEngine } from "./build.ts";

/** Its runtime knobs are the shared ones (src/engine/runtime-knobs.ts): no flags of its own. */
const flagTable = {} as const;
type EmbeddedOptions = Record<string, never>;

export const embeddedBackend = {
  names: ["embedded", "pytorch"] as const,
  capabilities: {
    // Every run ends with all requests finished, so no KV or scheduler state carries over to the next.
    reusableAcrossRuns: true,
    speculativeDecoding: true,
  },
  flags: {
    table: flagTable,
    read: () => ({}),
    schema: z.record(z.string(), z.never()),
  },
  prepare: (common: CommonBackendOptions, _own: EmbeddedOptions) => prepareEmbedded(common),
  async resolveSpeculation(req: SpeculationRequest) {
    const config = await resolveSpeculation(req);
    return config ? new EmbeddedSpeculation(config) : undefined;
  },
} satisfies BackendPlugin<"embedded" | "pytorch", typeof flagTable, EmbeddedOptions>;
