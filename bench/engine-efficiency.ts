/**
 * The embedded engine against llama.cpp's own llama-batched-bench: same GGUF, KV cache type, threads, batch
 * sizes and llama.cpp source (node-llama-cpp's bundled release), on the CPU or a GPU.
 *
 * For each batch size B: (ours) the real `llm-bench throughput` CLI with B requests of ISL/OSL tokens in one
 * wave (max batch B), its `--iteration_log` giving the decode steps (no prefill, all B sequences), split into
 * llama_decode, sampling and the rest; (theirs) `llama-batched-bench -npp ISL -ntg OSL -npl B`, whose decode
 * step is T_TG / OSL. Ratio = their step / ours (1.0 = no overhead). Runs interleaved, median of the reps.
 * `--offline N` also runs N requests through `throughput` with max batch = the largest B, against the output
 * rate batched-bench implies for the same work in full waves: B × OSL / (T_PP + T_TG).
 *
 *   npx tsx bench/engine-efficiency.ts [--engine_dir DIR] [--batched_bench PATH] [--batch 1,16,64]
 *     [--isl 128] [--osl 128] [--threads 1,2] [--reps 3] [--offline 0] [--device auto|cpu]
 *
 * Without --batched_bench (or LLAMA_BATCHED_BENCH) it builds llama-batched-bench for the CPU from
 * node-llama-cpp's bundled llama.cpp source with CMake, once, into ~/.cache/llm-bench/.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { homedir, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readEngineConfig } from "../src/engine/embedded/engine-dir.ts";

const { values } = parseArgs({
  options: {
    engine_dir: { type: "string" },
    batched_bench: { type: "string" },
    isl: { type: "string", default: "128" },
    osl: { type: "string", default: "128" },
    reps: { type: "string", default: "3" },
    threads: { type: "string" },
    batch: { type: "string", default: "1,16,64" },
    offline: { type: "string", default: "0" },
    device: { type: "string", default: "auto" },
    gpu_layers: { type: "string", default: "99" },
    reference: { type: "string", default: "linked" },
    baseline_cli: { type: "string" },
    cli_args: { type: "string", default: "" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(
    [
      "engine-efficiency: the embedded engine's decode step against llama.cpp's llama-batched-bench (same GGUF).",
      "",
      "  node dist/bench/engine-efficiency.js [options]",
      "",
      "  --engine_dir DIR       engine built by `llm-bench build` (default: build llm-bench/tiny-llama into a temp dir)",
      "  --batched_bench PATH   llama-batched-bench binary (or LLAMA_BATCHED_BENCH; default: build it for the CPU",
      "                         from node-llama-cpp's bundled llama.cpp into ~/.cache/llm-bench/)",
      "  --reference linked     how that default is built: linked = batched-bench.cpp compiled against the llama.cpp",
      "                         libraries node-llama-cpp ships for this CPU (the binary the engine runs: measures",
      "                         llm-bench's own overhead); cmake = a separate CMake build (GGML_NATIVE, OpenMP)",
      "  --batch 1,16,64        batch sizes (one wave of B requests each)",
      "  --isl 128 --osl 128    input / output tokens per request",
      "  --threads N[,M]        CPU threads (default: the CLI's default for each batch, read back from its report)",
      "  --reps 3               interleaved repetitions; the median ratio is reported",
      "  --offline 0            also run N requests offline at the largest batch (0: off)",
      "  --device auto|cpu      the CLI's --device",
      "  --gpu_layers 99        llama-batched-bench -ngl on a GPU device (0 on the CPU)",
      '  --cli_args "A B"       extra arguments for every llm-bench throughput run (e.g. --no-gpu_metrics)',
      "  --baseline_cli PATH    also run another llm-bench build (its dist/src/cli/bin.cjs) in the same",
      "                         interleaved reps, for a before/after comparison on the same machine state",
    ].join("\n"),
  );
  process.exit(0);
}
const ISL = Number(values.isl);
const OSL = Number(values.osl);
const REPS = Number(values.reps);
/** Thread counts to run; 0: the CLI's own default for the batch (the report says what it was). */
const THREADS = (values.threads ?? "0").split(",").map(Number);
const BATCHES = values.batch.split(",").map(Number);
const OFFLINE = Number(values.offline);
/** The project root, from bench/ (tsx) or dist/bench/ (compiled). */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) dir = resolve(dir, "..");
  return dir;
}
const ROOT = projectRoot();
const CLI = join(ROOT, "dist", "src", "cli", "bin.cjs");
const BASELINE = values.baseline_cli ? resolve(values.baseline_cli) : undefined;

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

