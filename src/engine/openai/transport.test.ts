/**
 * Both transports against real local servers: an https fixture whose certificate a test CA signed (made with
 * openssl at test time), a forward proxy (absolute-form and CONNECT), and a server that compresses anyway.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type FixtureOptions, startFixtureServer } from "../../../test/fixtures/openai-server.ts";
import { startProxy } from "../../../test/fixtures/proxy-server.ts";
import { hasOpenssl, makePki, type TestPki } from "../../../test/fixtures/tls-certs.ts";
import { resolveTokenizer } from "../../model/tokenizer-resolve.ts";
import { ServerMetricsScraper } from "../../telemetry/server-scraper.ts";
import type { EngineInfo } from "../types.ts";
import { OpenAiEngine } from "./client.ts";
import { type OpenAiBackendOptions, OpenAiConnection } from "./connection.ts";
import { proxyFor } from "./proxy-env.ts";

const KINDS = ["fast", "undici"] as const;
const openssl = hasOpenssl();

function connect(url: string, extra: Partial<OpenAiBackendOptions> = {}): OpenAiConnection {
  return new OpenAiConnection({
    baseUrl: url,
    endpoint: "completions",
    requestTimeoutMs: 5000,
    concurrency: 2,
    ...extra,
  });
}

/** One streamed 4-token generation through `conn`; the connection is closed after. */
async function generate(conn: OpenAiConnection) {
  const engine = new OpenAiEngine({
    connection: conn,
    info: {} as EngineInfo,
    model: "m",
    features: { tokenIdPrompts: true, extensions: true },
    tokenizer: await resolveTokenizer({ model: "llm-bench/tiny-llama" }),
  });
  try {
    return await engine.generate({ id: "1", inputIds: [1], maxTokens: 4, streaming: true });
  } finally {
    await engine.stop();
  }
}

async function withServer<T>(opts: FixtureOptions, fn: (url: string) => Promise<T>): Promise<T> {
  const srv = await startFixtureServer(opts);
  try {
    return await fn(srv.url);
  } finally {
    await srv.close();
  }
}

