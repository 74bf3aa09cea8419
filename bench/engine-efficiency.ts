/**
 * How close `throughput` on the embedded engine gets to the engine's own ceiling.
 * (a) the `throughput` pipeline (scheduler, records, statistics) and (b) the tightest loop we can write on the
 * same native batch API (all sequences prefilled, then one decode of every sequence per step, greedy sampling),
 * same GGUF, same threads, same batch shapes: C requests of ISL/OSL tokens in one wave, C = 1, 16, 64.
 * Runs interleaved (a, b, a, b, ...) and reports the median of the repetitions of each (and the best, since a
 * shared 2-core machine makes single runs swing by +-20 %).
 *
 *   npx tsx bench/engine-efficiency.ts [--engine_dir DIR] [--isl 128] [--osl 128] [--reps 2] [--threads 1]
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runThroughput } from "../src/benchmarks/throughput.ts";
import { buildEngine } from "../src/engine/embedded/build.ts";
import { readEngineConfig } from "../src/engine/embedded/engine-dir.ts";
import { loadLlamaRuntime, sampleAll } from "../src/engine/embedded/llama-native.ts";
import { defaultThreads } from "../src/engine/embedded/runtime-settings.ts";
import { nowNs } from "../src/util/clock.ts";
import { setLogLevel } from "../src/util/log.ts";

const { values } = parseArgs({
  options: {
    engine_dir: { type: "string" },
    isl: { type: "string", default: "128" },
    osl: { type: "string", default: "128" },
    reps: { type: "string", default: "2" },
    threads: { type: "string" },
    concurrency: { type: "string", default: "1,16,64" },
  },
});
const ISL = Number(values.isl);
const OSL = Number(values.osl);
const REPS = Number(values.reps);
const THREADS = values.threads ? Number(values.threads) : defaultThreads();
const LEVELS = values.concurrency.split(",").map(Number);

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function randomIds(n: number, seed: number): number[] {
  let s = seed >>> 0;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push(s % 128000);
  }
  return out;
}

/** (b): the engine's ceiling on its batch API: no scheduler, no records, just decode + greedy sample in lockstep. */
async function tightLoop(gguf: string, kvType: string, c: number): Promise<number> {
  const rt = await loadLlamaRuntime({
    modelPath: gguf,
    sequences: c,
    contextSize: ISL + OSL,
    batchSize: Math.max(8192, c),
    threads: THREADS,
    gpu: false,
    kvCacheType: kvType,
  });
  const samplers = Array.from({ length: c }, () => {
    const s = rt.newSampler();
    s.applyConfig({ temperature: 0 });
    return s;
  });
  const n = rt.native;
  const run = async (osl: number): Promise<number> => {
    for (let q = 0; q < c; q++) n.removeTokenCellsFromSequence(q, 0, -1);
    const t0 = nowNs();
    // Prefill every prompt in as few batches as the batch size allows, logits at each prompt's end.
    n.initBatch(c * ISL);
    const idx: number[] = [];
    for (let q = 0; q < c; q++) {
      const r = n.addToBatch(q, 0, Uint32Array.from(randomIds(ISL, q + 1)), Uint32Array.of(ISL - 1));
      idx.push(r[0]!);
    }
    await n.decodeBatch();
    let last = await sampleAll(n, idx, samplers);
    let produced = c;
    for (let step = 1; step < osl; step++) {
      n.initBatch(c);
      for (let q = 0; q < c; q++)
        idx[q] = n.addToBatch(q, ISL + step - 1, Uint32Array.of(last[q]!), Uint32Array.of(0))[0]!;
      await n.decodeBatch();
      last = await sampleAll(n, idx, samplers);
      produced += c;
    }
    return produced / ((nowNs() - t0) / 1e9);
  };
  await run(4); // warmup, as (a) runs trtllm-bench's warmup requests
  const tps = await run(OSL);
  for (const s of samplers) s.dispose();
  await rt.dispose();
  return tps;
}

/** (a): the real `throughput` command path with C requests in one wave, max batch C. */
async function throughputPath(engineDir: string, dataset: string, c: number, ws: string): Promise<number> {
  const { stats } = await runThroughput({
    backend: "embedded",
    model: "llm-bench/tiny-llama",
    workspace: ws,
    dataset,
    engineDir,
    numRequests: c,
    warmup: 2,
    concurrency: -1,
    maxBatchSize: c,
    streaming: true,
    eosId: -1,
    threads: THREADS,
    out: () => undefined,
  });
  return stats.outputThroughput;
}

async function main(): Promise<void> {
  setLogLevel("error");
  const ws = await mkdtemp(join(tmpdir(), "llm-bench-eff-"));
  try {
    const maxC = Math.max(...LEVELS);
    const dataset = join(ws, "wave.jsonl");
    const lines: string[] = [];
    for (let i = 0; i < maxC; i++) {
      lines.push(JSON.stringify({ task_id: i, input_ids: randomIds(ISL, i + 1), output_tokens: OSL }));
    }
    await writeFile(dataset, `${lines.join("\n")}\n`);
    let engineDir = values.engine_dir;
    if (!engineDir) {
      const built = await buildEngine({
        model: "llm-bench/tiny-llama",
        workspace: ws,
        dataset,
        quantization: "FP8",
        out: () => undefined,
      });
      engineDir = built.engineDir;
    }
    const cfg = await readEngineConfig(engineDir);
    const gguf = join(engineDir, cfg.llm_bench.gguf_file);
    const kvType = cfg.llm_bench.kv_cache_type.toUpperCase();
    console.log(
      `engine-efficiency: ${cfg.llm_bench.model_name} (${cfg.llm_bench.weight_type}, KV ${kvType}), ISL ${ISL} / OSL ${OSL}, ` +
        `threads ${THREADS}, median of ${REPS} interleaved reps`,
    );
    console.log(
      "concurrency | (a) throughput tok/s | (b) tight loop tok/s | ratio a/b (median) | ratio (best)",
    );
    for (const c of LEVELS) {
      const a: number[] = [];
      const b: number[] = [];
      for (let r = 0; r < REPS; r++) {
        a.push(await throughputPath(engineDir, dataset, c, ws));
        b.push(await tightLoop(gguf, kvType, c));
      }
      const ma = median(a);
      const mb = median(b);
      const best = Math.max(...a) / Math.max(...b);
      console.log(
        `${String(c).padStart(11)} | ${ma.toFixed(1).padStart(20)} | ${mb.toFixed(1).padStart(20)} | ${(ma / mb).toFixed(3).padStart(18)} | ${best.toFixed(3).padStart(12)}` +
          `   (a: ${a.map((x) => x.toFixed(1)).join(", ")}; b: ${b.map((x) => x.toFixed(1)).join(", ")})`,
      );
    }
  } finally {
    await rm(ws, { recursive: true, force: true });
  }
}

await main();
