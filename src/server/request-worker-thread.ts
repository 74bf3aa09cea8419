/**
 * The body of `RequestWorker`'s thread: loads the tokenizer from its files, then answers jobs one at a time —
 * a text to encode, or a whole request body to parse, validate and tokenize (`parseGenerationBody`, the code
 * the event loop runs for small bodies). Ids go back as transferred Int32Arrays.
 */
import { parentPort, workerData } from "node:worker_threads";
import { loadTokenizerFromFiles } from "../model/hf-tokenizer.ts";
import { parseJsonBody } from "./body.ts";
import { HttpError } from "./openai-error.ts";
import { type GenerationSpec, parseGenerationBody, type ValidationContext } from "./validate.ts";

export interface ThreadConfig {
  tokenizerJson: string;
  tokenizerConfig: string | undefined;
  /** The validation context less its encoder (the thread encodes with its own tokenizer). */
  limits: Omit<ValidationContext, "encoder">;
}

export type JobMessage =
  | { id: number; type: "encode"; text: string }
  | { id: number; type: "request"; kind: "completion" | "chat"; chunks: Uint8Array[]; size: number };

export type SpecReply = Omit<GenerationSpec, "promptIds"> & { promptIds: Int32Array };

export type ThreadReply =
  | { ready: true }
  | { id: number; ids: Int32Array }
  | { id: number; spec: SpecReply }
  | {
      id: number;
      httpError: { status: number; message: string; type: string; param: string | null; code: string | null };
    }
  | { id: number; error: string };

const port = parentPort;
if (!port) throw new Error("request-worker-thread.ts runs only as a worker thread");
const config = workerData as ThreadConfig;
const tokenizer = await loadTokenizerFromFiles(config.tokenizerJson, config.tokenizerConfig);
const ctx: ValidationContext = {
  ...config.limits,
  encoder: { encode: async (text) => tokenizer.encode(text, { addSpecialTokens: true }) },
};

async function run(job: JobMessage): Promise<ThreadReply> {
  if (job.type === "encode") {
    return { id: job.id, ids: Int32Array.from(tokenizer.encode(job.text, { addSpecialTokens: true })) };
  }
  const spec = await parseGenerationBody(parseJsonBody(job), job.kind, ctx);
  return { id: job.id, spec: { ...spec, promptIds: Int32Array.from(spec.promptIds) } };
}

port.on("message", (job: JobMessage) => {
  run(job).then(
    (reply) => {
      const ids = "ids" in reply ? reply.ids : "spec" in reply ? reply.spec.promptIds : undefined;
      port.postMessage(reply, ids ? [ids.buffer as ArrayBuffer] : []);
    },
    (err: unknown) => {
      if (err instanceof HttpError) {
        port.postMessage({ id: job.id, httpError: { status: err.status, ...err.body().error } });
      } else port.postMessage({ id: job.id, error: (err as Error).message } satisfies ThreadReply);
    },
  );
});
port.postMessage({ ready: true } satisfies ThreadReply);
