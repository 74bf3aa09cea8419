// Node 20's test runner takes no glob patterns: list the compiled test files and hand them over.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Each test fails after this long unless it gives its own `{ timeout }` (scripts/test-timeout.mjs). In a full run
 * on the 2-core machine shared with other work (2026-12-05), the slowest test that sets none took 84 s (three
 * GGUF types loaded and run in one test) and the next 55 s: about twice that. Suites that run several CLI
 * processes give a longer one of their own, which their tests inherit.
 */
const TEST_TIMEOUT_MS = 180_000;
/** Each file as a whole (the slowest took 161 s in that run): a server left open keeps its process alive. */
const FILE_TIMEOUT_MS = 900_000;

function find(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) find(p, out);
    else if (e.name.endsWith(".test.js")) out.push(p);
  }
  return out;
}
const filter = process.argv.slice(2);
const files = find("dist")
  .filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)))
  .sort();
const preload = fileURLToPath(new URL("./test-timeout.mjs", import.meta.url));
const r = spawnSync(
  process.execPath,
  ["--import", preload, "--test", "--test-concurrency=2", `--test-timeout=${FILE_TIMEOUT_MS}`, ...files],
  {
    stdio: "inherit",
    env: { LLM_BENCH_TEST_TIMEOUT_MS: String(TEST_TIMEOUT_MS), ...process.env },
  },
);
process.exit(r.status ?? 1);
