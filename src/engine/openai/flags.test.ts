import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Command } from "commander";
import { addBackendFlags, backendOptions } from "../../cli/backend-flags.ts";
import { UsageError } from "../../errors.ts";
import type { OpenAiFlags, OpenAiOptions } from "./flags.ts";

function parse(args: string[]): OpenAiFlags & { allow_failures: boolean } {
  const cmd = addBackendFlags(new Command("x").exitOverride());
  cmd.parse(args, { from: "user" });
  return cmd.opts<OpenAiFlags & { allow_failures: boolean }>();
}

/** As the commands read them: the selected backend's options, other backends' flags refused. */
function openAiOptions(flags: OpenAiFlags, backend: string, env: NodeJS.ProcessEnv = process.env) {
  const o = backendOptions(flags, backend, env);
  return "baseUrl" in o ? (o as OpenAiOptions) : undefined;
}

describe("openai flags", () => {
  test("repeatable headers, timeout in seconds, endpoint, served name", () => {
    const f = parse([
      "--base_url",
      "http://h:8000/v1",
      "--header",
      "X-A=1",
      "--header",
      "x-b=k=v",
      "--request_timeout",
      "2.5",
      "--endpoint",
      "chat",
      "--served_model_name",
      "m",
    ]);
    const o = openAiOptions(f, "openai", {});
    assert.deepEqual(o, {
      baseUrl: "http://h:8000/v1",
      apiKey: undefined,
      endpoint: "chat",
      headers: { "x-a": "1", "x-b": "k=v" },
      servedModelName: "m",
      requestTimeoutMs: 2500,
      tls: { ca: undefined, insecure: false },
      proxy: undefined,
    });
    assert.equal(f.allow_failures, false);
  });

  test("defaults: completions, 600 s, key from OPENAI_API_KEY unless --api_key", () => {
    const f = parse(["--base_url", "http://h"]);
    const o = openAiOptions(f, "openai", { OPENAI_API_KEY: "env-key" })!;
    assert.equal(o.endpoint, "completions");
    assert.equal(o.requestTimeoutMs, 600_000);
    assert.equal(o.apiKey, "env-key");
    const g = parse(["--base_url", "http://h", "--api_key", "flag-key"]);
    assert.equal(openAiOptions(g, "openai", { OPENAI_API_KEY: "env-key" })!.apiKey, "flag-key");
  });

  test("usage errors: no --base_url, a bad URL, openai flags with another backend, a header without '='", () => {
    assert.throws(() => openAiOptions(parse([]), "openai"), UsageError);
    assert.throws(() => openAiOptions(parse(["--base_url", "nope"]), "openai"), /not a URL/);
    assert.throws(() => openAiOptions(parse(["--base_url", "ftp://h"]), "openai"), /http/);
    assert.throws(
      () => openAiOptions(parse(["--base_url", "http://h"]), "embedded"),
      /needs --backend openai/,
    );
    assert.equal(openAiOptions(parse([]), "embedded"), undefined);
    assert.throws(
      () => openAiOptions(parse(["--api_key", "k", "--endpoint", "chat"]), "embedded"),
      /^UsageError: --api_key, --endpoint need --backend openai$/,
    );
    assert.throws(
      () => openAiOptions(parse(["--insecure", "--ca_cert", "ca.pem"]), "embedded"),
      /^UsageError: --ca_cert, --insecure need --backend openai$/,
    );
    assert.throws(
      () => openAiOptions(parse(["--base_url", "http://h", "--header", "Accept-Encoding: gzip"]), "openai"),
      /--header accept-encoding: the client asks for identity/,
    );
    assert.throws(
      () => openAiOptions(parse(["--base_url", "http://h", "--header", "novalue"]), "openai"),
      /--header #1: not 'name=value' or 'Name: value'/,
    );
  });

  test("headers: name=value or curl's 'Name: value'; errors never quote a value", () => {
    const o = openAiOptions(
      parse(["--base_url", "http://h", "--header", "Authorization: Bearer abc==", "--header", "x-a=b:c"]),
      "openai",
      {},
    )!;
    assert.deepEqual(o.headers, { authorization: "Bearer abc==", "x-a": "b:c" });
    const secret = "S3CRET-value";
    for (const bad of [
      `Authorization Bearer ${secret}`,
      `bad name: ${secret}`,
      `x-a: a\r\n${secret}`,
      `host=${secret}`,
    ]) {
      const err = (() => {
        try {
          openAiOptions(
            parse(["--base_url", "http://h", "--header", "x-ok=1", "--header", bad]),
            "openai",
            {},
          );
        } catch (e) {
          return e as Error;
        }
        return undefined;
      })();
      assert.ok(err instanceof UsageError, bad);
      assert.ok(!err.message.includes(secret), err.message);
      assert.match(err.message, /^--header (#2|x-a|host)/);
    }
  });

  test("URL credentials become Basic auth and leave the URL; they are masked in errors", () => {
    const o = openAiOptions(parse(["--base_url", "http://me:p%40ss@h:8000/v1"]), "openai", {
      OPENAI_API_KEY: "env-key",
    })!;
    assert.equal(o.baseUrl, "http://h:8000/v1");
    assert.equal(o.apiKey, undefined, "explicit credentials win over the environment's key");
    assert.equal(o.headers!["authorization"], `Basic ${Buffer.from("me:p@ss").toString("base64")}`);
    for (const [args, re] of [
      [["--base_url", "http://me:pw-SECRET@[bad"], /^--base_url 'http:\/\/\*\*\*@\[bad' is not a URL$/],
      [["--base_url", "ftp://me:pw-SECRET@h"], /^--base_url 'ftp:\/\/\*\*\*@h' must be http/],
      [
        ["--base_url", "http://me:pw-SECRET@h", "--api_key", "k"],
        /carries credentials .* and --api_key is given/,
      ],
      [
        ["--base_url", "http://me:pw-SECRET@h", "--header", "authorization=x"],
        /and --header authorization is given/,
      ],
    ] as const) {
      assert.throws(
        () => openAiOptions(parse([...args]), "openai", {}),
        (e: Error) => e instanceof UsageError && re.test(e.message) && !e.message.includes("pw-SECRET"),
      );
    }
  });
});