function randomIds(n: number, seed: number): number[] {
  let s = seed >>> 0;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push(s % 32000);
  }
  return out;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d;
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d;
    });
    child.on("error", rej);
    child.on("close", (code) =>
      code === 0
        ? res(out + err)
        : rej(new Error(`${cmd} ${args.join(" ")} exited ${code}:\n${(out + err).slice(-3000)}`)),
    );
  });
}

/** llama-batched-bench for the CPU from node-llama-cpp's bundled source, built once (CMake, a C++ compiler). */
async function batchedBenchPath(): Promise<string> {
  const given = values.batched_bench ?? process.env.LLAMA_BATCHED_BENCH;
  if (given) return given;
  const require = createRequire(import.meta.url);
  let pkg = dirname(require.resolve("node-llama-cpp"));
  while (!existsSync(join(pkg, "llama", "gitRelease.bundle"))) pkg = dirname(pkg);
  const info = JSON.parse(await readFile(join(pkg, "llama", "llama.cpp.info.json"), "utf8")) as {
    tag: string;
  };
  if (values.reference === "linked") return linkedBatchedBench(pkg, info.tag);
  if (values.reference !== "cmake") throw new Error(`--reference ${values.reference}: linked or cmake`);
  const home = join(homedir(), ".cache", "llm-bench", `llama.cpp-${info.tag}-cpu`);
  const bin = join(home, "build", "bin", "llama-batched-bench");
  if (existsSync(bin)) return bin;
  console.log(`building llama-batched-bench (llama.cpp ${info.tag}, CPU) into ${home} (once; minutes)...`);
  await mkdir(home, { recursive: true });
  const src = join(home, "src");
  if (!existsSync(join(src, "CMakeLists.txt"))) {
    await rm(src, { recursive: true, force: true });
    await run("git", ["clone", "-q", join(pkg, "llama", "gitRelease.bundle"), src]);
  }
  const build = join(home, "build");
  await run("cmake", [
    "-S",
    src,
    "-B",
    build,
    "-DCMAKE_BUILD_TYPE=Release",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
  ]);
  await run("cmake", [
    "--build",
    build,
    "-j",
    String(Math.max(1, THREADS[0] ?? 2)),
    "--target",
    "llama-batched-bench",
  ]);
  return bin;
}

/**
 * llama-batched-bench's two source files compiled against the libraries node-llama-cpp loads on this CPU
 * (libllama, libllama-common, libggml*: its prebuilt package), so the reference runs the very llama.cpp binary
 * the engine runs and the ratio is llm-bench's own overhead, not a difference between builds (a CMake build
 * uses OpenMP and -march=native; node-llama-cpp's uses ggml's thread pool and per-CPU variants). The binary
 * sits beside links to those libraries: ggml loads its CPU variant from the executable's folder.
 */
