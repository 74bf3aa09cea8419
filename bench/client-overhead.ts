/**
 * Client overhead of the openai backend: `npm run bench:client-overhead -- [--tokens 100] [--scale 1] [--reps 3]
 * [--step_ms 50] [--paced_tokens 20]`. Starts a zero-work streaming server (bench/client-overhead-server.mjs) in
 * its own process, then runs llm-bench's client (the real OpenAiEngine under runOffline, client-side token
 * counting included) and a Python aiohttp client doing the same work (bench/client-overhead-aiohttp.py), each
 * cell in fresh processes, alternating the two clients.
 *
 * 1. Flood: the server sends each request's other events in one write, as fast as the client reads. Token events
 *    per client CPU-second at 1, 100 and 1,000 concurrent streams; median of --reps, the clients interleaved.
 * 2. Paced: the server emits like an engine's decode steps (one event to every open stream every --step_ms),
 *    so 1,000 streams at 20 tokens/s each keep the client busy the way a real batch does without saturating it.
 *
 * Added TTFT is what the client itself adds to TTFT: its time from the request's start to handing the bytes to
 * the socket (send) plus the time from the server's first-event write to the client's first-token stamp
 * (delivery). Everything between (the server reading, queueing and answering) is the server's. Both processes
 * stamp CLOCK_MONOTONIC. Goal: >= 5x the Python client's events per CPU-second, < 1 ms added TTFT at 1,000 streams.
 * CLIENT_OVERHEAD_PROFILE=out.cpuprofile writes a V8 CPU profile of llm-bench's measured window.
 * `--transport undici` measures the library transport (undici, what proxied runs use) instead of the fast path.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

interface CellResult {
  events: number;
  cpu_s: number;
  wall_s: number;
  failed: number;
  /** send + delivery, per request. */
  ttft_added_ms: { p50: number; p99: number; mean: number };
  /** Request start → its bytes handed to the socket. */
  send_ms: { p50: number; p99: number };
  /** Server's first-event write → the client's first-token time: the receive side alone. */
  delivery_ms: { p50: number; p99: number };
}

// The server and the Python client are plain files next to the sources, also when this runs compiled from dist/.
const HERE = fileURLToPath(new URL(".", import.meta.url)).replace(/dist[\\/]bench[\\/]$/, "bench/");

/** Requests before the measured window, for both clients (at least the concurrency, to open the pool). */
const WARMUP_REQUESTS = 1000;
/** Warm-up lasts at least this long, for both clients (see child()). */
const WARMUP_SECONDS = 3;

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

