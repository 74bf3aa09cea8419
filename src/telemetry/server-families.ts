/**
 * The few server figures llm-bench follows, read from each server's own metric names: requests running and
 * waiting, KV-cache usage, preemptions, and the prompt / generation token and finished-request counters. The
 * names are the servers' documented ones (vLLM `vllm:*`, SGLang `sglang:*`, llama.cpp's llama-server
 * `llamacpp:*`, older spellings included); a server is recognised by its prefix.
 */
import type { PromExposition, PromSample } from "./prometheus-text.ts";

export type ServerKind = "vllm" | "sglang" | "llama.cpp";

export const SERVER_FIELDS = [
  "running",
  "waiting",
  "kv_cache_usage",
  "preemptions_total",
  "prompt_tokens_total",
  "generation_tokens_total",
  "requests_total",
] as const;
export type ServerField = (typeof SERVER_FIELDS)[number];
/** Counters: cumulative since the server started, compared as deltas over the run. */
export const COUNTER_FIELDS: ReadonlySet<ServerField> = new Set([
  "preemptions_total",
  "prompt_tokens_total",
  "generation_tokens_total",
  "requests_total",
]);

/** One scrape's figures; a field the server does not expose is absent. */
export type ServerSample = Partial<Record<ServerField, number>>;

interface Source {
  /** Sample names, most current spelling first: the first one present is used. */
  names: readonly string[];
  /** How series of several engines (vLLM's `engine`, SGLang's `dp_rank`) combine. */
  combine: "sum" | "mean";
}

const sum = (...names: string[]): Source => ({ names, combine: "sum" });
const mean = (...names: string[]): Source => ({ names, combine: "mean" });

const FAMILIES: Record<ServerKind, Partial<Record<ServerField, Source>>> = {
  vllm: {
    running: sum("vllm:num_requests_running"),
    waiting: sum("vllm:num_requests_waiting"),
    // V1 spelling, then V0's.
    kv_cache_usage: mean("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
    preemptions_total: sum("vllm:num_preemptions_total"),
    prompt_tokens_total: sum("vllm:prompt_tokens_total"),
    generation_tokens_total: sum("vllm:generation_tokens_total"),
    requests_total: sum("vllm:request_success_total"),
  },
  sglang: {
    running: sum("sglang:num_running_reqs"),
    waiting: sum("sglang:num_queue_reqs"),
    kv_cache_usage: mean("sglang:token_usage"),
    preemptions_total: sum("sglang:num_retracted_requests_total"),
    prompt_tokens_total: sum("sglang:prompt_tokens_total"),
    generation_tokens_total: sum("sglang:generation_tokens_total"),
    requests_total: sum("sglang:num_requests_total"),
  },
  "llama.cpp": {
    running: sum("llamacpp:requests_processing"),
    waiting: sum("llamacpp:requests_deferred"),
    // Dropped by llama-server builds with the unified KV cache; older ones have it.
    kv_cache_usage: mean("llamacpp:kv_cache_usage_ratio"),
    // llama-server counts prompt tokens it computed: those reused from its prompt cache are left out.
    prompt_tokens_total: sum("llamacpp:prompt_tokens_total"),
    generation_tokens_total: sum("llamacpp:tokens_predicted_total"),
  },
};

const PREFIX: Record<ServerKind, string> = { vllm: "vllm:", sglang: "sglang:", "llama.cpp": "llamacpp:" };

const SOURCE_NAMES: ReadonlySet<string> = new Set(
  Object.values(FAMILIES).flatMap((f) => Object.values(f).flatMap((src) => src.names)),
);

/** Whether a sample name is one a figure is read from (the parser keeps only those). */
export function isSourceName(name: string): boolean {
  return SOURCE_NAMES.has(name);
}

/** Labels that tell replicas of one scheduler apart (SGLang reports per tensor/pipeline rank): one is kept. */
const REPLICA_LABELS = new Set(["tp_rank", "pp_rank", "moe_ep_rank", "attn_tp_rank", "pid"]);

/** The server whose metric prefix the exposition uses most, or undefined. */
export function detectServer(e: PromExposition): ServerKind | undefined {
  let best: ServerKind | undefined;
  let bestCount = 0;
  for (const kind of Object.keys(PREFIX) as ServerKind[]) {
    const p = PREFIX[kind];
    let n = 0;
    for (const s of e.samples) if (s.name.startsWith(p)) n++;
    if (n > bestCount) {
      best = kind;
      bestCount = n;
    }
  }
  return best;
}

function replicaKey(s: PromSample): string {
  const keys = Object.keys(s.labels)
    .filter((k) => !REPLICA_LABELS.has(k))
    .sort();
  return keys.map((k) => `${k}=${s.labels[k]}`).join(",");
}

function combine(samples: readonly PromSample[], how: "sum" | "mean"): number | undefined {
  // Series that differ only by a replica label hold the same figure: the largest is kept.
  const groups = new Map<string, number>();
  for (const s of samples) {
    if (Number.isNaN(s.value)) continue;
    const k = replicaKey(s);
    const prev = groups.get(k);
    groups.set(k, prev === undefined ? s.value : Math.max(prev, s.value));
  }
  if (groups.size === 0) return undefined;
  let total = 0;
  for (const v of groups.values()) total += v;
  return how === "sum" ? total : total / groups.size;
}

/** The figures of one scrape for a known server. */
export function readServerSample(e: PromExposition, kind: ServerKind): ServerSample {
  const byName = new Map<string, PromSample[]>();
  const prefix = PREFIX[kind];
  for (const s of e.samples) {
    if (!s.name.startsWith(prefix)) continue;
    const list = byName.get(s.name);
    if (list) list.push(s);
    else byName.set(s.name, [s]);
  }
  const out: ServerSample = {};
  const family = FAMILIES[kind];
  for (const field of SERVER_FIELDS) {
    const src = family[field];
    if (!src) continue;
    for (const name of src.names) {
      const list = byName.get(name);
      if (!list) continue;
      const v = combine(list, src.combine);
      if (v !== undefined) out[field] = v;
      break;
    }
  }
  return out;
}

/** The metric names behind each field, for the docs and the report. */
export function sourceNames(kind: ServerKind): Partial<Record<ServerField, readonly string[]>> {
  const out: Partial<Record<ServerField, readonly string[]>> = {};
  for (const [field, src] of Object.entries(FAMILIES[kind]) as Array<[ServerField, Source]>)
    out[field] = src.names;
  return out;
}
