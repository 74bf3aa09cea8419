import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { type FakeHub, startFakeHub } from "../../test/fixtures/hf/hub-server.ts";
import { ConfigError } from "../errors.ts";
import { setLogSink } from "../util/log.ts";
import {
  cachedOrDownloaded,
  downloadToCache,
  findCachedSnapshot,
  HubError,
  hubCacheDir,
  isRepoId,
  repoCacheDir,
} from "./hf-hub.ts";

const COMMIT = "0123456789abcdef0123456789abcdef01234567";

describe("cache location", () => {
  it("follows HF_HUB_CACHE, then HF_HOME/hub, then ~/.cache/huggingface/hub", () => {
    assert.equal(hubCacheDir({ HF_HUB_CACHE: "/a", HF_HOME: "/b" }), "/a");
    assert.equal(hubCacheDir({ HF_HOME: "/b" }), "/b/hub");
    assert.equal(hubCacheDir({}), join(homedir(), ".cache", "huggingface", "hub"));
    assert.equal(repoCacheDir("org/name", { HF_HUB_CACHE: "/c" }), "/c/models--org--name");
  });

  it("accepts repo ids and rejects paths", () => {
    assert.ok(isRepoId("meta-llama/Llama-3.1-8B"));
    assert.ok(isRepoId("gpt2"));
    assert.ok(!isRepoId("/abs/path"));
    assert.ok(!isRepoId("a/b/c"));
    assert.ok(!isRepoId("../x"));
  });
});

describe("findCachedSnapshot", () => {
  let cache: string;
  before(async () => {
    cache = await mkdtemp(join(tmpdir(), "llm-bench-hub-"));
    const repo = join(cache, "models--org--name");
    await mkdir(join(repo, "refs"), { recursive: true });
    await mkdir(join(repo, "snapshots", COMMIT), { recursive: true });
    await writeFile(join(repo, "refs", "main"), `${COMMIT}\n`);
    await writeFile(join(repo, "snapshots", COMMIT, "config.json"), "{}");
  });
  after(async () => rm(cache, { recursive: true, force: true }));

  it("resolves refs/<revision> and a commit revision; requires the non-optional files", async () => {
    const env = { HF_HUB_CACHE: cache };
    const snap = join(cache, "models--org--name", "snapshots", COMMIT);
    assert.equal(await findCachedSnapshot("org/name", undefined, [{ name: "config.json" }], env), snap);
    assert.equal(await findCachedSnapshot("org/name", COMMIT, [{ name: "config.json" }], env), snap);
    assert.equal(await findCachedSnapshot("org/name", "v2", [{ name: "config.json" }], env), undefined);
    assert.equal(await findCachedSnapshot("org/name", "main", [{ name: "tokenizer.json" }], env), undefined);
    assert.equal(
      await findCachedSnapshot(
        "org/name",
        "main",
        [{ name: "config.json" }, { name: "x.json", optional: true }],
        env,
      ),
      snap,
    );
  });
});