// ---- child: llm-bench's client -------------------------------------------------------------------------
async function child(
  base: string,
  conc: number,
  total: number,
  tokens: number,
  warmupTokens: number,
  rate: number,
  skip: number,
): Promise<void> {
  const { setLogLevel } = await import("../src/util/log.ts");
  const { nowNs } = await import("../src/util/clock.ts");
  const { resolveTokenizer } = await import("../src/model/tokenizer-resolve.ts");
  const { OpenAiConnection } = await import("../src/engine/openai/connection.ts");
  const { OpenAiEngine } = await import("../src/engine/openai/client.ts");
  const { runOffline } = await import("../src/load/offline.ts");
  const { runLoad } = await import("../src/load/run-load.ts");
  setLogLevel("error");
  const tokenizer = await resolveTokenizer({ model: "llm-bench/tiny-llama" });
  const conn = new OpenAiConnection({
    baseUrl: base,
    endpoint: "completions",
    requestTimeoutMs: 600_000,
    // Open loop: no cap, as the product sizes its pool to the run's (unlimited) concurrency; a pool of `conc`
    // would queue the requests that Poisson arrivals put above `conc` and count the wait as send time.
    concurrency: rate > 0 ? 0 : conc,
    transport: process.env["CLIENT_OVERHEAD_TRANSPORT"] === "undici" ? "undici" : "fast",
  });
  const engine = new OpenAiEngine({
    connection: conn,
    info: {} as never,
    model: "bench",
    features: { tokenIdPrompts: true, extensions: true },
    tokenizer,
  });
  const reqs = (from: number, n: number, outputTokens = tokens) =>
    Array.from({ length: n }, (_, i) => ({
      taskId: from + i,
      inputIds: Int32Array.of(from + i),
      prompt: undefined,
      outputTokens,
      line: i + 1,
      loraRequest: undefined,
    }));
  const load = { concurrency: conc, streaming: true, eosId: undefined, keepOutputIds: false };
  // Warmup: open the pool, and run enough requests for V8 to optimize the hot paths. With only `conc` of them
  // the 1-stream cell measured mostly unoptimized code (~2.5 ms per request cold vs ~0.8 ms warm).
  // ... and for at least WARMUP_SECONDS: this machine's speed ramps up over the first seconds of load (a bare
  // JSON.parse loop goes from 2.6 to 1.4 µs per call), and a measured window inside the ramp is not steady state.
  const warm0 = nowNs();
  let warmed = 0;
  while (warmed < WARMUP_REQUESTS || nowNs() - warm0 < WARMUP_SECONDS * 1e9) {
    const n = Math.max(conc, 200);
    await runOffline(engine, reqs(10_000_000 + warmed, n, warmupTokens), load);
    warmed += n;
  }
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
  // rate > 0: open-loop Poisson arrivals (about `conc` streams open by Little's law), else a closed loop of `conc`.
  const { records } =
    rate > 0
      ? await runLoad(
          engine,
          reqs(0, total),
          { concurrency: 0, rate: { rate, burstiness: 1, seed: 0 } },
          load,
        )
      : await runOffline(engine, reqs(0, total), load);
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
  const send: number[] = [];
  const delivery: number[] = [];
  let events = 0;
  let failed = 0;
  for (const r of records) {
    if (r.error !== undefined || r.firstTokenNs < 0 || r.sentNs === undefined) {
      failed++;
      continue;
    }
    events += r.chunkTimesNs?.length ?? 0;
    // The first arrivals of an open loop find fewer streams open: their first tokens are not counted.
    if (Number(r.id) < skip) continue;
    const written = srv[r.id]![1];
    const s = r.sentNs - r.startNs;
    const d = r.firstTokenNs + origin - written;
    send.push(s);
    delivery.push(d);
    added.push(s + d);
  }
  const out: CellResult = {
    events,
    cpu_s: (cpu.user + cpu.system) / 1e6,
    wall_s: wall,
    failed,
    ttft_added_ms: {
      ...quantilesMs(added),
      mean: added.length ? added.reduce((a, b) => a + b, 0) / added.length / 1e6 : 0,
    },
    send_ms: quantilesMs(send),
    delivery_ms: quantilesMs(delivery),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

function quantilesMs(xs: number[]): { p50: number; p99: number } {
  xs.sort((a, b) => a - b);
  const at = (q: number) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(xs.length * q))]! / 1e6 : 0);
  return { p50: at(0.5), p99: at(0.99) };
}