async function linkedBatchedBench(pkg: string, tag: string): Promise<string> {
  const require = createRequire(join(pkg, "package.json"));
  const prebuilt = `@node-llama-cpp/${process.platform}-${process.arch}`;
  // the package exports no package.json: from its entry point up to the folder holding bins/
  let dir = dirname(require.resolve(prebuilt));
  while (!existsSync(join(dir, "bins")) && dirname(dir) !== dir) dir = dirname(dir);
  const libs = join(dir, "bins", `${process.platform}-${process.arch}`);
  const home = join(homedir(), ".cache", "llm-bench", `llama.cpp-${tag}-linked`);
  const bin = join(home, "llama-batched-bench");
  if (existsSync(bin)) return bin;
  console.log(`compiling llama-batched-bench (llama.cpp ${tag}) against ${libs} into ${home} (once)...`);
  await mkdir(home, { recursive: true });
  const src = join(home, "src");
  if (!existsSync(join(src, "tools", "batched-bench", "batched-bench.cpp"))) {
    await rm(src, { recursive: true, force: true });
    await run("git", ["clone", "-q", join(pkg, "llama", "gitRelease.bundle"), src]);
  }
  const sos = (await readdir(libs)).filter((f) => f.endsWith(".so"));
  for (const f of sos) {
    await rm(join(home, f), { force: true });
    await symlink(join(libs, f), join(home, f));
  }
  const llama = sos.find((f) => f.startsWith("libllama") && !f.includes("common"));
  const ggml = sos.find(
    (f) => f === "libggml.so" || /^libggml\.v?[\d.]*\.?so$/.test(f) || /^libggml\.[^-]*\.so$/.test(f),
  );
  if (!llama || !ggml || !sos.includes("libllama-common.so")) {
    throw new Error(`${libs}: no libllama / libllama-common / libggml among ${sos.join(", ")}`);
  }
  await run("c++", [
    "-O2",
    "-std=c++17",
    ...["include", "common", "ggml/include", "vendor"].map((d) => `-I${join(src, d)}`),
    join(src, "tools", "batched-bench", "batched-bench.cpp"),
    join(src, "tools", "batched-bench", "main.cpp"),
    "-o",
    bin,
    `-L${home}`,
    "-l:libllama-common.so",
    `-l:${llama}`,
    `-l:${ggml}`,
    "-l:libggml-base.so",
    "-Wl,-rpath,$ORIGIN",
    "-lpthread",
  ]);
  return bin;
}

interface Theirs {
  stepMs: number;
  tPp: number;
  tTg: number;
}

async function theirs(
  bin: string,
  gguf: string,
  kv: string,
  b: number,
  t: number,
  nt: number,
  gpu: boolean,
): Promise<Theirs> {
  const out = await run(bin, [
    "-m",
    gguf,
    "-c",
    String(b * (ISL + OSL)),
    "-b",
    String(nt),
    "-ub",
    String(nt),
    "-npp",
    String(ISL),
    "-ntg",
    String(OSL),
    "-npl",
    String(b),
    "-t",
    String(t),
    "-tb",
    String(t),
    "-ctk",
    kv.toLowerCase(),
    "-ctv",
    kv.toLowerCase(),
    "-ngl",
    gpu ? values.gpu_layers : "0",
    "--output-format",
    "jsonl",
  ]);
  const line = out
    .split("\n")
    .filter((l) => l.startsWith("{") && l.includes('"t_tg"'))
    .pop();
  if (!line) throw new Error(`llama-batched-bench printed no result:\n${out.slice(-2000)}`);
  const j = JSON.parse(line) as { t_pp: number; t_tg: number };
  return { stepMs: (j.t_tg / OSL) * 1000, tPp: j.t_pp, tTg: j.t_tg };
}

interface Ours {
  stepMs: number;
  decodeMs: number;
  sampleMs: number;
  outputTps: number;
  maxNumTokens: number;
  /** The threads the CLI ran with (its default when t is 0), which the reference then gets. */
  threads: number;
  device: string;
}

