/**
 * Request work that can take long, off the event loop: a worker thread with its own copy of the tokenizer
 * encodes text prompts, and parses, validates and tokenizes whole large request bodies. One job runs at a
 * time, each under a time limit and the thread under a heap limit; a job past either is refused and the
 * thread replaced, and the event loop never waits. Why: BPE on one long word costs 10-35 µs per character
 * and grows faster than the word, and `JSON.parse` plus the copies of an 8 MB body hold a loaded 2-core
 * machine's event loop for hundreds of milliseconds (docs/performance.md, "serve: hostile requests").
 */
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { ConfigError } from "../errors.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import { log } from "../util/log.ts";
import type { RawBody } from "./body.ts";
import { HttpError } from "./openai-error.ts";
import { type PromptEncoder, TokenizeError } from "./prompt-encoder.ts";
import type { JobMessage, ThreadConfig, ThreadReply } from "./request-worker-thread.ts";
import type { GenerationSpec, ValidationContext } from "./validate.ts";

export interface RequestWorkerOptions {
  /** One job may take this long; past it the thread is replaced and the request refused. */
  timeoutMs: number;
  /** Jobs waiting their turn; more are refused at once. */
  maxQueued: number;
  /** The thread's old-generation heap limit; a job that needs more is refused. */
  heapMb: number;
}

export const DEFAULT_REQUEST_WORKER: RequestWorkerOptions = {
  timeoutMs: 10_000,
  maxQueued: 4096,
  heapMb: 1024,
};

type Reply = Exclude<ThreadReply, { ready: true }>;

interface Job {
  message: JobMessage;
  transfer: ArrayBuffer[];
  resolve: (reply: Reply) => void;
  reject: (err: Error) => void;
  settled: boolean;
}

/**
 * Under tsx (sources run as .ts) a worker does not inherit tsx's loader hooks, so the thread first registers
 * them; compiled code starts the .js file directly.
 */
function spawnThread(config: ThreadConfig, heapMb: number): Worker {
  const here = fileURLToPath(import.meta.url);
  const entry = new URL(`./request-worker-thread${extname(here)}`, import.meta.url);
  const options = { workerData: config, resourceLimits: { maxOldGenerationSizeMb: heapMb } };
  if (extname(here) !== ".ts") return new Worker(entry, options);
  const tsx = import.meta.resolve("tsx/esm/api");
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(boot, { ...options, eval: true });
}

export class RequestWorker implements PromptEncoder {
  private thread: Worker | undefined;
  private ready: Promise<void> | undefined;
  private readonly queue: Job[] = [];
  private running: Job | undefined;
  private timer: NodeJS.Timeout | undefined;
  private nextId = 0;
  private closed = false;

  private constructor(
    private readonly config: ThreadConfig,
    private readonly opts: RequestWorkerOptions,
  ) {}

  /** Starts the thread and waits until its tokenizer is loaded (a bad file fails here, not on a request). */
  static async start(
    tokenizer: Pick<Tokenizer, "files">,
    limits: Omit<ValidationContext, "encoder">,
    opts: RequestWorkerOptions = DEFAULT_REQUEST_WORKER,
  ): Promise<RequestWorker> {
    const { tokenizerJson, tokenizerConfig } = tokenizer.files;
    const w = new RequestWorker({ tokenizerJson, tokenizerConfig, limits }, opts);
    try {
      await w.spawn();
    } catch (err) {
      await w.close();
      throw new ConfigError(
        `the request thread could not load it: ${(err as Error).message}`,
        tokenizerJson,
        {
          cause: err,
        },
      );
    }
    w.thread?.unref();
    return w;
  }

  async encode(text: string, signal?: AbortSignal): Promise<number[]> {
    const reply = await this.submit({ id: this.nextId++, type: "encode", text }, [], signal);
    if ("ids" in reply) return Array.from(reply.ids);
    throw new TokenizeError("failed", "error" in reply ? reply.error : "unexpected reply");
  }

  /** Parses, validates and tokenizes a whole body; refusals come back as the `HttpError` they would be. */
  async parseRequest(
    body: RawBody,
    kind: "completion" | "chat",
    signal?: AbortSignal,
  ): Promise<GenerationSpec> {
    const message: JobMessage = {
      id: this.nextId++,
      type: "request",
      kind,
      chunks: body.chunks,
      size: body.size,
    };
    const reply = await this.submit(
      message,
      body.chunks.map((c) => c.buffer as ArrayBuffer),
      signal,
    );
    if ("spec" in reply) return { ...reply.spec, promptIds: Array.from(reply.spec.promptIds) };
    if ("httpError" in reply) {
      const e = reply.httpError;
      throw new HttpError(e.status, e.message, e.type, e.param, e.code);
    }
    throw new TokenizeError("failed", "error" in reply ? reply.error : "unexpected reply");
  }

