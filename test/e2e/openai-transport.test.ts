/**
 * `--ca_cert`, `--insecure` and the proxy variables through the real CLI: an https fixture signed by a CA made
 * at test time (openssl), a forward proxy fixture, and the usage errors for bad values. Each test starts and
 * closes its own servers; none depends on another.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startFixtureServer } from "../fixtures/openai-server.ts";
import { startProxy } from "../fixtures/proxy-server.ts";
import { hasOpenssl, makePki, type TestPki } from "../fixtures/tls-certs.ts";
import { assertTypedError, MODEL, start } from "../helpers/cli-run.ts";

/** This process's environment without any proxy variable or API key, plus `extra`. */
function envWith(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^(https?_proxy|no_proxy|all_proxy|openai_api_key)$/i.test(k)) env[k] = v;
  return { ...env, ...extra };
}

describe("openai transport flags through the CLI", { timeout: 150_000 }, () => {
  let dir = "";
  let dataset = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "llm-bench-transport-"));
    dataset = join(dir, "d.jsonl");
    const lines = Array.from({ length: 3 }, (_, i) =>
      JSON.stringify({ task_id: i, input_ids: [9906, 1917, 11], output_tokens: 3 }),
    );
    writeFileSync(dataset, `${lines.join("\n")}\n`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const run = (url: string, extra: string[], env = envWith()) =>
    start(
      [
        ...MODEL,
        "--log_level",
        "info",
        "throughput",
        "--backend",
        "openai",
        "--base_url",
        url,
        "--dataset",
        dataset,
        "--warmup",
        "0",
        "--streaming",
        ...extra,
      ],
      60_000,
      env,
    ).done;

  const completed = (report: string) =>
    (JSON.parse(readFileSync(report, "utf8")) as { request_info: { num_requests: number } }).request_info
      .num_requests;

  describe("https with a test CA", { skip: hasOpenssl() ? false : "openssl is not installed" }, () => {
    let pki: TestPki | undefined;
    before(() => {
      pki = makePki();
    });
    after(() => pki?.remove());

    test("--ca_cert succeeds, no CA fails naming the flags, --insecure succeeds", async () => {
      const srv = await startFixtureServer({ tls: { key: pki!.key, cert: pki!.cert } });
      try {
        const withCa = join(dir, "ca.json");
        const [a, b, c] = await Promise.all([
          run(srv.url, ["--ca_cert", pki!.caFile, "--report_json", withCa]),
          run(srv.url, []),
          run(srv.url, ["--insecure", "--report_json", join(dir, "insecure.json")]),
        ]);
        assert.equal(a.code, 0, a.stderr);
        assert.equal(completed(withCa), 3);
        assertTypedError(
          b,
          1,
          /the server's TLS certificate was refused .*pass its CA with --ca_cert FILE, or --insecure/,
          "no CA",
        );
        assert.equal(c.code, 0, c.stderr);
        assert.equal(completed(join(dir, "insecure.json")), 3);
      } finally {
        await srv.close();
      }
    });
  });

  test("HTTP_PROXY carries the run; NO_PROXY bypasses it", async () => {
    const srv = await startFixtureServer();
    const proxy = await startProxy();
    try {
      const port = new URL(srv.url).port;
      const viaProxy = await run(srv.url, [], envWith({ HTTP_PROXY: proxy.url }));
      assert.equal(viaProxy.code, 0, viaProxy.stderr);
      assert.match(
        viaProxy.stderr,
        /via proxy http:\/\/127\.0\.0\.1:\d+\/? \(HTTP_PROXY, undici transport\)/,
      );
      // The model list, the probes and the three requests all went through it.
      assert.ok(
        proxy.forwarded.filter((t) => t.endsWith("/v1/completions")).length >= 4,
        proxy.forwarded.join(),
      );
      const seen = proxy.forwarded.length;
      const bypass = await run(
        srv.url,
        [],
        envWith({ http_proxy: proxy.url, no_proxy: `localhost,127.0.0.1:${port}` }),
      );
      assert.equal(bypass.code, 0, bypass.stderr);
      assert.match(bypass.stderr, /via direct \(fast HTTP\/1\.1 client\)/);
      assert.equal(proxy.forwarded.length, seen);
    } finally {
      await proxy.close();
      await srv.close();
    }
  });

  test("bad values are usage errors naming the flag or variable, secrets masked", async () => {
    const url = "http://127.0.0.1:1";
    const notPem = join(dir, "not.pem");
    writeFileSync(notPem, "hello\n");
    const [missing, garbage, badProxy, badNoProxy] = await Promise.all([
      run(url, ["--ca_cert", join(dir, "nope.pem")]),
      run(url, ["--ca_cert", notPem]),
      run(url, [], envWith({ HTTP_PROXY: "http://me:s3cret@[oops" })),
      run(url, [], envWith({ HTTP_PROXY: "http://p:1", NO_PROXY: "h:0" })),
    ]);
    assertTypedError(missing, 2, /--ca_cert .*nope\.pem: cannot read it \(ENOENT\)/, "missing CA");
    assertTypedError(garbage, 2, /--ca_cert .*not\.pem: no PEM certificate in it/, "not PEM");
    assertTypedError(badProxy, 2, /HTTP_PROXY 'http:\/\/\*\*\*@\[oops' is not a URL/, "bad proxy");
    assert.doesNotMatch(badProxy.stderr, /s3cret/);
    assertTypedError(badNoProxy, 2, /NO_PROXY entry 'h:0': '0' is not a port/, "bad NO_PROXY");
  });
});