describe("downloadToCache", () => {
  let hub: FakeHub;
  let cdn: FakeHub;
  let cache: string;
  const caches: string[] = [];
  let prevSink: (line: string) => void;
  before(async () => {
    prevSink = setLogSink(() => {});
    hub = await startFakeHub();
    cdn = await startFakeHub();
  });
  after(async () => {
    await hub.close();
    await cdn.close();
    setLogSink(prevSink);
    for (const c of caches) await rm(c, { recursive: true, force: true });
  });
  beforeEach(async () => {
    cache = await mkdtemp(join(tmpdir(), "llm-bench-dl-"));
    caches.push(cache);
    hub.routes.clear();
    hub.requests.length = 0;
    cdn.requests.length = 0;
    hub.requiredToken = undefined;
  });

  it("writes files into snapshots/<commit> and refs/main; the token stays on the Hub's origin", async () => {
    hub.routes.set("/org/name/resolve/main/config.json", {
      body: '{"a":1}',
      headers: { "x-repo-commit": COMMIT },
    });
    // LFS-style: the Hub answers 302 to a CDN on another origin.
    hub.routes.set("/org/name/resolve/main/big.json", {
      status: 302,
      headers: { location: `${cdn.endpoint}/blob/abc`, "x-repo-commit": COMMIT },
    });
    cdn.routes.set("/blob/abc", { body: '{"big":true}' });
    const env = { HF_HUB_CACHE: cache, HF_ENDPOINT: hub.endpoint, HF_TOKEN: "hf_secret" };
    const dir = await downloadToCache(
      "org/name",
      undefined,
      [{ name: "config.json" }, { name: "big.json" }],
      env,
    );
    assert.equal(dir, join(cache, "models--org--name", "snapshots", COMMIT));
    assert.equal(await readFile(join(dir, "config.json"), "utf8"), '{"a":1}');
    assert.equal(await readFile(join(dir, "big.json"), "utf8"), '{"big":true}');
    assert.equal(await readFile(join(cache, "models--org--name", "refs", "main"), "utf8"), COMMIT);
    assert.deepEqual(
      hub.requests.map((r) => r.authorization),
      ["Bearer hf_secret", "Bearer hf_secret"],
    );
    assert.deepEqual(cdn.requests, [{ url: "/blob/abc", authorization: undefined }]);
    // No temp files are left behind.
    assert.deepEqual((await readdir(dir)).sort(), ["big.json", "config.json"]);
    // The cache now answers without the network.
    assert.equal(await findCachedSnapshot("org/name", "main", [{ name: "big.json" }], env), dir);
  });

  it("skips a missing optional file and fails on a missing required one", async () => {
    hub.routes.set("/org/name/resolve/main/tokenizer.json", {
      body: "{}",
      headers: { "x-repo-commit": COMMIT },
    });
    const env = { HF_HUB_CACHE: cache, HF_ENDPOINT: hub.endpoint };
    const dir = await downloadToCache(
      "org/name",
      "main",
      [{ name: "tokenizer.json" }, { name: "tokenizer_config.json", optional: true }],
      env,
    );
    assert.deepEqual(await readdir(dir), ["tokenizer.json"]);
    await assert.rejects(
      downloadToCache("org/name", "main", [{ name: "nope.json" }], env),
      (e: unknown) => e instanceof HubError && e.kind === "not-found",
    );
  });

  it("never touches the network when HF_HUB_OFFLINE=1", async () => {
    const env = { HF_HUB_CACHE: cache, HF_ENDPOINT: hub.endpoint, HF_HUB_OFFLINE: "1" };
    await assert.rejects(
      downloadToCache("org/name", "main", [{ name: "config.json" }], env),
      (e: unknown) => e instanceof HubError && e.kind === "offline",
    );
    assert.equal(hub.requests.length, 0);
  });

  it("turns an unreachable endpoint into a ConfigError that lists the files to provide", async () => {
    const closed = await startFakeHub();
    await closed.close();
    const env = { HF_HUB_CACHE: cache, HF_ENDPOINT: closed.endpoint };
    await assert.rejects(
      cachedOrDownloaded("org/name", undefined, [{ name: "config.json" }], "config.json", env),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(
          e.message,
          /cannot load the config\.json for 'org\/name': cannot reach http:\/\/127\.0\.0\.1:\d+/,
        );
        assert.match(e.message, /put config\.json in a directory and pass --model_path DIR/);
        assert.ok(e.message.includes(join(cache, "models--org--name", "snapshots")));
        return true;
      },
    );
  });

  it("times out on a server that never answers", async () => {
    const { createServer } = await import("node:net");
    const silent = createServer(() => {}).listen(0, "127.0.0.1");
    await new Promise((r) => silent.once("listening", r));
    const port = (silent.address() as { port: number }).port;
    const env = {
      HF_HUB_CACHE: cache,
      HF_ENDPOINT: `http://127.0.0.1:${port}`,
      HF_HUB_DOWNLOAD_TIMEOUT: "0.2",
    };
    const started = performance.now();
    await assert.rejects(
      downloadToCache("org/name", "main", [{ name: "config.json" }], env),
      (e: unknown) =>
        e instanceof HubError && e.kind === "unreachable" && /no answer within 0\.2 s/.test(e.message),
    );
    assert.ok(performance.now() - started < 5000);
    silent.close();
  });
});
