import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { packageRoot } from "../model/known-models.ts";
import { PromParseError, parsePrometheusText } from "./prometheus-text.ts";
import { detectServer, isSourceName, readServerSample } from "./server-families.ts";

async function fixture(name: string): Promise<string> {
  return readFile(join(await packageRoot(), "test/fixtures/prometheus", name), "utf8");
}

describe("parsePrometheusText", { timeout: 10_000 }, () => {
  test("reads samples, labels, escapes, special values, timestamps and types", () => {
    const e = parsePrometheusText(
      [
        "# HELP http_requests_total The total number of HTTP requests.",
        "# TYPE http_requests_total counter",
        'http_requests_total{method="post",code="200"} 1027 1395066363000',
        'http_requests_total{method="post",code="400",}    3 1395066363000',
        'msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9',
        "metric_without_timestamp_and_labels 12.47",
        'something_weird{problem="division by zero"} +Inf -3982045',
        "nan_metric NaN",
        "empty_labels{} -Inf",
        "# a plain comment",
        "",
        "# EOF",
      ].join("\r\n"),
    );
    assert.equal(e.types.get("http_requests_total"), "counter");
    assert.deepEqual(
      e.samples.map((s) => [s.name, s.labels, s.value]),
      [
        ["http_requests_total", { method: "post", code: "200" }, 1027],
        ["http_requests_total", { method: "post", code: "400" }, 3],
        [
          "msdos_file_access_time_seconds",
          { path: "C:\\DIR\\FILE.TXT", error: 'Cannot find file:\n"FILE.TXT"' },
          1.458255915e9,
        ],
        ["metric_without_timestamp_and_labels", {}, 12.47],
        ["something_weird", { problem: "division by zero" }, Number.POSITIVE_INFINITY],
        ["nan_metric", {}, Number.NaN],
        ["empty_labels", {}, Number.NEGATIVE_INFINITY],
      ],
    );
  });

  test("keep: only the wanted samples are read, every line is still validated", async () => {
    const text = await fixture("vllm.txt");
    const kept = parsePrometheusText(text, isSourceName);
    const all = parsePrometheusText(text);
    assert.deepEqual(
      kept.samples,
      all.samples.filter((x) => isSourceName(x.name)),
    );
    assert.equal(kept.samples.length, 16);
    assert.throws(
      () => parsePrometheusText(`${text}vllm:other{a=1} 2\n`, isSourceName),
      /line \d+: invalid label set/,
    );
    assert.throws(
      () => parsePrometheusText("other 1 2 3\n", isSourceName),
      /unexpected text after the value/,
    );
  });

  test("ignores OpenMetrics exemplars after the value", () => {
    const e = parsePrometheusText('foo_bucket{le="0.1"} 8 # {trace_id="abc"} 0.05 1.6e9\n');
    assert.equal(e.samples[0]!.value, 8);
  });

  test("fails on the first invalid line, naming it", () => {
    const bad: Array<[string, RegExp]> = [
      ["ok 1\n<html><body>Not Found</body></html>\n", /^line 2: '<html><body>Not' is not a metric name/],
      ['x{a="1"', /^line 1: invalid label set/],
      ["x{a=1} 2", /^line 1: invalid label set/],
      ['x{a="1",a="2"} 2', /^line 1: label 'a' repeated/],
      ['x{a="\\t"} 2', /^line 1: label 'a': invalid escape/],
      ["x abc", /^line 1: 'abc' is not a sample value/],
      ["x", /^line 1: 'x' has no value/],
      ["x 1 2 3", /unexpected text after the value/],
      ["x 1 soon", /'soon' is not a timestamp/],
      ["# TYPE x bogus", /unknown metric type 'bogus'/],
      ['{"error":{"message":"Invalid API Key","code":401}}', /is not a metric name/],
    ];
    for (const [text, re] of bad) {
      assert.throws(
        () => parsePrometheusText(text),
        (err: unknown) => err instanceof PromParseError && re.test(err.message),
        text,
      );
    }
  });
});

describe("server figures from real expositions", { timeout: 10_000 }, () => {
  test("vLLM V1: two engines summed, KV usage averaged, _created gauges ignored", async () => {
    const e = parsePrometheusText(await fixture("vllm.txt"));
    assert.equal(detectServer(e), "vllm");
    assert.deepEqual(readServerSample(e, "vllm"), {
      running: 22,
      waiting: 4,
      kv_cache_usage: 0.375,
      preemptions_total: 3,
      prompt_tokens_total: 3_145_728,
      generation_tokens_total: 786_432,
      requests_total: 3072,
    });
  });

  test("vLLM V0: gpu_cache_usage_perc stands for the KV usage", async () => {
    const e = parsePrometheusText(await fixture("vllm-v0.txt"));
    assert.deepEqual(readServerSample(e, "vllm"), {
      running: 4,
      waiting: 0,
      kv_cache_usage: 0.0625,
      preemptions_total: 0,
      prompt_tokens_total: 5120,
      generation_tokens_total: 1280,
    });
  });

  test("SGLang: tensor-parallel replicas counted once, data-parallel ranks summed", async () => {
    const e = parsePrometheusText(await fixture("sglang.txt"));
    assert.equal(detectServer(e), "sglang");
    assert.deepEqual(readServerSample(e, "sglang"), {
      running: 11,
      waiting: 2,
      kv_cache_usage: 0.2,
      preemptions_total: 11,
      prompt_tokens_total: 1000,
      generation_tokens_total: 1000,
      requests_total: 12,
    });
  });

  test("llama.cpp: current builds without the KV gauges, older builds with them", async () => {
    const cur = parsePrometheusText(await fixture("llamacpp.txt"));
    assert.equal(detectServer(cur), "llama.cpp");
    assert.deepEqual(readServerSample(cur, "llama.cpp"), {
      running: 3,
      waiting: 1,
      prompt_tokens_total: 96641,
      generation_tokens_total: 23210,
    });
    const old = parsePrometheusText(await fixture("llamacpp-old.txt"));
    assert.equal(readServerSample(old, "llama.cpp").kv_cache_usage, 0.159);
  });

  test("an exposition of another program is not recognised", () => {
    assert.equal(detectServer(parsePrometheusText("process_cpu_seconds_total 12.5\n")), undefined);
  });
});
