/**
 * A deterministic in-memory `Engine` for load and server tests: each request emits one token per `stepMs`
 * (token id = 1000 + position), honours `eosId` when `eosAt` says where it appears, and resolves "cancelled"
 * on abort. It tracks how many requests were in flight at once.
 */
import type {
  Engine,
  EngineCapabilities,
  EngineInfo,
  EngineRuntimeStats,
  GenerationRequest,
  GenerationResult,
  TokenSink,
} from "../engine/types.ts";
import { nowNs } from "../util/clock.ts";

export interface FakeEngineOptions {
  stepMs?: number;
  /** Position (0-based) at which the eos id is produced instead of the usual token; undefined: never. */
  eosAt?: number | undefined;
  /** Token ids emitted: `tokenFor(position)`; default 1000 + position. */
  tokenFor?: (position: number) => number;
}

export const FAKE_ENGINE_INFO: EngineInfo = {
  backend: "fake",
  model: "fake/model",
  modelPath: undefined,
  engineDir: undefined,
  version: "test",
  dtype: "float16",
  kvCacheDtype: "None",
  quantization: "None",
  maxInputLength: undefined,
  maxSequenceLength: undefined,
  tpSize: 1,
  ppSize: 1,
  maxBatchSize: undefined,
  maxNumTokens: undefined,
  schedulingPolicy: undefined,
  kvCacheFraction: undefined,
};

export class FakeEngine implements Engine {
  readonly info = FAKE_ENGINE_INFO;
  readonly capabilities: EngineCapabilities = {
    tokenIdPrompts: true,
    streaming: true,
    exactOutputLength: true,
    cancel: true,
    speculativeDecoding: false,
  };
  inFlight = 0;
  maxInFlight = 0;
  started = 0;
  readonly requests: GenerationRequest[] = [];
  stopped = false;

  constructor(private readonly opts: FakeEngineOptions = {}) {}

  generate(request: GenerationRequest, sink?: TokenSink, signal?: AbortSignal): Promise<GenerationResult> {
    this.requests.push(request);
    this.started++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const stepMs = this.opts.stepMs ?? 1;
    const tokenFor = this.opts.tokenFor ?? ((p: number) => 1000 + p);
    const out: number[] = [];
    let first: number | undefined;
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (finishReason: GenerationResult["finishReason"]) => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.inFlight--;
        resolve({
          outputIds: out,
          firstTokenNs: first,
          endNs: nowNs(),
          decodeIterations: out.length,
          finishReason,
        });
      };
      const onAbort = () => done("cancelled");
      if (signal?.aborted) return done("cancelled");
      signal?.addEventListener("abort", onAbort, { once: true });
      const step = () => {
        const pos = out.length;
        const tok = request.eosId !== undefined && pos === this.opts.eosAt ? request.eosId : tokenFor(pos);
        out.push(tok);
        const t = nowNs();
        first ??= t;
        sink?.onTokens?.([tok], t);
        if (request.eosId !== undefined && tok === request.eosId) return done("stop");
        if (out.length >= request.maxTokens) return done("length");
        timer = setTimeout(step, stepMs);
      };
      timer = setTimeout(step, stepMs);
    });
  }

  stats(): EngineRuntimeStats {
    return {
      steps: 0,
      activeRequests: this.inFlight,
      queuedRequests: 0,
      kvCacheTokensUsed: 0,
      kvCacheTokensTotal: 0,
      preemptions: 0,
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
  }
}