describe("transports", { timeout: 60_000 }, () => {
  for (const transport of KINDS) {
    test(`${transport}: accept-encoding identity is sent; a compressed answer fails clearly`, async () => {
      const srv = await startFixtureServer({ modeFor: (b) => (b["max_tokens"] === 4 ? "gzip" : "ok") });
      try {
        const r = await generate(connect(srv.url, { transport }));
        assert.equal(srv.headers[0]!["accept-encoding"], "identity");
        assert.equal(r.finishReason, "error");
        assert.match(
          r.error!,
          /^connection_error: HTTP_ENCODING: HTTP 200 with content-encoding 'gzip'.*does not decompress/,
        );
      } finally {
        await srv.close();
      }
    });
  }

  describe("TLS with a test CA", { skip: openssl ? false : "openssl is not installed" }, () => {
    let pki: TestPki | undefined;
    before(() => {
      pki = makePki();
    });
    after(() => pki?.remove());

    for (const transport of KINDS) {
      test(`${transport}: --ca_cert trusts the server, no CA refuses it with a hint, --insecure skips the check`, async () => {
        await withServer({ tls: { key: pki!.key, cert: pki!.cert } }, async (url) => {
          assert.match(url, /^https:\/\/localhost:/);
          const ok = await generate(connect(url, { transport, tls: { ca: pki!.caCert } }));
          assert.equal(ok.error, undefined);
          assert.equal(ok.outputText, " the".repeat(4));
          const refused = await generate(connect(url, { transport }));
          assert.match(
            refused.error!,
            /^connection_error: (UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY): the server's TLS certificate was refused .*--ca_cert FILE.*--insecure/,
          );
          const insecure = await generate(connect(url, { transport, tls: { insecure: true } }));
          assert.equal(insecure.error, undefined);
        });
      });
    }

    test("--server_metrics scrapes check the certificate as the requests do", async () => {
      await withServer({ tls: { key: pki!.key, cert: pki!.cert } }, async (url) => {
        // The fixture has no /metrics: a 404 means the TLS handshake went through.
        const scrape = async (tls?: { ca?: string; insecure?: boolean }) => {
          const scraper = new ServerMetricsScraper({ url: `${url}/metrics`, intervalMs: 10_000, tls });
          await scraper.start();
          return (await scraper.stop()).firstError ?? "";
        };
        assert.match(await scrape({ ca: pki!.caCert }), /404/);
        assert.match(await scrape({ insecure: true }), /404/);
        assert.match(await scrape(), /certificate|UNABLE_TO_VERIFY|SELF_SIGNED/i);
      });
    });

    test("https through a CONNECT tunnel, the server's certificate checked against --ca_cert", async () => {
      const proxy = await startProxy();
      try {
        await withServer({ tls: { key: pki!.key, cert: pki!.cert } }, async (url) => {
          const choice = proxyFor(new URL(url), { HTTPS_PROXY: proxy.url });
          assert.equal(choice?.from, "HTTPS_PROXY");
          const conn = connect(url, { proxy: choice, tls: { ca: pki!.caCert } });
          assert.match(conn.route, /^proxy http:\/\/127\.0\.0\.1:\d+\/? \(HTTPS_PROXY, undici transport\)$/);
          const r = await generate(conn);
          assert.equal(r.error, undefined);
          assert.equal(r.outputText, " the".repeat(4));
          assert.deepEqual(proxy.tunnels, [`localhost:${new URL(url).port}`]);
          assert.deepEqual(proxy.forwarded, []);
        });
      } finally {
        await proxy.close();
      }
    });
  });

  test("http through the proxy as absolute-form requests, proxy credentials sent and masked", async () => {
    const basic = `Basic ${Buffer.from("me:s3cret-pw").toString("base64")}`;
    const proxy = await startProxy({ requireAuth: basic });
    try {
      await withServer({ defaultMode: "ok" }, async (url) => {
        const withAuth = proxy.url.replace("http://", "http://me:s3cret-pw@");
        const choice = proxyFor(new URL(url), { http_proxy: withAuth, HTTP_PROXY: "http://ignored:1" });
        assert.equal(choice?.from, "http_proxy");
        assert.equal(choice?.shown, "http://***@127.0.0.1:" + new URL(proxy.url).port);
        const conn = connect(url, { proxy: choice });
        assert.ok(!conn.route.includes("s3cret"), conn.route);
        assert.equal(conn.redact("proxy said: s3cret-pw"), "proxy said: ***");
        const r = await generate(conn);
        assert.equal(r.error, undefined);
        assert.equal(r.chunkTimesNs!.length, 4);
        assert.equal(proxy.forwarded.at(-1), `${url}/v1/completions`);
        assert.equal(proxy.auth.at(-1), basic);
        assert.deepEqual(proxy.tunnels, []);
      });
      // Wrong credentials: the proxy's 407 is the request's failure, not a hang.
      await withServer({}, async (url) => {
        const r = await generate(connect(url, { proxy: proxyFor(new URL(url), { HTTP_PROXY: proxy.url }) }));
        assert.match(
          r.error!,
          /^connection_error: HTTP_PROXY: the proxy http:\/\/127\.0\.0\.1:\d+\/? \(HTTP_PROXY\): Proxy Authentication Required \(407\)/,
        );
      });
    } finally {
      await proxy.close();
    }
  });

  test("NO_PROXY: a bypassed target connects directly on the fast path", async () => {
    const proxy = await startProxy();
    try {
      await withServer({}, async (url) => {
        const port = new URL(url).port;
        const choice = proxyFor(new URL(url), {
          HTTP_PROXY: proxy.url,
          NO_PROXY: `example.com, 127.0.0.1:${port}`,
        });
        assert.equal(choice, undefined);
        const conn = connect(url, { proxy: choice });
        assert.equal(conn.route, "direct (fast HTTP/1.1 client)");
        const r = await generate(conn);
        assert.equal(r.error, undefined);
        assert.deepEqual(proxy.forwarded, []);
      });
    } finally {
      await proxy.close();
    }
  });
});
