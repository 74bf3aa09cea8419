/**
 * The load generator at dataset scale, through the real CLI: `npm run bench:load-scale -- [--requests 1000000]
 * [--concurrency 64] [--duration 60] [--sigint_after 5] [--server zero|fixture] [--only duration|sigint|full]
 * [--cli path/to/main.js]`. An OpenAI-compatible streaming
 * server in its own process plays a fast engine (see startServer), so the client is all that is measured.
 *
 * 1. Duration: `throughput --concurrency C --duration D` on the whole dataset. Wall time of the command, time
 *    from the benchmark's start ("Starting benchmark") to the exit, peak RSS (GNU time's %M), and the report's
 *    issued / completed / not_issued and event-loop lag.
 * 2. SIGINT: the same run without --duration, interrupted `--sigint_after` seconds after the benchmark started:
 *    seconds from the signal to the exit, exit code, and the partial report's counts.
 * 3. `--only full`: the whole dataset without a bound (every request completes): peak RSS and the cost of the
 *    run's end at full scale.
 * Each row also gives the CLI's CPU seconds and the load average (the machine is shared: wall times stretch).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, existsSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(new URL(".", import.meta.url)).replace(/dist[\\/]bench[\\/]$/, "bench/");
const cliIndex = process.argv.indexOf("--cli");
/** `--cli PATH`: another build's main.js (e.g. an earlier commit's, for a before/after comparison). */
const CLI =
  cliIndex >= 0 ? process.argv[cliIndex + 1]! : fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const GNU_TIME = "/usr/bin/time";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

async function writeDataset(path: string, n: number): Promise<void> {
  const ws = createWriteStream(path);
  for (let i = 0; i < n; i += 10_000) {
    let chunk = "";
    for (let j = i; j < Math.min(n, i + 10_000); j++) {
      chunk += `{"task_id":${j},"input_ids":[${j % 100},2,3,4],"output_tokens":4}\n`;
    }
    if (!ws.write(chunk)) await once(ws, "drain");
  }
  ws.end();
  await once(ws, "close");
}

/**
 * "zero": bench/client-overhead-server.mjs, prebuilt events and no per-request work (the client is the only
 * bottleneck). "fixture": the tests' OpenAI server (test/fixtures/openai-server.ts), which builds each event
 * with JSON.stringify like a real server's frontend, so fewer requests complete in the same time.
 */
async function startServer(kind: string): Promise<{ url: string; child: ChildProcess }> {
  const fixture = fileURLToPath(new URL("../test/fixtures/openai-server.js", import.meta.url));
  const args =
    kind === "fixture"
      ? [
          "--input-type=module",
          "-e",
          `const { startFixtureServer } = await import(${JSON.stringify(fixture)});` +
            "const s = await startFixtureServer({ tokensPerChunk: 1 });" +
            "s.bodies.push = () => 0;" +
            "process.stdout.write('LISTEN ' + new URL(s.url).port + '\\n');" +
            "process.on('SIGTERM', () => process.exit(0));",
        ]
      : [join(HERE, "client-overhead-server.mjs")];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  for await (const chunk of child.stdout!) {
    out += String(chunk);
    const m = /LISTEN (\d+)/.exec(out);
    if (m) return { url: `http://127.0.0.1:${m[1]}`, child };
  }
  throw new Error("the bench server did not start");
}

interface CliRun {
  code: number | null;
  wallS: number;
  /** Seconds from "Starting benchmark" on stderr to the exit. */
  fromStartS: number | undefined;
  /** Seconds from SIGINT to the exit. */
  fromSigintS: number | undefined;
  /**
   * Seconds from the log's "Request submission complete" (the bound, the signal, or the last request sent, with
   * at most --concurrency still in flight) to the exit: what the end of a run costs.
   */
  fromSubmittedS: number | undefined;
  maxRssMiB: number | undefined;
  /** User + system CPU seconds of the CLI process (GNU time's %U + %S): what the client cost, whatever the load. */
  cpuS: number | undefined;
  /** The machine's 1-minute load average at the start and at the end (it is shared). */
  load: [number, number];
  stderr: string;
}

function runCli(args: string[], sigintAfterS: number | undefined): Promise<CliRun> {
  const timeFile = join(tmpdir(), `llm-bench-load-scale-${process.pid}.time`);
  const useTime = existsSync(GNU_TIME);
  const argv = [CLI, ...args];
  const child = useTime
    ? spawn(GNU_TIME, ["-f", "%M %U %S", "-o", timeFile, process.execPath, ...argv], {
        stdio: ["ignore", "ignore", "pipe"],
      })
    : spawn(process.execPath, argv, { stdio: ["ignore", "ignore", "pipe"] });
  const t0 = performance.now();
  const load0 = loadavg()[0]!;
  let started: number | undefined;
  let submitted: number | undefined;
  let sigint: number | undefined;
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => {
    stderr += b.toString();
    if (submitted === undefined && stderr.includes("Request submission complete"))
      submitted = performance.now();
    if (started === undefined && stderr.includes("Starting benchmark")) {
      started = performance.now();
      if (sigintAfterS !== undefined) {
        setTimeout(() => {
          sigint = performance.now();
          // GNU time forwards no signal: send it to the node process itself, time's only child, by its id.
          const pid = useTime
            ? Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim())
            : undefined;
          if (pid) process.kill(pid, "SIGINT");
          else child.kill("SIGINT");
        }, sigintAfterS * 1000);
      }
    }
  });
  return once(child, "exit").then(async ([code]) => {
    const end = performance.now();
    let maxRssMiB: number | undefined;
    let cpuS: number | undefined;
    if (useTime) {
      const [kb, user, sys] = (await readFile(timeFile, "utf8"))
        .trim()
        .split("\n")
        .pop()!
        .split(" ")
        .map(Number);
      maxRssMiB = kb! / 1024;
      cpuS = user! + sys!;
      await rm(timeFile, { force: true });
    }
    return {
      code: code as number | null,
      wallS: (end - t0) / 1000,
      fromStartS: started === undefined ? undefined : (end - started) / 1000,
      fromSigintS: sigint === undefined ? undefined : (end - sigint) / 1000,
      fromSubmittedS: submitted === undefined ? undefined : (end - submitted) / 1000,
      maxRssMiB,
      cpuS,
      load: [load0, loadavg()[0]!],
      stderr,
    };
  });
}

