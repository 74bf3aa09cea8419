import assert from "node:assert/strict";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { type FakeHub, startFakeHub } from "../../test/fixtures/hf/hub-server.ts";
import { ConfigError } from "../errors.ts";
import { setLogSink } from "../util/log.ts";
import { resolveModelConfig } from "./config-reader.ts";
import { packageRoot } from "./known-models.ts";

const COMMIT = "00112233445566778899aabbccddeeff00112233";
const ENV_KEYS = ["HF_HUB_CACHE", "HF_HOME", "HF_ENDPOINT", "HF_TOKEN", "HF_HUB_OFFLINE"] as const;

/** One BF16 tensor of `n` elements in safetensors format. */
function oneTensor(n: number): Buffer {
  const json = Buffer.from(JSON.stringify({ w: { dtype: "BF16", shape: [n], data_offsets: [0, 2 * n] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, Buffer.alloc(2 * n)]);
}

describe("resolveModelConfig", () => {
  let root: string;
  let tmp: string;
  const tmps: string[] = [];
  let hub: FakeHub;
  const saved: Record<string, string | undefined> = {};
  const logs: string[] = [];
  let prevSink: (line: string) => void;

  before(async () => {
    root = await packageRoot();
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
    for (const t of tmps) await rm(t, { recursive: true, force: true });
  });
  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), "llm-bench-cfgres-"));
    tmps.push(tmp);
    for (const k of ENV_KEYS) delete process.env[k];
    process.env.HF_HUB_CACHE = join(tmp, "hub");
    process.env.HF_ENDPOINT = hub.endpoint;
    hub.routes.clear();
    hub.requests.length = 0;
    logs.length = 0;
  });

  it("uses the bundled config and published count with no network", async () => {
    process.env.HF_HUB_OFFLINE = "1";
    const c = await resolveModelConfig({ model: "meta-llama/Meta-Llama-3.1-8B" });
    assert.equal(c.name, "meta-llama/Meta-Llama-3.1-8B");
    assert.equal(c.numKeyValueHeads, 8);
    assert.equal(c.paramCount, 8_030_261_248);
    const tiny = await resolveModelConfig({ model: "llm-bench/tiny-llama" });
    assert.equal(tiny.paramCount, 35_981_568);
    assert.equal(hub.requests.length, 0);
  });

  it("prefers --model_path's config.json and counts its safetensors", async () => {
    const dir = join(tmp, "ckpt");
    await mkdir(dir);
    await copyFile(join(root, "models/meta-llama/Llama-3.1-8B/config.json"), join(dir, "config.json"));
    await writeFile(join(dir, "model.safetensors"), oneTensor(1234));
    const c = await resolveModelConfig({ model: "meta-llama/Llama-3.1-8B", modelPath: dir });
    assert.equal(c.paramCount, 1234);
    // Without weights the bundled count for the name applies.
    await rm(join(dir, "model.safetensors"));
    assert.equal(
      (await resolveModelConfig({ model: "meta-llama/Llama-3.1-8B", modelPath: dir })).paramCount,
      8_030_261_248,
    );
    // A GGUF file as --model_path: the config comes from the name.
    await writeFile(join(tmp, "m.gguf"), "GGUF");
    const g = await resolveModelConfig({
      model: "mistralai/Mistral-7B-v0.1",
      modelPath: join(tmp, "m.gguf"),
    });
    assert.equal(g.modelType, "mistral");
  });

  it("keeps GPT-J's hardcoded count even with local weights", async () => {
    const dir = join(tmp, "gptj");
    await mkdir(dir);
    await copyFile(join(root, "test/fixtures/hf/gptj/config.json"), join(dir, "config.json"));
    await writeFile(join(dir, "model.safetensors"), oneTensor(10));
    const c = await resolveModelConfig({ model: "EleutherAI/gpt-j-6b", modelPath: dir });
    assert.equal(c.paramCount, 6_053_381_344);
  });

  it("reads an unknown model from the HF cache and logs that its count is an estimate", async () => {
    const repo = join(tmp, "hub", "models--tiiuae--falcon-7b");
    const snap = join(repo, "snapshots", COMMIT);
    await mkdir(snap, { recursive: true });
    await mkdir(join(repo, "refs"));
    await writeFile(join(repo, "refs", "main"), COMMIT);
    await copyFile(join(root, "test/fixtures/hf/falcon-7b/config.json"), join(snap, "config.json"));
    const c = await resolveModelConfig({ model: "tiiuae/falcon-7b" });
    assert.equal(c.paramCount, 6_921_720_704);
    assert.ok(
      logs.some((l) =>
        /\[I\] Parameter count of tiiuae\/falcon-7b estimated from its config\.json shape/.test(l),
      ),
    );
    assert.equal(hub.requests.length, 0);
  });

  it("downloads config.json from the Hub when nothing local has it", async () => {
    hub.routes.set("/org/new-model/resolve/main/config.json", {
      body: await readFile(join(root, "test/fixtures/hf/gptj/config.json")),
      headers: { "x-repo-commit": COMMIT },
    });
    const c = await resolveModelConfig({ model: "org/new-model" });
    assert.equal(c.numHiddenLayers, 28);
    assert.deepEqual(
      hub.requests.map((r) => r.url),
      ["/org/new-model/resolve/main/config.json"],
    );
  });

  it("fails offline naming config.json and --model_path", async () => {
    process.env.HF_HUB_OFFLINE = "1";
    await assert.rejects(resolveModelConfig({ model: "org/absent" }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /cannot load the config\.json for 'org\/absent': HF_HUB_OFFLINE is set/);
      assert.match(e.message, /put config\.json in a directory and pass --model_path DIR/);
      return true;
    });
    await assert.rejects(
      resolveModelConfig({ model: "org/absent", modelPath: join(tmp, "missing") }),
      /missing: --model_path does not exist/,
    );
  });
});
