/**
 * Preloaded (`--import`) into every test process by scripts/test.mjs: a test that gives no `timeout` of its own
 * gets its suite's (the nearest `describe` that sets one; e2e suites that run CLI processes do), else
 * LLM_BENCH_TEST_TIMEOUT_MS, so a hung test fails with "timed out" instead of holding the suite.
 *
 * Node 20's `--test-timeout` cannot do this: under `--test` it bounds each whole file, and a test's own
 * `{ timeout }` cannot go past it. `test`/`it` (and `.only`) are wrapped; `describe` only records its timeout
 * while its body registers the tests (suite bodies run synchronously). A subtest (`t.test`) runs inside a test
 * that has a timeout.
 */
import { createRequire, syncBuiltinESMExports } from "node:module";

const require = createRequire(import.meta.url);
const nodeTest = require("node:test");
const fallback = Number(process.env.LLM_BENCH_TEST_TIMEOUT_MS);
/** Timeouts of the suites whose bodies are running, innermost last. */
const suites = [];

/** The options argument of `fn([name][, options][, body])`: its index, inserted when absent. */
function optionsAt(args) {
  const at = args.findIndex((a) => typeof a !== "string");
  const given = at >= 0 ? args[at] : undefined;
  if (given !== null && typeof given === "object") return at;
  const i = at >= 0 ? at : args.length;
  args.splice(i, 0, {});
  return i;
}

function withDefaultTimeout(original) {
  const wrapped = (...args) => {
    const i = optionsAt(args);
    if (args[i].timeout === undefined) {
      const inherited = suites.findLast((t) => t !== undefined);
      args[i] = { ...args[i], timeout: inherited ?? fallback };
    }
    return original(...args);
  };
  return Object.assign(wrapped, original);
}

function recordingTimeout(original) {
  const wrapped = (...args) => {
    const i = optionsAt(args);
    suites.push(args[i].timeout);
    try {
      return original(...args);
    } finally {
      suites.pop();
    }
  };
  return Object.assign(wrapped, original);
}

if (Number.isFinite(fallback) && fallback > 0) {
  for (const name of ["test", "it"]) {
    const original = nodeTest[name];
    nodeTest[name] = Object.assign(withDefaultTimeout(original), { only: withDefaultTimeout(original.only) });
  }
  for (const name of ["describe", "suite"]) {
    const original = nodeTest[name];
    if (typeof original !== "function") continue;
    nodeTest[name] = Object.assign(recordingTimeout(original), { only: recordingTimeout(original.only) });
  }
  syncBuiltinESMExports();
}