async function main(): Promise<void> {
  const n = arg("--requests", 1_000_000);
  const conc = arg("--concurrency", 64);
  const duration = arg("--duration", 60);
  const sigintAfter = arg("--sigint_after", 5);
  const si = process.argv.indexOf("--server");
  const serverKind = si >= 0 ? process.argv[si + 1]! : "zero";
  const dir = await mkdtemp(join(tmpdir(), "llm-bench-load-scale-"));
  const server = await startServer(serverKind);
  try {
    const dataset = join(dir, "d.jsonl");
    await writeDataset(dataset, n);
    const common = (report: string) => [
      "--model",
      "llm-bench/tiny-llama",
      "--log_level",
      "info",
      "throughput",
      "--dataset",
      dataset,
      "--backend",
      "openai",
      "--base_url",
      server.url,
      "--served_model_name",
      "bench",
      "--concurrency",
      String(conc),
      "--warmup",
      "0",
      "--streaming",
      "--report_json",
      report,
    ];
    const rows: string[] = [];
    const show = (label: string, r: CliRun, report: Record<string, unknown> | undefined) => {
      const load = (report?.["llm_bench"] as { load?: Record<string, unknown> } | undefined)?.load;
      const lag = load?.["event_loop_lag_ms"] as { p99?: number; max?: number } | undefined;
      rows.push(
        `| ${label} | ${r.code} | ${r.wallS.toFixed(1)} | ${r.fromStartS?.toFixed(1) ?? "—"} | ` +
          `${r.fromSigintS?.toFixed(2) ?? "—"} | ${r.fromSubmittedS?.toFixed(2) ?? "—"} | ${r.cpuS?.toFixed(1) ?? "—"} | ${r.maxRssMiB?.toFixed(0) ?? "—"} | ${load?.["issued"] ?? "—"} | ` +
          `${load?.["completed"] ?? "—"} | ${load?.["not_issued"] ?? "—"} | ${lag?.p99?.toFixed(1) ?? "—"} / ${lag?.max?.toFixed(1) ?? "—"} | ` +
          `${r.load[0].toFixed(1)} → ${r.load[1].toFixed(1)} |`,
      );
    };
    const readReport = async (p: string) => {
      try {
        return JSON.parse(await readFile(p, "utf8")) as Record<string, unknown>;
      } catch (err) {
        console.error(`report ${p}: ${(err as Error).message}`);
        return undefined;
      }
    };

    const only = process.argv.includes("--only")
      ? process.argv[process.argv.indexOf("--only") + 1]
      : undefined;
    if (only === "full") {
      // The whole dataset, no bound: every request completes (memory and end-of-run cost at full scale).
      const r0 = join(dir, "full.json");
      const f = await runCli(common(r0), undefined);
      if (f.code !== 0) console.error(f.stderr.slice(-2000));
      show("whole dataset, no bound", f, await readReport(r0));
    }
    if (only === undefined || only === "duration") {
      const r1 = join(dir, "duration.json");
      const a = await runCli([...common(r1), "--duration", String(duration)], undefined);
      if (a.code !== 0) console.error(a.stderr.slice(-2000));
      show(`--duration ${duration}`, a, await readReport(r1));
    }

    const r2 = join(dir, "sigint.json");
    let partial: Record<string, unknown> | undefined;
    if (only === undefined || only === "sigint") {
      const b = await runCli(common(r2), sigintAfter);
      if (b.code !== 130) console.error(b.stderr.slice(-2000));
      partial = await readReport(r2);
      show(`SIGINT after ${sigintAfter} s`, b, partial);
    }
    const partialFlag = (partial?.["llm_bench"] as { load?: { partial?: boolean } } | undefined)?.load
      ?.partial;

    console.log(`${n} requests (ISL 4, OSL 4), --concurrency ${conc}, streaming, ${serverKind} server\n`);
    console.log(
      "| run | exit | wall s | benchmark start → exit s | SIGINT → exit s | submission end → exit s | CPU s | peak RSS MiB | issued | completed | not issued | lag p99 / max ms | load avg |",
    );
    console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (const r of rows) console.log(r);
    console.log(
      `\npartial report valid JSON: ${partial !== undefined}, llm_bench.load.partial = ${partialFlag}`,
    );
  } finally {
    server.child.kill("SIGTERM");
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