  /** Refuses everything pending and stops the thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new TokenizeError("closed", "The server is shutting down.");
    for (const job of this.queue.splice(0)) this.settle(job, err);
    if (this.running) this.settle(this.running, err);
    clearTimeout(this.timer);
    const t = this.thread;
    this.thread = undefined;
    await t?.terminate();
  }

  private submit(
    message: JobMessage,
    transfer: ArrayBuffer[],
    signal: AbortSignal | undefined,
  ): Promise<Reply> {
    if (this.closed) return Promise.reject(new TokenizeError("closed", "The server is shutting down."));
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    if (this.queue.length >= this.opts.maxQueued) {
      return Promise.reject(
        new TokenizeError("busy", `${this.queue.length} requests are already waiting to be tokenized.`),
      );
    }
    return new Promise<Reply>((resolve, reject) => {
      const job: Job = { message, transfer, resolve, reject, settled: false };
      this.queue.push(job);
      // A caller that gives up leaves the queue at once; a job already running runs out its time.
      signal?.addEventListener("abort", () => this.settle(job, signal.reason as Error), { once: true });
      this.pump();
    });
  }

  private settle(job: Job, result: Reply | Error): void {
    if (job.settled) return;
    job.settled = true;
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
    if (result instanceof Error) job.reject(result);
    else job.resolve(result);
  }

  private spawn(): Promise<void> {
    const thread = spawnThread(this.config, this.opts.heapMb);
    this.thread = thread;
    this.ready = new Promise<void>((resolve, reject) => {
      thread.on("message", (m: ThreadReply) => {
        if (thread !== this.thread) return;
        if ("ready" in m) resolve();
        else this.onReply(m);
      });
      thread.on("error", (err: Error & { code?: string }) => {
        if (thread !== this.thread) return;
        reject(err);
        this.replaceThread(
          err.code === "ERR_WORKER_OUT_OF_MEMORY"
            ? new TokenizeError(
                "out_of_memory",
                `Reading and tokenizing the request needs more than the ${this.opts.heapMb} MB the server allows.`,
              )
            : new TokenizeError("failed", `The request thread failed: ${err.message}`),
        );
      });
      thread.on("exit", (code) => {
        if (thread !== this.thread) return;
        reject(new Error(`the request thread exited with code ${code} while loading`));
        this.replaceThread(new TokenizeError("failed", `The request thread exited (code ${code}).`));
      });
    });
    // Without a listener a load failure would be an unhandled rejection; callers see it through `ready`.
    this.ready.catch(() => {});
    return this.ready;
  }

  /** Fails the running job and drops the thread; the next job starts a fresh one. */
  private replaceThread(err: TokenizeError): void {
    clearTimeout(this.timer);
    const t = this.thread;
    this.thread = undefined;
    this.ready = undefined;
    void t?.terminate();
    const job = this.running;
    this.running = undefined;
    if (job) {
      this.settle(job, err);
      (err.reason === "timeout" ? log.info : log.warn)(`Request refused: ${err.message}`);
    }
    this.pump();
  }

  private onReply(m: Reply): void {
    const job = this.running;
    if (!job || job.message.id !== m.id) return;
    clearTimeout(this.timer);
    this.running = undefined;
    this.settle(job, m);
    this.pump();
  }

  private pump(): void {
    if (this.closed || this.running) return;
    while (this.queue.length > 0 && this.queue[0]!.settled) this.queue.shift();
    const job = this.queue.shift();
    // An idle thread must not keep the process alive; a busy one must, or a caller's await could be cut.
    if (!job) {
      this.thread?.unref();
      return;
    }
    this.running = job;
    // Its failure reaches this job through `ready` below.
    if (!this.thread) void this.spawn();
    const thread = this.thread!;
    thread.ref();
    this.ready!.then(
      () => {
        if (thread !== this.thread || this.running !== job) return;
        thread.postMessage(job.message, job.transfer);
        this.timer = setTimeout(() => {
          if (this.running !== job) return;
          this.replaceThread(
            new TokenizeError(
              "timeout",
              `Reading and tokenizing the request took longer than ${this.opts.timeoutMs / 1000} s.`,
            ),
          );
        }, this.opts.timeoutMs);
      },
      (err: Error) => {
        // The replacement thread could not load its tokenizer: this job fails, the next one tries again.
        if (this.running !== job) return;
        this.running = undefined;
        this.settle(job, new TokenizeError("failed", `The tokenizer could not be loaded: ${err.message}`));
        this.pump();
      },
    );
  }
}
