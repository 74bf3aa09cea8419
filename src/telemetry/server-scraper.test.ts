import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { startLlamaCppFixture } from "../../test/fixtures/llamacpp-server.ts";
import type { RequestRecord } from "../metrics/record.ts";
import {
  counterIncrease,
  serverMetricsWarning,
  summarizeServerMetrics,
} from "../metrics/server-telemetry.ts";
import { sleep } from "../util/clock.ts";
import { setLogSink } from "../util/log.ts";
import { ServerMetricsScraper } from "./server-scraper.ts";

const logs: string[] = [];
let restore: ((l: string) => void) | undefined;
before(() => {
  restore = setLogSink((l) => logs.push(l));
});
after(() => {
  if (restore) setLogSink(restore);
});

function record(over: Partial<RequestRecord>): RequestRecord {
  return {
    id: "1",
    numInputTokens: 3,
    numOutputTokens: 4,
    scheduledNs: 0,
    startNs: 0,
    firstTokenNs: 1,
    endNs: 2,
    decodeIterations: 4,
    requestedOutputTokens: 4,
    error: undefined,
    ...over,
  };
}

describe("server metrics", { timeout: 20_000 }, () => {
  test("counter increase: rises summed, a drop is a restart from 0", () => {
    assert.equal(counterIncrease([10, 15, null, 20]), 10);
    assert.equal(counterIncrease([100, 120, 5, 9]), 20 + 5 + 4);
    assert.equal(counterIncrease([7]), undefined);
  });

  test("scrapes llama-server's /metrics through a load; counters cross-checked with the client", async () => {
    const srv = await startLlamaCppFixture({ chunkDelayMs: 10 });
    const scraper = new ServerMetricsScraper({ url: `${srv.url}/metrics`, intervalMs: 50 });
    try {
      await scraper.start();
      const post = (n: number) =>
        fetch(`${srv.url}/v1/completions`, {
          method: "POST",
          body: JSON.stringify({ prompt: [1, 2, 3], max_tokens: n, stream: true }),
        }).then((r) => r.text());
      await Promise.all([post(20), post(20), post(10)]);
      const s = await scraper.stop();
      assert.equal(s.server, "llama.cpp");
      assert.equal(s.failed, 0);
      assert.ok(s.ok >= 3, `${s.ok} scrapes`);
      const records = [
        record({ numOutputTokens: 20 }),
        record({ numOutputTokens: 20 }),
        record({ numOutputTokens: 10, serverInputTokens: 3 }),
      ];
      const r = summarizeServerMetrics(s, records, s.timeline.t[0]!, undefined);
      assert.deepEqual(r.generationTokens, { server: 50, client: 50, difference: 0 });
      assert.deepEqual(r.promptTokens, { server: 9, client: 9, difference: 0, clientSource: "dataset" });
      assert.equal(r.requests, undefined);
      assert.ok(r.gauges.running!.maximum >= 1);
      assert.equal(r.timeline.t_s[0], 0);
      assert.equal(serverMetricsWarning(r), undefined);
      const off = summarizeServerMetrics(s, [record({ numOutputTokens: 49 })], 0, undefined);
      assert.match(serverMetricsWarning(off)!, /rose by 50 during the run where the client counted 49/);
    } finally {
      await srv.close();
    }
  });

  test("failures are counted, never thrown: a closed port, a 501, a page that is not Prometheus text", async () => {
    const html = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<html><body>hello</body></html>");
    });
    await new Promise<void>((r) => html.listen(0, "127.0.0.1", r));
    const disabled = await startLlamaCppFixture({ metricsDisabled: true });
    try {
      for (const [url, re] of [
        [`http://127.0.0.1:${(html.address() as AddressInfo).port}/metrics`, /^not Prometheus text: line 1/],
        [`${disabled.url}/metrics`, /^HTTP 501$/],
        ["http://127.0.0.1:9/metrics", /ECONNREFUSED/],
      ] as const) {
        logs.length = 0;
        const scraper = new ServerMetricsScraper({ url, intervalMs: 30 });
        await scraper.start();
        await sleep(150);
        const s = await scraper.stop();
        assert.equal(s.ok, 0);
        assert.ok(s.failed >= 2, `${url}: ${s.failed}`);
        assert.match(s.firstError!, re);
        assert.equal(
          logs.filter((l) => /Server metrics: scraping/.test(l)).length,
          1,
          "one warning, not one per scrape",
        );
      }
    } finally {
      html.close();
      await disabled.close();
    }
  });

  test("a server slower than the interval: ticks are skipped, each scrape has a deadline", async () => {
    const slow = createServer((_req, res) => {
      setTimeout(() => {
        res.writeHead(200);
        res.end("llamacpp:requests_processing 1\n");
      }, 120);
    });
    await new Promise<void>((r) => slow.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/metrics`;
      const scraper = new ServerMetricsScraper({ url, intervalMs: 20 });
      await scraper.start();
      await sleep(300);
      const s = await scraper.stop();
      assert.ok(s.skipped > 0);
      assert.ok(s.ok >= 2);
      const hasty = new ServerMetricsScraper({ url, intervalMs: 1000, timeoutMs: 30 });
      await hasty.start();
      const h = await hasty.stop();
      assert.equal(h.ok, 0);
      assert.match(h.firstError!, /no answer within 30 ms/);
    } finally {
      slow.closeAllConnections();
      slow.close();
    }
  });
});
