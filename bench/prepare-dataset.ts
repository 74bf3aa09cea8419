/**
 * Throughput of `prepare-dataset token-norm-dist` (100 000 requests × 1 024 input tokens, stdev 0, output 128)
 * against a Python/numpy run of trtllm-bench's own algorithm on the same seed, when python3 + numpy exist.
 * The reference runs fewer requests by default (it is ~100× slower); lines/s are compared, and the reference's
 * lines are checked to be byte-identical to the first lines of ours.
 *
 *   npx tsx bench/prepare-dataset.ts [--requests 100000] [--input 1024] [--ref-requests 10000] [--keep]
 */
import { spawnSync } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { prepareDataset } from "../src/dataset/prepare.ts";
import { resolveTokenizer } from "../src/model/tokenizer-resolve.ts";

/** trtllm-bench's get_norm_dist_lengths + gen_random_tokens + generate_text_dataset, written out plainly. */
const REFERENCE_PY = `
import sys, json, math, random
import numpy as np
n, isl_mean, osl_mean, seed, vocab, eos, out_path = sys.argv[1:]
n, isl_mean, osl_mean, seed, vocab, eos = map(int, (n, isl_mean, osl_mean, seed, vocab, eos))
def lengths(mean):
    np.random.seed(seed)
    return [max(1, math.ceil(x)) for x in np.random.normal(loc=mean, scale=0, size=n).tolist()]
isl = lengths(isl_mean); osl = lengths(osl_mean)
random.seed(seed)
with open(out_path, "w") as f:
    for i, L in enumerate(isl):
        ids = random.sample(range(0, vocab), L) if L < vocab else random.choices(range(0, vocab), k=L)
        while set([eos]).issubset(ids):
            ids = [(eos + 1) % vocab if e == eos else e for e in ids]
        f.write(json.dumps({"task_id": i, "input_ids": ids, "output_tokens": osl[i]}, separators=(",", ":"), ensure_ascii=False) + "\\n")
`;

async function firstLines(path: string, n: number): Promise<string[]> {
  const rl = createInterface({ input: createReadStream(path, { encoding: "utf8" }), crlfDelay: Infinity });
  const out: string[] = [];
  for await (const line of rl) {
    out.push(line);
    if (out.length >= n) break;
  }
  rl.close();
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      requests: { type: "string", default: "100000" },
      input: { type: "string", default: "1024" },
      output: { type: "string", default: "128" },
      "ref-requests": { type: "string", default: "10000" },
      keep: { type: "boolean", default: false },
    },
  });
  const n = Number(values.requests);
  const isl = Number(values.input);
  const osl = Number(values.output);
  const refN = Math.min(n, Number(values["ref-requests"]));
  const seed = 420;
  const dir = await mkdtemp(join(tmpdir(), "llm-bench-prep-"));
  const ours = join(dir, "ours.jsonl");
  try {
    const t0 = performance.now();
    const tokenizer = await resolveTokenizer({ model: "meta-llama/Llama-3.1-8B" });
    const loadMs = performance.now() - t0;
    const cpu0 = process.cpuUsage();
    const summary = await prepareDataset({
      tokenizer,
      output: ours,
      randomSeed: seed,
      summary: false,
      workload: {
        kind: "token-norm-dist",
        numRequests: n,
        inputMean: isl,
        inputStdev: 0,
        outputMean: osl,
        outputStdev: 0,
      },
    });
    const cpu = process.cpuUsage(cpu0);
    const s = summary.elapsedMs / 1000;
    const size = (await stat(ours)).size;
    console.log(
      `llm-bench prepare-dataset: ${n} requests × ${isl} tokens → ${(size / 1048576).toFixed(0)} MiB`,
    );
    console.log(
      `  generate+write: ${s.toFixed(2)} s, ${Math.round(n / s)} lines/s, ${Math.round((n * isl) / s / 1e6)} M tokens/s`,
    );
    console.log(
      `  CPU time of this process: ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s (wall time suffers when other work shares the cores)`,
    );
    console.log(`  (tokenizer load ${(loadMs / 1000).toFixed(2)} s, not included)`);

    const probe = spawnSync("python3", ["-c", "import numpy"], { stdio: "ignore" });
    if (probe.status !== 0) {
      console.log("reference: skipped (python3 with numpy not found)");
      return;
    }
    const ref = join(dir, "reference.jsonl");
    const eos = tokenizer.eosTokenId ?? -1;
    const r0 = performance.now();
    const res = spawnSync(
      "python3",
      [
        "-c",
        REFERENCE_PY,
        String(refN),
        String(isl),
        String(osl),
        String(seed),
        String(tokenizer.vocabSize),
        String(eos),
        ref,
      ],
      { stdio: ["ignore", "inherit", "inherit"] },
    );
    const rs = (performance.now() - r0) / 1000;
    if (res.status !== 0) {
      console.log(`reference: python3 failed (exit ${res.status})`);
      return;
    }
    const refRate = refN / rs;
    console.log(
      `python3/numpy reference (trtllm-bench's algorithm): ${refN} requests in ${rs.toFixed(2)} s, ${Math.round(refRate)} lines/s`,
    );
    console.log(`  ratio: llm-bench is ${(n / s / refRate).toFixed(1)}× the reference's lines/s`);
    const [a, b] = await Promise.all([firstLines(ours, refN), firstLines(ref, refN)]);
    const same = a.length === b.length && a.every((line, i) => line === b[i]);
    console.log(`  first ${refN} lines byte-identical to the reference: ${same ? "yes" : "NO"}`);
    if (!same) process.exitCode = 1;
  } finally {
    if (values.keep) console.log(`kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

await main();
