import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { UsageError } from "../../errors.ts";
import { bypasses, proxyFor } from "./proxy-env.ts";

const u = (s: string) => new URL(s);

describe("proxy from the environment", () => {
  test("the scheme picks the variable; lower case first; empty is unset; no scheme is http://", () => {
    const env = { http_proxy: "http://lo:1", HTTP_PROXY: "http://up:2", HTTPS_PROXY: "https://sec:3" };
    assert.equal(proxyFor(u("http://srv:8000"), env)?.url, "http://lo:1");
    assert.equal(proxyFor(u("https://srv"), env)?.from, "HTTPS_PROXY");
    assert.equal(proxyFor(u("http://srv"), { HTTP_PROXY: "http://up:2" })?.from, "HTTP_PROXY");
    assert.equal(
      proxyFor(u("http://srv"), { http_proxy: "", HTTP_PROXY: "http://up:2" })?.url,
      "http://up:2",
    );
    assert.equal(proxyFor(u("https://srv"), { HTTP_PROXY: "http://up:2" }), undefined);
    assert.equal(proxyFor(u("http://srv"), { HTTP_PROXY: "proxy.corp:3128" })?.url, "http://proxy.corp:3128");
    assert.equal(proxyFor(u("http://srv"), {}), undefined);
  });

  test("bad values are usage errors naming the variable, credentials masked", () => {
    const bad = (env: Record<string, string>, re: RegExp) =>
      assert.throws(
        () => proxyFor(u("http://srv"), env),
        (e: unknown) => e instanceof UsageError && re.test(e.message) && !e.message.includes("pw"),
      );
    bad({ HTTP_PROXY: "http://me:pw@[bad" }, /^HTTP_PROXY 'http:\/\/\*\*\*@\[bad' is not a URL/);
    bad(
      { http_proxy: "socks5://me:pw@h:1080" },
      /^http_proxy 'socks5:\/\/\*\*\*@h:1080': the proxy must be http/,
    );
    bad(
      { HTTP_PROXY: "http://p:1", NO_PROXY: "h:99999" },
      /^NO_PROXY entry 'h:99999': '99999' is not a port/,
    );
    bad(
      { HTTP_PROXY: "http://p:1", no_proxy: "10.0.0.0/99" },
      /^no_proxy entry '10.0.0.0\/99' is not an address block/,
    );
  });

  test("NO_PROXY: *, domains and their subdomains, ports, addresses, blocks", () => {
    assert.equal(bypasses(u("http://any.host"), "*"), true);
    for (const entry of ["example.com", ".example.com", "*.example.com", "EXAMPLE.com"]) {
      assert.equal(bypasses(u("http://api.example.com"), entry), true, entry);
      assert.equal(bypasses(u("http://example.com"), entry), true, entry);
      assert.equal(bypasses(u("http://badexample.com"), entry), false, entry);
    }
    assert.equal(bypasses(u("http://h:8000"), "other, h:8000"), true);
    assert.equal(bypasses(u("http://h:8001"), "h:8000"), false);
    assert.equal(bypasses(u("http://h"), "h:80"), true);
    assert.equal(bypasses(u("https://h"), "h:443 other"), true);
    assert.equal(bypasses(u("http://127.0.0.1:9"), "localhost,127.0.0.1"), true);
    assert.equal(bypasses(u("http://10.1.2.3"), "10.0.0.0/8"), true);
    assert.equal(bypasses(u("http://11.1.2.3"), "10.0.0.0/8"), false);
    assert.equal(bypasses(u("http://[::1]:8000"), "::1"), true);
    assert.equal(bypasses(u("http://[::1]:8000"), "[::1]:8000"), true);
    assert.equal(bypasses(u("http://[::1]:8000"), "[::1]:9000"), false);
    assert.equal(bypasses(u("http://[fd00::5]"), "fd00::/8"), true);
    assert.equal(bypasses(u("http://10.0.0.1"), "example.com"), false);
    assert.equal(proxyFor(u("http://h:1"), { HTTP_PROXY: "http://p:1", no_proxy: "h" }), undefined);
  });
});
