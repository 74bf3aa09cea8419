import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { displayUrl, isSecretHeader, Redactor, splitCredentials } from "./secrets.ts";

describe("secrets", () => {
  test("credentials leave the URL as a Basic value; printed URLs mask them even unparsed", () => {
    assert.deepEqual(splitCredentials("https://u:p%3Aw@h/v1"), {
      url: "https://h/v1",
      basic: `Basic ${Buffer.from("u:p:w").toString("base64")}`,
    });
    assert.deepEqual(splitCredentials("http://h:8000"), { url: "http://h:8000", basic: undefined });
    assert.equal(displayUrl("http://u:p@ss@h:1/x?y"), "http://***@h:1/x?y");
    assert.equal(displayUrl("not a url"), "not a url");
  });

  test("auth-like header names; the redactor masks keys, bearer/basic values and their parts", () => {
    for (const n of [
      "authorization",
      "x-api-key",
      "api-key",
      "cookie",
      "x-auth-token",
      "proxy-authorization",
    ])
      assert.ok(isSecretHeader(n), n);
    assert.ok(!isSecretHeader("x-request-id"));
    const basic = `Basic ${Buffer.from("me:hunter22").toString("base64")}`;
    const r = new Redactor(["Bearer sk-abcdef", basic, undefined, "ab"]);
    assert.equal(r.redact("got 'Bearer sk-abcdef' and sk-abcdef"), "got '***' and ***");
    assert.equal(r.redact(`${basic} / me:hunter22 / hunter22`), "*** / *** / ***");
    assert.equal(r.redact("ab stays: too short to mask"), "ab stays: too short to mask");
  });
});