async function ours(
  cli: string,
  ws: string,
  model: string,
  engineDir: string,
  dataset: string,
  b: number,
  n: number,
  t: number,
): Promise<Ours> {
  const iter = join(ws, "iter.jsonl");
  const rep = join(ws, "report.json");
  await run(
    process.execPath,
    [
      cli,
      "--model",
      model,
      "--log_level",
      "error",
      "throughput",
      "--dataset",
      dataset,
      "--engine_dir",
      engineDir,
      "--num_requests",
      String(n),
      "--max_batch_size",
      String(b),
      ...(t > 0 ? ["--threads", String(t)] : []),
      ...values.cli_args.split(" ").filter(Boolean),
      "--warmup",
      "2",
      "--device",
      values.device,
      "--iteration_log",
      iter,
      "--report_json",
      rep,
      "--streaming",
    ],
    { ...process.env, UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE },
  );
  const steps = (await readFile(iter, "utf8"))
    .split("\n")
    .filter(Boolean)
    .map(
      (l) =>
        JSON.parse(l) as {
          step_ms: number;
          decode_ms: number;
          sample_ms: number;
          prefill_tokens: number;
          batch_size: number;
          timestamp_ns: number;
        },
    );
  const isDecode = (s: (typeof steps)[number] | undefined) =>
    s !== undefined && s.prefill_tokens === 0 && s.batch_size === b;
  const decode = steps.filter(isDecode);
  // A step's period: from one decode step's end to the next one's, so everything the loop does per step counts
  // (token hand-off, bookkeeping, the event-loop turn), not only the span from plan to sampled tokens (step_ms).
  const periods: number[] = [];
  for (let i = 1; i < steps.length; i++) {
    if (isDecode(steps[i]) && isDecode(steps[i - 1]))
      periods.push((steps[i]!.timestamp_ns - steps[i - 1]!.timestamp_ns) / 1e6);
  }
  if (periods.length === 0) throw new Error(`no two consecutive decode steps of batch ${b} in ${iter}`);
  const report = JSON.parse(await readFile(rep, "utf8")) as {
    performance: { system_output_throughput_tok_s: number };
    world_info: { max_num_tokens: number };
    machine: { name: string; compute: { backend: string; threads: number } } | null;
  };
  return {
    stepMs: mean(periods),
    decodeMs: mean(decode.map((s) => s.decode_ms)),
    sampleMs: mean(decode.map((s) => s.sample_ms)),
    outputTps: report.performance.system_output_throughput_tok_s,
    maxNumTokens: report.world_info.max_num_tokens,
    threads: report.machine?.compute.threads ?? t,
    device: report.machine ? `${report.machine.compute.backend} (${report.machine.name})` : "?",
  };
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  const ws = await mkdtemp(join(tmpdir(), "llm-bench-eff-"));
  try {
    const maxB = Math.max(...BATCHES);
    const n = Math.max(maxB, OFFLINE);
    const dataset = join(ws, "wave.jsonl");
    const lines: string[] = [];
    for (let i = 0; i < n; i++) {
      lines.push(JSON.stringify({ task_id: i, input_ids: randomIds(ISL, i + 1), output_tokens: OSL }));
    }
    await writeFile(dataset, `${lines.join("\n")}\n`);
    let engineDir = values.engine_dir;
    if (!engineDir) {
      await run(process.execPath, [
        CLI,
        "--model",
        "llm-bench/tiny-llama",
        "--workspace",
        ws,
        "--log_level",
        "error",
        "build",
        "--dataset",
        dataset,
        "--quantization",
        "FP8",
      ]);
      engineDir = join(ws, "llm-bench", "tiny-llama", "tp_1_pp_1");
    }
    const cfg = await readEngineConfig(engineDir);
    const gguf = join(engineDir, cfg.llm_bench.gguf_file);
    const kv = cfg.llm_bench.kv_cache_type.toUpperCase();
    const bin = await batchedBenchPath();
    const version = await new Promise<string>((r) =>
      execFile(bin, ["--version"], (_e, o, e) =>
        r(`${o}${e}`.split("\n").find((l) => l.startsWith("version")) ?? "?"),
      ),
    );
    console.log(
      `engine-efficiency: ${cfg.llm_bench.model_name} (${cfg.llm_bench.weight_type}, KV ${kv}), ISL ${ISL} / OSL ${OSL}, ` +
        `median of ${REPS} interleaved reps; llama-batched-bench ${bin} (${version.trim()}); libuv pool ${process.env.UV_THREADPOOL_SIZE ?? "CLI default (cores, >= 4)"}`,
    );
    for (const t of THREADS) {
      console.log(
        `\nthreads ${t > 0 ? t : "(the CLI's default for each batch: the reference gets the same)"}`,
      );
      console.log(
        "batch | device | batched-bench step ms | llm-bench step ms (decode + sample + rest) | ratio (median) | raw ratios",
      );
      let lastTheirs: Theirs | undefined;
      let device = "?";
      for (const b of BATCHES) {
        const a: Ours[] = [];
        const c: Theirs[] = [];
        const base: Ours[] = [];
        for (let r = 0; r < REPS; r++) {
          const o = await ours(CLI, ws, cfg.llm_bench.model_name, engineDir, dataset, b, b, t);
          device = `${o.device}, ${o.threads} threads`;
          a.push(o);
          c.push(await theirs(bin, gguf, kv, b, o.threads, o.maxNumTokens, !o.device.startsWith("cpu")));
          if (BASELINE)
            base.push(
              await ours(BASELINE, ws, cfg.llm_bench.model_name, engineDir, dataset, b, b, o.threads),
            );
        }
        const ratios = a.map((o, i) => c[i]!.stepMs / o.stepMs);
        const mo = median(a.map((o) => o.stepMs));
        const md = median(a.map((o) => o.decodeMs));
        const ms = median(a.map((o) => o.sampleMs));
        console.log(
          `${String(b).padStart(5)} | ${device} | ${median(c.map((x) => x.stepMs))
            .toFixed(3)
            .padStart(8)} | ` +
            `${mo.toFixed(3)} (${md.toFixed(3)} + ${ms.toFixed(3)} + ${(mo - md - ms).toFixed(3)}) | ${median(ratios).toFixed(3)} | ` +
            ratios.map((x) => x.toFixed(3)).join(", "),
        );
        if (BASELINE) {
          const br = base.map((o, i) => c[i]!.stepMs / o.stepMs);
          console.log(
            `      baseline ${BASELINE}: step ${median(base.map((o) => o.stepMs)).toFixed(3)} ms (decode ${median(
              base.map((o) => o.decodeMs),
            ).toFixed(
              3,
            )} + sample ${median(base.map((o) => o.sampleMs)).toFixed(3)}) | ratio ${median(br).toFixed(3)} | ` +
              br.map((x) => x.toFixed(3)).join(", "),
          );
        }
        if (b === maxB) lastTheirs = c.sort((x, y) => x.tPp + x.tTg - (y.tPp + y.tTg))[c.length >> 1];
      }
      if (OFFLINE > 0 && lastTheirs) {
        const runs: number[] = [];
        for (let r = 0; r < REPS; r++)
          runs.push(
            (await ours(CLI, ws, cfg.llm_bench.model_name, engineDir, dataset, maxB, OFFLINE, t)).outputTps,
          );
        const implied = (maxB * OSL) / (lastTheirs.tPp + lastTheirs.tTg);
        console.log(
          `offline ${OFFLINE} x ${ISL}/${OSL}, max batch ${maxB}: llm-bench ${median(runs).toFixed(1)} output tok/s ` +
            `(${runs.map((x) => x.toFixed(1)).join(", ")}); batched-bench implies ${implied.toFixed(1)} ` +
            `(B x OSL / (T_PP + T_TG) = ${maxB} x ${OSL} / ${(lastTheirs.tPp + lastTheirs.tTg).toFixed(3)} s); ratio ${(median(runs) / implied).toFixed(3)}`,
        );
      }
    }
  } finally {
    await rm(ws, { recursive: true, force: true });
  }
}

await main();
