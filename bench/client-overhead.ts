/**
 * Client overhead of the openai backend: `npx tsx bench/client-overhead.ts [--tokens 100] [--scale 1]`.
 * Starts the zero-work streaming server (bench/client-overhead-server.mjs) in its own process, then for 1, 100
 * and 1,000 concurrent streams runs, each in its own process, llm-bench's client (the real OpenAiEngine under
 * runOffline, client-side token counting included) and a Python aiohttp client doing the same work
 * (bench/client-overhead-aiohttp.py). Prints token events per client CPU-second, and added TTFT: the TTFT the
 * client measured minus the server's own request-read → first-write time (CLOCK_MONOTONIC in all processes).
 * Also prints the delivery lag (server's first write → client's first token), the receive side alone.
 * Goal: ≥ 5× the Python client's events per CPU-second, < 1 ms added TTFT at 1,000 streams.
 * CLIENT_OVERHEAD_PROFILE=out.cpuprofile writes a V8 CPU profile of llm-bench's measured window.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

interface CellResult {
  events: number;
  cpu_s: number;
  wall_s: number;
  failed: number;
  ttft_added_ms: { p50: number; p99: number; mean: number };
  /** Server's first-event write → the client's first-token time: the receive side alone. */
  delivery_ms: { p50: number; p99: number };
}

// The server and the Python client are plain files next to the sources, also when this runs compiled from dist/.
const HERE = fileURLToPath(new URL(".", import.meta.url)).replace(/dist[\\/]bench[\\/]$/, "bench/");

/** Requests before the measured window, for both clients (at least the concurrency, to open the pool). */
const WARMUP_REQUESTS = 1000;

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

