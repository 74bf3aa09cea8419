/**
 * `serve`: the embedded engine behind an OpenAI-compatible HTTP server, with the same runtime knobs and
 * scheduler as `throughput`. The engine is sized by the limits it was built for (or a lower --max_seq_len), not by
 * a dataset. Resolves once a SIGINT/SIGTERM has shut the server down (a second signal exits at once).
 *
 * src/server/ is the embedded engine's HTTP front, so it may import that backend's public entry (and only it).
 */
import type { EngineLimits } from "../engine/backend.ts";
import { embeddedBackend } from "../engine/embedded/index.ts";
import type { RuntimeKnobs } from "../engine/runtime-knobs.ts";
import { BenchError, UsageError } from "../errors.ts";
import { log } from "../util/log.ts";
import { startServer } from "./server.ts";

export interface ServeOptions {
  engineDir: string;
  /** Default: the engine's own model name. */
  model?: string | undefined;
  modelPath?: string | undefined;
  workspace: string;
  revision?: string | undefined;
  /** Max prompt + completion tokens per request; default (and at most) the engine's build max_seq_len. */
  maxSeqLen?: number | undefined;
  runtime: Omit<RuntimeKnobs, "maxSeqLen">;
  host: string;
  port: number;
  apiKey?: string | undefined;
  /** Default: the model. */
  servedModelName?: string | undefined;
  maxBodyBytes: number;
  /** Seconds a client has to send a whole request (0: no limit). */
  requestTimeoutS: number;
  /** On SIGINT/SIGTERM, seconds to let requests in flight finish. */
  gracePeriodS: number;
  /** Where the "listening on" line goes (stdout in the CLI). */
  out: (text: string) => void;
}

/** The request limits a server with this engine takes: --max_seq_len (at most the build's) and the build's input. */
export function serveLimits(built: EngineLimits, maxSeqLen: number | undefined): EngineLimits {
  const maxSequenceLength = maxSeqLen ?? built.maxSequenceLength;
  if (maxSequenceLength > built.maxSequenceLength) {
    throw new UsageError(
      `--max_seq_len ${maxSequenceLength} exceeds the engine's build max_seq_len ${built.maxSequenceLength}`,
    );
  }
  return { maxInputLength: Math.min(built.maxInputLength, maxSequenceLength - 1), maxSequenceLength };
}

export async function runServe(opts: ServeOptions): Promise<void> {
  const backend = await embeddedBackend.prepare(
    {
      model: opts.model,
      modelPath: opts.modelPath,
      workspace: opts.workspace,
      revision: opts.revision,
      engineDir: opts.engineDir,
      runtime: { ...opts.runtime, maxSeqLen: opts.maxSeqLen },
      yaml: {},
      // The scheduler, not a client pool, bounds what runs at once.
      concurrency: -1,
    },
    {},
  );
  const built = backend.built;
  if (!built) throw new UsageError(`${opts.engineDir}: not an engine directory written by \`build\``);
  const limits = serveLimits(built.limits, opts.maxSeqLen);
  const model = opts.model ?? built.modelName;
  const { engine } = await backend.start(limits);
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer({
      engine,
      tokenizer: backend.tokenizer,
      vocabSize: backend.vocabSize,
      servedModelName: opts.servedModelName ?? model,
      maxSeqLen: limits.maxSequenceLength,
      maxInputLen: limits.maxInputLength,
      host: opts.host,
      port: opts.port,
      apiKey: opts.apiKey,
      maxBodyBytes: opts.maxBodyBytes,
      // 0 means no limit to node:http, so a positive value never rounds down to it.
      requestTimeoutMs: opts.requestTimeoutS === 0 ? 0 : Math.max(1, Math.round(opts.requestTimeoutS * 1000)),
    });
  } catch (err) {
    await engine.stop();
    if (err instanceof BenchError) throw err;
    throw new UsageError(`cannot listen on ${opts.host}:${opts.port}: ${(err as Error).message}`);
  }
  opts.out(`llm-bench serve: listening on ${server.url} (model '${opts.servedModelName ?? model}')\n`);
  const graceS = opts.gracePeriodS;
  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        log.warn(`${sig} again: exiting at once.`);
        process.exit(130);
      }
      log.info(`${sig}: shutting down (grace period ${graceS}s).`);
      server
        .shutdown(graceS * 1000)
        .then(() => engine.stop())
        .then(
          () => log.info("Server stopped."),
          (err: unknown) => {
            log.error(`Shutdown failed: ${(err as Error).message}`);
            process.exitCode = 1;
          },
        )
        .finally(() => {
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
          resolve();
        });
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}
