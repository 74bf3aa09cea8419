/**
 * `npm run bench:hostile-server -- [--mode huge_event] [--requests 12] [--event_mb 10] [--output_tokens 16]
 * [--concurrency 4] [--chars_per_token 4000]`: the real CLI (`throughput --backend openai`) against the fault-injecting fixture server
 * (test/fixtures/openai-server.ts) in one of its hostile modes, run under `/usr/bin/time -v`. Prints the exit
 * code, the failures the report JSON counts by reason, the wall time and the CLI's peak RSS: what a hostile server
 * costs the client (docs/performance.md).
 *
 * `--mode tokenizer` instead times the client tokenizer on one pseudo-random word (no cache hits, no
 * pre-tokenizer splits): `encode` on the whole word, and the client count (client-count.ts, pieces of 4,096).
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { countClientTokens } from "../src/engine/openai/client-count.ts";
import type { RequestRecord } from "../src/metrics/record.ts";
import { resolveTokenizer } from "../src/model/tokenizer-resolve.ts";
import { type FixtureMode, startFixtureServer } from "../test/fixtures/openai-server.ts";

const { values } = parseArgs({
  options: {
    mode: { type: "string", default: "huge_event" },
    requests: { type: "string", default: "12" },
    event_mb: { type: "string", default: "10" },
    chars_per_token: { type: "string", default: "4000" },
    output_tokens: { type: "string", default: "16" },
    concurrency: { type: "string", default: "4" },
  },
});
if (values.mode === "tokenizer") {
  await tokenizerCost();
  process.exit(0);
}
const cli = resolve(dirname(fileURLToPath(import.meta.url)), "../src/cli/main.js");
const dir = await mkdtemp(join(tmpdir(), "llm-bench-hostile-"));
const srv = await startFixtureServer({
  // The probe (1 token) is answered normally: the run itself meets the hostile mode.
  modeFor: (b) => (b["max_tokens"] === 1 ? "ok" : (values.mode as FixtureMode)),
  hugeEventBytes: Number(values.event_mb) * 1e6,
  outputCharsPerToken: Number(values.chars_per_token),
});
try {
  const dataset = join(dir, "d.jsonl");
  const lines = Array.from({ length: Number(values.requests) }, (_, i) =>
    JSON.stringify({ task_id: i, input_ids: [9906, 1917], output_tokens: Number(values.output_tokens) }),
  );
  await writeFile(dataset, `${lines.join("\n")}\n`);
  const report = join(dir, "report.json");
  const args = [
    "-v",
    process.execPath,
    cli,
    "--model",
    "llm-bench/tiny-llama",
    "throughput",
    "--backend",
    "openai",
    "--base_url",
    srv.url,
    "--dataset",
    dataset,
    "--warmup",
    "0",
    "--streaming",
    "--concurrency",
    values.concurrency!,
    "--report_json",
    report,
  ];
  const started = performance.now();
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((done) => {
    const child = spawn("/usr/bin/time", args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("close", (c) => done({ code: c, stderr: err }));
  });
  const wallS = (performance.now() - started) / 1000;
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  let reasons = "no report written";
  try {
    const r = JSON.parse(await readFile(report, "utf8")) as {
      llm_bench?: { failure_reasons?: Array<{ message: string; count: number }> };
    };
    reasons = JSON.stringify(r.llm_bench?.failure_reasons ?? []);
  } catch {
    // no report: the line says so
  }
  console.log(
    `mode ${values.mode}, ${values.requests} requests: exit ${code}, failures ${reasons}, ` +
      `wall ${wallS.toFixed(1)} s, peak RSS ${rss ? (Number(rss[1]) / 1024).toFixed(0) : "?"} MiB`,
  );
  if (code !== 0 && code !== 1) console.log(stderr.split("\n").slice(-30).join("\n"));
} finally {
  await srv.close();
  await rm(dir, { recursive: true, force: true });
}

function word(n: number): string {
  const bytes = Buffer.alloc(n);
  let x = 7;
  for (let k = 0; k < n; k++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    bytes[k] = 97 + ((x >> 16) % 26);
  }
  return bytes.toString("latin1");
}

async function tokenizerCost(): Promise<void> {
  const tok = await resolveTokenizer({ model: "llm-bench/tiny-llama" });
  tok.encode(word(4096), { addSpecialTokens: false });
  const line = (what: string, n: number, ms: number) =>
    console.log(`${what} ${n} chars: ${ms.toFixed(0)} ms, ${((ms * 1000) / n).toFixed(1)} µs/char`);
  for (const n of [4096, 65_536, 262_144]) {
    const text = word(n);
    const t = performance.now();
    tok.encode(text, { addSpecialTokens: false });
    line("encode (whole)", n, performance.now() - t);
  }
  for (const n of [262_144, 2_097_152]) {
    const r = { outputText: word(n), error: undefined } as RequestRecord;
    let longestStall = 0;
    let last = performance.now();
    const probe = setInterval(() => {
      const now = performance.now();
      longestStall = Math.max(longestStall, now - last);
      last = now;
    }, 1);
    const t = performance.now();
    await countClientTokens([r], tok, { keepOutputIds: false });
    clearInterval(probe);
    line("client count (pieces)", n, performance.now() - t);
    console.log(`  longest event-loop stall ${longestStall.toFixed(0)} ms, ${r.clientOutputTokens} tokens`);
  }
}
