/**
 * Preloaded (`--import`) into every test process by scripts/test.mjs: a test that gives no `timeout` of its own
 * gets LLM_BENCH_TEST_TIMEOUT_MS, so a hung test fails with "timed out" instead of holding the suite. Node 20's
 * `--test-timeout` cannot do this: under `--test` it bounds each whole file, and a test's own `{ timeout }` cannot
 * go past it. Only `test`/`it` (and `.only`) are wrapped: a suite's tests come through them, and a subtest
 * (`t.test`) runs inside a test that has a timeout. A test that needs longer says so with its own `{ timeout }`.
 */
import { createRequire, syncBuiltinESMExports } from "node:module";

const require = createRequire(import.meta.url);
const nodeTest = require("node:test");
const ms = Number(process.env.LLM_BENCH_TEST_TIMEOUT_MS);

/** `test([name][, options][, fn])` with `{ timeout: ms }` added where the caller gave none. */
function withDefaultTimeout(original) {
  const wrapped = (...args) => {
    const at = args.findIndex((a) => typeof a !== "string");
    const given = at >= 0 ? args[at] : undefined;
    if (given !== null && typeof given === "object") {
      if (given.timeout === undefined) args[at] = { ...given, timeout: ms };
    } else if (at >= 0) args.splice(at, 0, { timeout: ms });
    else args.push({ timeout: ms });
    return original(...args);
  };
  return Object.assign(wrapped, original);
}

if (Number.isFinite(ms) && ms > 0) {
  for (const name of ["test", "it"]) {
    const original = nodeTest[name];
    const wrapped = withDefaultTimeout(original);
    wrapped.only = withDefaultTimeout(original.only);
    nodeTest[name] = wrapped;
  }
  syncBuiltinESMExports();
}
