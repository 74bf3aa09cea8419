#!/usr/bin/env node
/**
 * The `llm-bench` executable. CommonJS on purpose: libuv reads UV_THREADPOOL_SIZE once, when its pool first
 * runs work, and an ES module entry is loaded through that pool before its first line runs. The embedded
 * engine samples every sequence of a step through native calls on that pool, so on a machine with many cores
 * node's default of 4 threads was measured to cap sampling (docs/performance.md); a value the user set wins.
 */
const { availableParallelism } = require("node:os") as typeof import("node:os");

if (process.env.UV_THREADPOOL_SIZE === undefined) {
  process.env.UV_THREADPOOL_SIZE = String(Math.max(4, availableParallelism()));
}
void import("./main.ts");
