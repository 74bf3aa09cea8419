import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Command } from "commander";
import { UsageError } from "../errors.ts";
import { addOpenAiFlags, type OpenAiFlags, openAiOptions } from "./openai-flags.ts";

function parse(args: string[]): OpenAiFlags {
  const cmd = addOpenAiFlags(new Command("x").exitOverride());
  cmd.parse(args, { from: "user" });
  return cmd.opts<OpenAiFlags>();
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

  test("usage errors: no --base_url, a bad URL, --base_url with another backend, a header without '='", () => {
    assert.throws(() => openAiOptions(parse([]), "openai"), UsageError);
    assert.throws(() => openAiOptions(parse(["--base_url", "nope"]), "openai"), /not a URL/);
    assert.throws(() => openAiOptions(parse(["--base_url", "ftp://h"]), "openai"), /http/);
    assert.throws(
      () => openAiOptions(parse(["--base_url", "http://h"]), "embedded"),
      /needs --backend openai/,
    );
    assert.equal(openAiOptions(parse([]), "embedded"), undefined);
    assert.throws(() => parse(["--header", "novalue"]), /k=v/);
  });
});
