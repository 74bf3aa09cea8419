/**
 * The embedded engine as the engine tests start it: on the CPU, one thread, an F16 KV cache, FCFS with chunked
 * prompts, and whatever the test varies on top.
 */
import type { EmbeddedEngineOptions } from "../../src/engine/embedded/embedded-engine.ts";
import { EmbeddedEngine } from "../../src/engine/embedded/embedded-engine.ts";
import type { SchedulerConfig } from "../../src/engine/embedded/scheduler.ts";
import type { EngineInfo, GenerationResult } from "../../src/engine/types.ts";

export const TINY_INFO = { backend: "test", model: "tiny" } as unknown as EngineInfo;

export type TinyScheduler = Pick<
  SchedulerConfig,
  "maxBatchSize" | "maxNumTokens" | "kvCacheTokens" | "maxSeqLen"
> &
  Partial<SchedulerConfig>;

/** Runs `fn` on an engine started with these settings, and stops the engine whatever happens. */
export async function withTinyEngine<T>(
  ggufPath: string,
  scheduler: TinyScheduler,
  opts: Partial<Omit<EmbeddedEngineOptions, "ggufPath" | "scheduler">>,
  fn: (engine: EmbeddedEngine) => Promise<T>,
): Promise<T> {
  const engine = await EmbeddedEngine.start({
    ggufPath,
    info: TINY_INFO,
    scheduler: { policy: "guaranteed_no_evict", chunkedContext: true, ...scheduler },
    threads: 1,
    gpu: false,
    kvCacheType: "F16",
    ...opts,
  });
  try {
    return await fn(engine);
  } finally {
    await engine.stop();
  }
}

/** Generates every prompt at once (request i: id `i`, maxTokens[i]), streaming those `streaming` says. */
export function generateAll(
  engine: EmbeddedEngine,
  prompts: readonly number[][],
  maxTokens: readonly number[],
  streaming: boolean | ((i: number) => boolean) = false,
): Promise<GenerationResult[]> {
  return Promise.all(
    prompts.map((p, i) =>
      engine.generate({
        id: String(i),
        inputIds: p,
        maxTokens: maxTokens[i]!,
        streaming: typeof streaming === "boolean" ? streaming : streaming(i),
      }),
    ),
  );
}
