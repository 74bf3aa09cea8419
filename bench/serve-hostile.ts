/**
 * `serve` under hostile prompts: what one long word costs the tokenizer on the event loop (the old path), and
 * what the server does now — time to refuse, and the slowest `/health` answer while it works. Also the cost of
 * tokenizing off the event loop for ordinary prompts. The server is the real one (`startServer`, in this
 * process) with the bundled Llama-3 tokenizer; generation is not involved, so the engine is the in-memory fake.
 *
 *   npx tsx bench/serve-hostile.ts [--inline 10000,100000,300000] [--big 8000000] [--skip-timeout]
 *                                  [--sections 1,2,3,4]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { startLagMonitor } from "../src/load/event-loop-lag.ts";
import { FakeEngine } from "../src/load/fake-engine.ts";
import { loadTokenizerFromFiles } from "../src/model/hf-tokenizer.ts";
import { bundledTokenizerFor } from "../src/model/known-models.ts";
import type { Tokenizer } from "../src/model/tokenizer.ts";
import { JsonShapeGuard } from "../src/server/json-guard.ts";
import { RequestWorker } from "../src/server/request-worker.ts";
import { startServer } from "../src/server/server.ts";

const ms = (ns: bigint) => Number(ns) / 1e6;
const now = () => process.hrtime.bigint();

/** The server runs in its own process so the client's work (building and sending 8 MB) does not blur its timings. */
async function serveChild(tokenizer: Tokenizer, maxInputLen: number): Promise<void> {
  const server = await startServer({
    engine: new FakeEngine({ stepMs: 1 }),
    tokenizer,
    vocabSize: tokenizer.totalVocabSize,
    servedModelName: "bench",
    maxSeqLen: maxInputLen + 1,
    maxInputLen,
    host: "127.0.0.1",
    port: 0,
    maxBodyBytes: 8 * 1024 * 1024,
  });
  const lag = startLagMonitor(Number.POSITIVE_INFINITY, 1);
  process.stdout.write(`${server.url}\n`);
  await new Promise((r) => process.stdin.on("end", r).resume());
  process.stdout.write(`${lag.stop(false).maxMs.toFixed(1)}\n`);
  await server.shutdown(1000);
}

async function startChild(
  maxInputLen: number,
): Promise<{ url: string; child: ChildProcess; lastLine: () => string }> {
  const child = spawn(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), "--serve", String(maxInputLen)],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  let out = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes("\n")) resolve(out.split("\n")[0]!);
    });
    child.on("exit", (code) => reject(new Error(`server exited (${code})`)));
  });
  return { url, child, lastLine: () => out.trim().split("\n").at(-1)! };
}

/** Polls /health every 10 ms from its own thread until told to stop; replies with every latency (ms). */
const PROBER = `
const { parentPort, workerData } = require("node:worker_threads");
const lat = [];
let stop = false;
parentPort.on("message", () => { stop = true; });
(async () => {
  parentPort.postMessage("ready");
  while (!stop) {
    const t = process.hrtime.bigint();
    await (await fetch(workerData)).arrayBuffer();
    lat.push(Number(process.hrtime.bigint() - t) / 1e6);
    await new Promise((r) => setTimeout(r, 10));
  }
  parentPort.postMessage(lat);
})();
`;