// ---- child: llm-bench's client -------------------------------------------------------------------------
async function child(base: string, conc: number, total: number, tokens: number): Promise<void> {
  const { setLogLevel } = await import("../src/util/log.ts");
  const { nowNs } = await import("../src/util/clock.ts");
  const { resolveTokenizer } = await import("../src/model/tokenizer-resolve.ts");
  const { OpenAiConnection } = await import("../src/engine/openai/connection.ts");
  const { OpenAiEngine } = await import("../src/engine/openai/client.ts");
  const { runOffline } = await import("../src/load/offline.ts");
  setLogLevel("error");
  const tokenizer = await resolveTokenizer({ model: "llm-bench/tiny-llama" });
  const conn = new OpenAiConnection({
    baseUrl: base,
    endpoint: "completions",
    requestTimeoutMs: 600_000,
    concurrency: conc,
  });
  const engine = new OpenAiEngine({
    connection: conn,
    info: {} as never,
    model: "bench",
    features: { tokenIdPrompts: true, extensions: true },
    tokenizer,
  });
  const reqs = (from: number, n: number) =>
    Array.from({ length: n }, (_, i) => ({
      taskId: from + i,
      inputIds: Int32Array.of(from + i),
      prompt: undefined,
      outputTokens: tokens,
      line: i + 1,
      loraRequest: undefined,
    }));
  const load = { concurrency: conc, streaming: true, eosId: undefined, keepOutputIds: false };
  // Warmup: open the pool, and run enough requests for V8 to optimize the hot paths. With only `conc` of them
  // the 1-stream cell measured mostly unoptimized code (~2.5 ms per request cold vs ~0.8 ms warm).
  await runOffline(engine, reqs(10_000_000, Math.max(conc, WARMUP_REQUESTS)), load);
  await (await fetch(`${base}/stats`)).text();
  const profile = process.env["CLIENT_OVERHEAD_PROFILE"];
  const session = profile ? new (await import("node:inspector/promises")).Session() : undefined;
  if (session) {
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.start");
  }
  const cpu0 = process.cpuUsage();
  const wall0 = nowNs();
  const { records } = await runOffline(engine, reqs(0, total), load);
  const cpu = process.cpuUsage(cpu0);
  if (session && profile) {
    const { profile: p } = await session.post("Profiler.stop");
    (await import("node:fs")).writeFileSync(profile, JSON.stringify(p));
  }
  const wall = (nowNs() - wall0) / 1e9;
  const srv = (await (await fetch(`${base}/stats`)).json()) as Record<string, [number, number]>;
  await engine.stop();
  // nowNs() counts from a process-local origin; the server stamps absolute CLOCK_MONOTONIC.
  const origin = Number(process.hrtime.bigint()) - nowNs();
  const added: number[] = [];
  const delivery: number[] = [];
  let events = 0;
  let failed = 0;
  for (const r of records) {
    if (r.error !== undefined || r.firstTokenNs < 0) {
      failed++;
      continue;
    }
    events += r.chunkTimesNs?.length ?? 0;
    const [recv, written] = srv[r.id]!;
    added.push(r.firstTokenNs - r.startNs - (written - recv));
    delivery.push(r.firstTokenNs + origin - written);
  }
  added.sort((a, b) => a - b);
  delivery.sort((a, b) => a - b);
  const at = (xs: number[], q: number) =>
    xs.length ? xs[Math.min(xs.length - 1, Math.floor(xs.length * q))]! / 1e6 : 0;
  const pick = (q: number) => at(added, q);
  const out: CellResult = {
    events,
    cpu_s: (cpu.user + cpu.system) / 1e6,
    wall_s: wall,
    failed,
    ttft_added_ms: {
      p50: pick(0.5),
      p99: pick(0.99),
      mean: added.length ? added.reduce((a, b) => a + b, 0) / added.length / 1e6 : 0,
    },
    delivery_ms: { p50: at(delivery, 0.5), p99: at(delivery, 0.99) },
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

// ---- parent ----------------------------------------------------------------------------------------------
function startServer(): Promise<{ proc: ChildProcess; base: string }> {
  const proc = spawn(process.execPath, [`${HERE}client-overhead-server.mjs`], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    proc.once("error", reject);
    proc.stdout!.once("data", (d: Buffer) => {
      const m = /LISTEN (\d+)/.exec(d.toString());
      if (!m) reject(new Error(`server said: ${d.toString()}`));
      else resolve({ proc, base: `http://127.0.0.1:${m[1]}` });
    });
  });
}

function runCell(cmd: string, args: string[]): CellResult {
  const out = execFileSync(cmd, args, {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 1 << 20,
  });
  return JSON.parse(out.trim().split("\n").at(-1)!) as CellResult;
}

/** Debian's python3 (where python3-aiohttp installs) first, then whatever `python3` is on PATH. */
function pythonWithAiohttp(): string | undefined {
  for (const py of ["/usr/bin/python3", "python3"]) {
    try {
      execFileSync(py, ["-c", "import aiohttp"], { stdio: "ignore" });
      return py;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

async function main(): Promise<void> {
  if (process.argv[2] === "--child") {
    const [base, conc, total, tokens] = process.argv.slice(3);
    await child(base!, Number(conc), Number(total), Number(tokens));
    return;
  }
  const tokens = arg("--tokens", 100);
  const scale = arg("--scale", 1);
  const cells = [
    { conc: 1, total: Math.round(2000 * scale) },
    { conc: 100, total: Math.round(3000 * scale) },
    { conc: 1000, total: Math.round(5000 * scale) },
  ];
  const python = pythonWithAiohttp();
  if (!python)
    process.stdout.write(
      "python3-aiohttp is missing: apt-get install python3-aiohttp (measuring llm-bench only)\n",
    );
  const { proc, base } = await startServer();
  const fmt = (n: number, d = 0) =>
    n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
  process.stdout.write(
    `zero-work server ${base} (own process), ${tokens} token events per request, ${process.env["HOSTNAME"] ?? ""}\n\n` +
      "client           streams  requests   events  client CPU s  events/CPU-s  added TTFT ms p50 / p99 / mean  delivery ms p50 / p99  failed\n",
  );
  try {
    for (const c of cells) {
      const row = (name: string, r: CellResult) =>
        process.stdout.write(
          `${name.padEnd(16)} ${String(c.conc).padStart(7)} ${String(c.total).padStart(9)} ${String(r.events).padStart(8)} ` +
            `${fmt(r.cpu_s, 3).padStart(13)} ${fmt(r.events / r.cpu_s).padStart(13)}  ` +
            `${`${fmt(r.ttft_added_ms.p50, 3)} / ${fmt(r.ttft_added_ms.p99, 3)} / ${fmt(r.ttft_added_ms.mean, 3)}`.padStart(30)}  ` +
            `${`${fmt(r.delivery_ms.p50, 3)} / ${fmt(r.delivery_ms.p99, 3)}`.padStart(22)}  ${r.failed}\n`,
        );
      const ours = runCell(process.execPath, [
        ...process.execArgv,
        fileURLToPath(import.meta.url),
        "--child",
        base,
        String(c.conc),
        String(c.total),
        String(tokens),
      ]);
      row("llm-bench", ours);
      if (python) {
        const py = runCell(python, [
          `${HERE}client-overhead-aiohttp.py`,
          base,
          String(c.conc),
          String(c.total),
          String(tokens),
        ]);
        row("python aiohttp", py);
        process.stdout.write(
          `${"".padEnd(16)} ${"".padStart(7)} llm-bench / aiohttp events per CPU-second: ${fmt(ours.events / ours.cpu_s / (py.events / py.cpu_s), 2)}×\n`,
        );
      }
    }
  } finally {
    proc.kill("SIGTERM");
  }
}

await main();
