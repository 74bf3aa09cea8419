import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { readGgufFileInfo } from "node-llama-cpp";
import { ConfigError, UnsupportedError } from "../../../errors.ts";
import { supportedArchitectures, type WriteGgufOptions, writeGguf } from "./index.ts";
import { LLAMA3_TOKENIZER_CONFIG, LLAMA3_TOKENIZER_JSON, tempDir, tinyConfig } from "./test-support.ts";

describe("writeGguf", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());
  const base = (over: Partial<WriteGgufOptions>): WriteGgufOptions => ({
    config: tinyConfig(),
    tokenizerJsonPath: LLAMA3_TOKENIZER_JSON,
    tokenizerConfigPath: LLAMA3_TOKENIZER_CONFIG,
    weightType: "Q8_0",
    source: { kind: "dummy", seed: 1 },
    contextLength: 1024,
    outPath: join(dir, "x.gguf"),
    ...over,
  });

  it("stores each tensor in its type, with file_type and quantization_version", async () => {
    // hidden 48: rows of 48 do not fill Q4_0 blocks (→ F16); ffn_down rows of 128 do.
    const config = tinyConfig({ hiddenSize: 48, headSize: 12 });
    const progress: [number, number][] = [];
    const r = await writeGguf(
      base({
        config,
        weightType: "Q4_0",
        outPath: join(dir, "q4.gguf"),
        onProgress: (d, t) => progress.push([d, t]),
      }),
    );
    const info = await readGgufFileInfo(r.path, { logWarnings: false });
    const types = Object.fromEntries(info.tensorInfo!.map((t) => [t.name, t.ggmlType]));
    assert.equal(types["token_embd.weight"], 1);
    assert.equal(types["blk.0.ffn_down.weight"], 2);
    assert.equal(types["blk.0.attn_norm.weight"], 0);
    const m = info.metadata as unknown as {
      general: Record<string, unknown>;
      llama: Record<string, unknown>;
    };
    assert.equal(m.general["file_type"], 2);
    assert.equal(m.general["quantization_version"], 2);
    assert.equal(m.llama["context_length"], 1024);
    const last = progress.at(-1)!;
    assert.equal(last[0], last[1]);
    assert.ok(progress.every(([d], i) => i === 0 || d >= progress[i - 1]![0]));
  });

  it("writes BF16 matrices and F32 norms, without quantization_version", async () => {
    const r = await writeGguf(base({ weightType: "BF16", outPath: join(dir, "bf16.gguf") }));
    const info = await readGgufFileInfo(r.path, { logWarnings: false });
    const types = new Set(info.tensorInfo!.map((t) => `${t.dimensions.length}:${t.ggmlType}`));
    assert.deepEqual([...types].sort(), ["1:0", "2:30"]);
    const g = (info.metadata as unknown as { general: Record<string, unknown> }).general;
    assert.equal(g["file_type"], 32);
    assert.equal(g["quantization_version"], undefined);
  });

  it("refuses an unsupported model_type before touching the disk", async () => {
    const out = join(dir, "nope", "q.gguf");
    await assert.rejects(
      writeGguf(base({ config: tinyConfig({ modelType: "qwen2" }), outPath: out })),
      (e: unknown) =>
        e instanceof UnsupportedError && e.message.includes(supportedArchitectures().join(", ")),
    );
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.startsWith("nope")),
      [],
    );
  });

  it("refuses safetensors conversion for non-llama architectures and bad context lengths", async () => {
    await assert.rejects(
      writeGguf(
        base({
          config: tinyConfig({ modelType: "falcon" }),
          source: { kind: "safetensors", dir: __dirnameOf() },
        }),
      ),
      UnsupportedError,
    );
    await assert.rejects(writeGguf(base({ contextLength: 0 })), ConfigError);
  });
});

/** Any existing directory: the architecture check fails before its checkpoint would be read. */
function __dirnameOf(): string {
  return new URL(".", import.meta.url).pathname;
}