async function scenario(name: string, maxInputLen: number, chars: number) {
  const { url, child, lastLine } = await startChild(maxInputLen);
  let row = "";
  try {
    const body = Buffer.from(JSON.stringify({ prompt: "a".repeat(chars), max_tokens: 1 }));
    // The prober runs on its own thread (its own event loop): the 8 MB upload on this one does not delay it.
    const prober = new Worker(PROBER, { eval: true, workerData: `${url}/health` });
    await new Promise((r) => prober.once("message", r));
    const t = now();
    let status = "-";
    if (chars > 0) {
      const res = await fetch(`${url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      const answer = (await res.json()) as { error?: { code: string | null } };
      status = `${res.status} ${answer.error?.code ?? ""}`;
    } else await new Promise((r) => setTimeout(r, 3000));
    const took = ms(now() - t);
    const lat = await new Promise<number[]>((resolve) => {
      prober.once("message", resolve);
      prober.postMessage("stop");
    });
    await prober.terminate();
    lat.sort((a, b) => a - b);
    const q = (f: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * f))] ?? Number.NaN;
    row =
      `| ${name} | ${chars.toLocaleString("en")} | ${maxInputLen} | ${status} | ` +
      `${took.toFixed(0)} | ${q(0.5).toFixed(1)} / ${q(0.99).toFixed(1)} / ${q(1).toFixed(1)} (${lat.length} probes)`;
  } finally {
    child.stdin!.end();
    await new Promise((r) => child.on("exit", r));
  }
  console.log(`${row} | ${lastLine()} |`);
}

/** Median and minimum of `reps` timings of `f` (the minimum is the work itself, least disturbed by others). */
function timeIt(reps: number, f: () => void): { min: number; median: number } {
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const s = now();
    f();
    t.push(ms(now() - s));
  }
  t.sort((a, b) => a - b);
  return { min: t[0]!, median: t[Math.floor(reps / 2)]! };
}

/**
 * The event loop's own steps for one 8 MB one-word body, timed one by one: on a shared machine the wall-clock
 * stalls above include time the process was not scheduled at all.
 */
async function eventLoopSteps(): Promise<void> {
  const body = Buffer.from(JSON.stringify({ prompt: "a".repeat(8_000_000), max_tokens: 1 }));
  const chunks: Buffer[] = [];
  for (let i = 0; i < body.length; i += 65536) chunks.push(Buffer.from(body.subarray(i, i + 65536)));
  const fmt = (r: { min: number; median: number }) => `${r.min.toFixed(2)} / ${r.median.toFixed(2)}`;
  console.log("| step | ms (min / median of 9) |\n|---|---:|");
  const guard = () => new JsonShapeGuard({ maxDepth: 64, maxValues: 1e6 });
  console.log(
    `| now, per 64 KiB chunk: shape scan + copy | ${fmt(
      timeIt(9, () => {
        const g = guard();
        g.push(chunks[1]!);
        new Uint8Array(chunks[1]!);
      }),
    )} |`,
  );
  for (const [name, text] of [
    ["commas (`1,1,1,…`)", "1,".repeat(32768)],
    ["escapes (`\\\\…` in a string)", `"${"\\".repeat(32767)}`],
  ] as const) {
    const chunk = Buffer.from(text);
    console.log(
      `| now, per 64 KiB chunk of ${name}: shape scan | ${fmt(timeIt(9, () => guard().push(chunk)))} |`,
    );
  }
  const sink = new Worker("require('node:worker_threads').parentPort.on('message', () => {})", {
    eval: true,
  });
  try {
    const handOver: number[] = [];
    for (let i = 0; i < 9; i++) {
      // The copies are made chunk by chunk as the body arrives (the row above); only the hand-over is timed.
      const copies = chunks.map((c) => new Uint8Array(c));
      const t = now();
      sink.postMessage(
        copies,
        copies.map((c) => c.buffer as ArrayBuffer),
      );
      handOver.push(ms(now() - t));
    }
    handOver.sort((a, b) => a - b);
    console.log(
      `| now, once: hand the 128 chunks to the thread | ${fmt({ min: handOver[0]!, median: handOver[4]! })} |`,
    );
  } finally {
    await sink.terminate();
  }
  console.log(
    `| before: concat + decode + JSON.parse, all at once | ${fmt(
      timeIt(9, () => {
        JSON.parse(Buffer.concat(chunks).toString("utf8"));
      }),
    )} |`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      inline: { type: "string", default: "10000,100000,300000" },
      big: { type: "string", default: "8000000" },
      "skip-timeout": { type: "boolean", default: false },
      sections: { type: "string", default: "1,2,3,4" },
      serve: { type: "string" },
    },
  });
  const b = bundledTokenizerFor("llm-bench/tiny-llama")!;
  const tokenizer = await loadTokenizerFromFiles(b.tokenizerJson, b.tokenizerConfig);
  if (values.serve !== undefined) return serveChild(tokenizer, Number(values.serve));
  console.log(`${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}`);
  console.log(`tokenizer: ${tokenizer.source}; at most ${tokenizer.maxCharsPerToken} characters per token`);

  const sections = new Set(values.sections.split(","));
  if (sections.has("1")) await inlineWords(tokenizer, values.inline);
  if (sections.has("2")) await throughServer(Number(values.big), values["skip-timeout"]);
  if (sections.has("3")) {
    console.log("\n3. The event loop's own work for an 8 MB body, step by step:\n");
    await eventLoopSteps();
  }
  if (sections.has("4")) await ordinaryPrompts(tokenizer);
}

