/**
 * How good is the build heuristic's (max batch size, max num tokens) on this machine? Sweeps a grid of both
 * on one workload with `throughput`, runs the heuristic's own choice (from `build --dataset`), and prints the
 * heuristic's output throughput as a fraction of the best grid point.
 *
 *   npx tsx bench/heuristic-quality.ts [--requests 48] [--isl 128] [--osl 48]
 *        [--batch 4,16,64,256] [--tokens 512,2048,8192] [--reps 1]
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runThroughput } from "../src/benchmarks/throughput.ts";
import { buildEngine } from "../src/engine/embedded/build.ts";
import { setLogLevel } from "../src/util/log.ts";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "48" },
    isl: { type: "string", default: "128" },
    osl: { type: "string", default: "48" },
    batch: { type: "string", default: "4,16,64,256" },
    tokens: { type: "string", default: "512,2048,8192" },
    reps: { type: "string", default: "1" },
  },
});
const N = Number(values.requests);
const ISL = Number(values.isl);
const OSL = Number(values.osl);
const REPS = Number(values.reps);

async function main(): Promise<void> {
  setLogLevel("error");
  const ws = await mkdtemp(join(tmpdir(), "llm-bench-heur-"));
  try {
    const dataset = join(ws, "d.jsonl");
    let s = 12345;
    const lines: string[] = [];
    for (let i = 0; i < N; i++) {
      const ids: number[] = [];
      for (let j = 0; j < ISL; j++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        ids.push(s % 128000);
      }
      lines.push(JSON.stringify({ task_id: i, input_ids: ids, output_tokens: OSL }));
    }
    await writeFile(dataset, `${lines.join("\n")}\n`);
    const built = await buildEngine({
      model: "llm-bench/tiny-llama",
      workspace: ws,
      dataset,
      quantization: "FP8",
      out: () => undefined,
    });
    const hb = built.plan.maxBatchSize;
    const ht = built.plan.maxNumTokens;
    const run = async (maxBatchSize?: number, maxNumTokens?: number): Promise<number> => {
      let best = 0;
      for (let r = 0; r < REPS; r++) {
        const { stats } = await runThroughput({
          backend: "embedded",
          model: "llm-bench/tiny-llama",
          workspace: ws,
          dataset,
          engineDir: built.engineDir,
          numRequests: 0,
          warmup: 2,
          concurrency: -1,
          maxBatchSize,
          maxNumTokens,
          streaming: false,
          eosId: -1,
          out: () => undefined,
        });
        best = Math.max(best, stats.outputThroughput);
      }
      return best;
    };
    console.log(
      `heuristic-quality: tiny-llama Q8_0, ${N} requests ISL ${ISL} / OSL ${OSL}; heuristic chose max_batch_size ${hb}, ` +
        `max_num_tokens ${ht} (the runtime caps batch at llama.cpp's 256 sequences)`,
    );
    const batches = values.batch.split(",").map(Number);
    const tokens = values.tokens.split(",").map(Number);
    console.log(`max_batch_size \\ max_num_tokens | ${tokens.map((t) => String(t).padStart(8)).join(" | ")}`);
    let best = { tps: 0, b: 0, t: 0 };
    for (const b of batches) {
      const row: string[] = [];
      for (const t of tokens) {
        const tps = await run(b, t);
        if (tps > best.tps) best = { tps, b, t };
        row.push(tps.toFixed(1).padStart(8));
      }
      console.log(`${String(b).padStart(31)} | ${row.join(" | ")}`);
    }
    const h = await run();
    console.log(`best grid point: batch ${best.b}, tokens ${best.t}: ${best.tps.toFixed(1)} output tok/s`);
    console.log(
      `heuristic (${hb}/${ht}): ${h.toFixed(1)} output tok/s = ${(h / best.tps).toFixed(3)} of the best`,
    );
  } finally {
    await rm(ws, { recursive: true, force: true });
  }
}

await main();