// ---- parent ----------------------------------------------------------------------------------------------
function startServer(stepMs: number): Promise<{ proc: ChildProcess; base: string }> {
  const proc = spawn(
    process.execPath,
    [`${HERE}client-overhead-server.mjs`, ...(stepMs > 0 ? ["--step_ms", String(stepMs)] : [])],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
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

interface Cell {
  conc: number;
  /** Open-loop arrivals per second (0: closed loop of `conc`). */
  rate: number;
  /** Leading requests left out of the TTFT figures (the open loop's ramp-up). */
  skip: number;
  total: number;
  tokens: number;
  /** Tokens of the warm-up requests (paced cells warm up on 1-token requests: no step waits). */
  warmupTokens: number;
}

const fmt = (n: number, d = 0) =>
  n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

function row(name: string, c: Cell, r: CellResult): string {
  return (
    `${name.padEnd(16)} ${String(c.conc).padStart(7)} ${String(c.total).padStart(9)} ${String(r.events).padStart(8)} ` +
    `${fmt(r.cpu_s, 3).padStart(13)} ${fmt(r.events / r.cpu_s).padStart(13)}  ` +
    `${`${fmt(r.ttft_added_ms.p50, 3)} / ${fmt(r.ttft_added_ms.p99, 3)}`.padStart(20)}  ` +
    `${fmt(r.send_ms.p50, 3).padStart(9)}  ${`${fmt(r.delivery_ms.p50, 3)} / ${fmt(r.delivery_ms.p99, 3)}`.padStart(20)}  ${r.failed}\n`
  );
}

const HEADER =
  "client           streams  requests   events  client CPU s  events/CPU-s  added TTFT ms p50 / p99  send p50  delivery ms p50 / p99  failed\n";

async function phase(
  title: string,
  stepMs: number,
  cells: Cell[],
  reps: number,
  python: string | undefined,
): Promise<void> {
  const { proc, base } = await startServer(stepMs);
  process.stdout.write(`\n${title} (server ${base}, own process)\n${HEADER}`);
  try {
    for (const c of cells) {
      const ours: CellResult[] = [];
      const theirs: CellResult[] = [];
      // Both clients take the same arguments: BASE STREAMS REQUESTS TOKENS WARMUP_TOKENS RATE SKIP.
      const cellArgs = [c.conc, c.total, c.tokens, c.warmupTokens, c.rate, c.skip].map(String);
      cellArgs.unshift(base);
      for (let rep = 0; rep < reps; rep++) {
        // Alternating, so a slow stretch of this shared machine hits both clients alike.
        const r = runCell(process.execPath, [
          ...process.execArgv,
          fileURLToPath(import.meta.url),
          "--child",
          ...cellArgs,
        ]);
        ours.push(r);
        process.stdout.write(row("llm-bench", c, r));
        if (python) {
          const py = runCell(python, [`${HERE}client-overhead-aiohttp.py`, ...cellArgs]);
          theirs.push(py);
          process.stdout.write(row("python aiohttp", c, py));
        }
      }
      const rate = (r: CellResult) => r.events / r.cpu_s;
      const oursRate = median(ours.map(rate));
      let line = `${"".padEnd(24)} median of ${reps}: llm-bench ${fmt(oursRate)} events/CPU-s, added TTFT p50 ${fmt(median(ours.map((r) => r.ttft_added_ms.p50)), 3)} ms / p99 ${fmt(median(ours.map((r) => r.ttft_added_ms.p99)), 3)} ms`;
      if (theirs.length > 0) {
        const pyRate = median(theirs.map(rate));
        line += `; aiohttp ${fmt(pyRate)} events/CPU-s, added TTFT p50 ${fmt(median(theirs.map((r) => r.ttft_added_ms.p50)), 3)} ms; ratio ${fmt(oursRate / pyRate, 2)}x`;
      }
      process.stdout.write(`${line}\n`);
    }
  } finally {
    proc.kill("SIGTERM");
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === "--child") {
    const [base, conc, total, tokens, warmupTokens, rate, skip] = process.argv.slice(3);
    await child(
      base!,
      Number(conc),
      Number(total),
      Number(tokens),
      Number(warmupTokens ?? tokens),
      Number(rate ?? 0),
      Number(skip ?? 0),
    );
    return;
  }
  const tokens = arg("--tokens", 100);
  const scale = arg("--scale", 1);
  const reps = arg("--reps", 3);
  const stepMs = arg("--step_ms", 50);
  const pacedTokens = arg("--paced_tokens", 20);
  const t = process.argv.indexOf("--transport");
  const transport = t >= 0 ? process.argv[t + 1] : "fast";
  if (transport !== "fast" && transport !== "undici")
    throw new Error(`--transport fast|undici, not ${transport}`);
  // Read by the children (they inherit the environment).
  process.env["CLIENT_OVERHEAD_TRANSPORT"] = transport;
  process.stdout.write(
    `llm-bench's transport: ${transport === "fast" ? "the fast path (http1/)" : "undici"}\n`,
  );
  const python = pythonWithAiohttp();
  if (!python)
    process.stdout.write(
      "python3-aiohttp is missing: apt-get install python3-aiohttp (measuring llm-bench only)\n",
    );
  process.stdout.write(
    `zero-work server, ${tokens} token events per request (flood), ${pacedTokens} at one per ${stepMs} ms (paced)\n`,
  );
  const flood = (conc: number, total: number): Cell => ({
    conc,
    rate: 0,
    skip: 0,
    total: Math.round(total * scale),
    tokens,
    warmupTokens: tokens,
  });
  await phase(
    "1. Flood: events per client CPU-second",
    0,
    [flood(1, 2000), flood(100, 3000), flood(1000, 5000)],
    reps,
    python,
  );
  // Open loop: Poisson arrivals at conc / request duration keep about `conc` streams open (Little's law), and
  // first tokens land at random moments of the decode-step cycle, as with real users. (A closed loop would
  // start each round of requests in the same step and time a burst of its own making.) The first `conc`
  // arrivals, the ramp-up, are left out of the TTFT figures.
  const paced = (conc: number): Cell => ({
    conc,
    rate: conc / ((pacedTokens * stepMs) / 1000),
    skip: conc,
    total: Math.round(4 * conc * scale),
    tokens: pacedTokens,
    warmupTokens: 1,
  });
  await phase(
    `2. Paced: added TTFT while ${stepMs} ms decode steps stream to every open stream`,
    stepMs,
    [paced(100), paced(1000)],
    1,
    python,
  );
}

await main();