async function inlineWords(tokenizer: Tokenizer, sizes: string): Promise<void> {
  console.log("\n1. One word of n letters, encoded on the event loop (what `serve` did before):\n");
  console.log("| characters | tokens | ms | µs per character |\n|---:|---:|---:|---:|");
  for (const n of sizes.split(",").map(Number)) {
    const text = "a".repeat(n);
    const t = now();
    const ids = tokenizer.encode(text);
    const d = ms(now() - t);
    console.log(
      `| ${n.toLocaleString("en")} | ${ids.length} | ${d.toFixed(0)} | ${((d * 1000) / n).toFixed(1)} |`,
    );
  }
}

async function throughServer(big: number, skipTimeout: boolean): Promise<void> {
  console.log(
    "\n2. Through the server: time to the answer, /health meanwhile (10 ms polls from a thread of their own):\n",
  );
  console.log(
    "| case | characters | max_input_len | answer | ms | /health p50 / p99 / max ms | server's longest event-loop stall ms |\n|---|---:|---:|---|---:|---:|---:|",
  );
  await scenario("idle: /health only, for 3 s (the machine's noise floor)", 4096, 0);
  await scenario("one word, refused by its length", 4096, big);
  await scenario("one word, within the length bound", 131072, 300_000);
  if (!skipTimeout) await scenario("one word, too costly", 131072, big);
}

async function ordinaryPrompts(tokenizer: Tokenizer): Promise<void> {
  console.log("\n4. Ordinary prompts: encode on the event loop vs. through the worker (sequential calls):\n");
  console.log("| prompt | tokens | inline ms/call | worker ms/call |\n|---|---:|---:|---:|");
  const worker = await RequestWorker.start(tokenizer, {
    maxCharsPerToken: tokenizer.maxCharsPerToken,
    vocabSize: tokenizer.totalVocabSize,
    servedModelName: "bench",
    maxSeqLen: 131073,
    maxInputLen: 131072,
  });
  try {
    const sentence = "The quick brown fox jumps over the lazy dog while the cat watches. ";
    for (const [name, text] of [
      ["one sentence", sentence],
      ["~1k tokens of prose", sentence.repeat(70)],
    ] as const) {
      const reps = 300;
      for (let i = 0; i < 20; i++) {
        tokenizer.encode(text);
        await worker.encode(text);
      }
      let t = now();
      for (let i = 0; i < reps; i++) tokenizer.encode(`${i} ${text}`);
      const inline = ms(now() - t) / reps;
      t = now();
      for (let i = 0; i < reps; i++) await worker.encode(`${i} ${text}`);
      const off = ms(now() - t) / reps;
      console.log(
        `| ${name} | ${tokenizer.encode(text).length} | ${inline.toFixed(3)} | ${off.toFixed(3)} |`,
      );
    }
  } finally {
    await worker.close();
  }
}

await main();
