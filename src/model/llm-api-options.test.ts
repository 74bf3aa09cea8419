import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "../errors.ts";
import { setLogSink } from "../util/log.ts";
import { parseLlmApiOptions } from "./llm-api-options.ts";

/** Nine levels of nine aliases each: 9^9 leaves once expanded. */
const ALIAS_BOMB = [
  "a: &a [x, x, x, x, x, x, x, x, x]",
  ..."bcdefghi".split("").map((c, i) => {
    const prev = "abcdefghi"[i]!;
    return `${c}: &${c} [${Array(9).fill(`*${prev}`).join(", ")}]`;
  }),
].join("\n");

describe("parseLlmApiOptions", { timeout: 10_000 }, () => {
  it("an alias bomb is a ConfigError naming the file, not a crash", () => {
    assert.throws(
      () => parseLlmApiOptions(ALIAS_BOMB, "bomb.yml"),
      (e: unknown) => e instanceof ConfigError && /^bomb\.yml: .*alias/i.test(e.message),
    );
  });

  it("reads the keys we use, YAML 1.1 booleans included", () => {
    const o = parseLlmApiOptions(
      "enable_chunked_prefill: yes\nkv_cache_config:\n  dtype: fp8\n  free_gpu_memory_fraction: 0.5\n  enable_block_reuse: no\nmax_batch_size: 16\n",
      "x.yml",
    );
    assert.equal(o.enable_chunked_prefill, true);
    assert.equal(o.kv_cache_config?.dtype, "fp8");
    assert.equal(o.kv_cache_config?.free_gpu_memory_fraction, 0.5);
    assert.equal(o.kv_cache_config?.enable_block_reuse, false);
    assert.equal(o.max_batch_size, 16);
  });

  it("names the file, line and field of a bad value", () => {
    assert.throws(
      () =>
        parseLlmApiOptions(
          "cuda_graph_config: {}\nkv_cache_config:\n  free_gpu_memory_fraction: 1.5\n",
          "opts.yml",
        ),
      (e: unknown) =>
        e instanceof ConfigError &&
        /opts\.yml: line 3, column 29: kv_cache_config\.free_gpu_memory_fraction/.test(e.message),
    );
  });

  it("rejects a YAML syntax error and duplicate keys with a position", () => {
    assert.throws(() => parseLlmApiOptions("a: [1, 2\n", "y.yml"), /y\.yml: line/);
    assert.throws(() => parseLlmApiOptions("max_batch_size: 1\nmax_batch_size: 2\n", "y.yml"), /unique/);
  });

  it("warns about keys it ignores", () => {
    const lines: string[] = [];
    const prev = setLogSink((l) => lines.push(l));
    try {
      parseLlmApiOptions("cuda_graph_config:\n  enable_padding: true\n", "z.yml");
    } finally {
      setLogSink(prev);
    }
    assert.ok(lines.some((l) => l.includes("'cuda_graph_config'") && l.includes("ignored")));
  });
});
