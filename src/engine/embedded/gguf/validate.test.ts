import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { patchGgufU32 } from "../../../../test/helpers/gguf-patch.ts";
import { writeTinyGguf } from "../../../../test/helpers/small-vocab.ts";
import { EngineError } from "../../../errors.ts";
import { tempDir } from "./test-support.ts";
import { findGgufProblem, validateGgufFile } from "./validate.ts";

/** The metadata of a sound 2-layer Llama with 4 heads of 16 over 2 KV heads, as readGgufFileInfo nests it. */
function llama(over: Record<string, unknown> = {}, general: Record<string, unknown> = {}) {
  return {
    metadata: {
      general: { architecture: "llama", ...general },
      llama: {
        block_count: 2,
        embedding_length: 64,
        feed_forward_length: 128,
        context_length: 256,
        rope: { dimension_count: 16 },
        attention: { head_count: 4, head_count_kv: 2 },
        ...over,
      },
      tokenizer: { ggml: { model: "gpt2", tokens: ["a", "b"] } },
    },
    tensors: [{ name: "token_embd.weight", dimensions: [64, 2] }],
  };
}

describe("GGUF hyper-parameter checks", { timeout: 60_000 }, () => {
  it("a sound file passes, hybrid per-layer head counts included", () => {
    assert.equal(findGgufProblem(llama()), undefined);
    assert.equal(
      findGgufProblem({
        metadata: {
          general: { architecture: "jamba" },
          jamba: {
            block_count: 2,
            embedding_length: 64,
            feed_forward_length: 128,
            attention: { head_count: [0, 4], head_count_kv: [0, 2] },
          },
          tokenizer: { ggml: { model: "gpt2", tokens: ["a"] } },
        },
      }),
      undefined,
    );
    const mamba = { general: { architecture: "mamba" }, mamba: { block_count: 2, embedding_length: 64 } };
    assert.equal(
      findGgufProblem({ metadata: { ...mamba, tokenizer: { ggml: { tokens: ["a"] } } } }),
      undefined,
    );
  });

  const bad: Array<[string, ReturnType<typeof llama>, RegExp]> = [
    ["no architecture", llama({}, { architecture: "" }), /^general\.architecture = ""/],
    [
      "0 heads",
      llama({ attention: { head_count: 0 } }),
      /^llama\.attention\.head_count = 0: .*at least one head/,
    ],
    ["0 KV heads", llama({ attention: { head_count: 4, head_count_kv: 0 } }), /head_count_kv = 0: layer 0/],
    ["KV heads not dividing", llama({ attention: { head_count: 4, head_count_kv: 3 } }), /head_count_kv = 3/],
    [
      "per-layer array of the wrong length",
      llama({ attention: { head_count: [4, 4, 4] } }),
      /has 3 entries for 2 layers/,
    ],
    ["0 layers", llama({ block_count: 0 }), /^llama\.block_count = 0: .*1\.\.512/],
    ["too many layers", llama({ block_count: 513 }), /^llama\.block_count = 513/],
    ["no hidden size", llama({ embedding_length: undefined }), /^llama\.embedding_length = undefined/],
    ["hidden size not divisible", llama({ embedding_length: 66 }), /embedding_length 66 is not divisible/],
    ["0 feed-forward", llama({ feed_forward_length: 0 }), /^llama\.feed_forward_length = 0/],
    [
      "missing feed-forward",
      llama({ feed_forward_length: undefined }),
      /feed_forward_length = undefined: required/,
    ],
    [
      "rope dims not the head size",
      llama({ rope: { dimension_count: 8 } }),
      /rope\.dimension_count = 8: must equal the head size 16/,
    ],
    ["0 key length", llama({ attention: { head_count: 4, key_length: 0 } }), /key_length = 0/],
    [
      "experts without used",
      llama({ expert_count: 8 }),
      /expert_used_count = undefined: must be between 1 and expert_count \(8\)/,
    ],
    [
      "used without experts",
      llama({ expert_used_count: 2 }),
      /expert_used_count = 2: must be 0 without experts/,
    ],
    ["too many experts", llama({ expert_count: 1000, expert_used_count: 2 }), /expert_count = 1000/],
    ["0 vocab size", llama({ vocab_size: 0 }), /^llama\.vocab_size = 0/],
  ];
  for (const [label, facts, re] of bad) {
    it(`refuses: ${label}`, () => {
      const p = findGgufProblem(facts);
      assert.ok(p, "no problem found");
      assert.match(p.message, re);
    });
  }

  it("refuses an empty vocabulary and a tensor dimension of 0", () => {
    const noTokens = llama();
    (noTokens.metadata.tokenizer.ggml as { tokens: string[] }).tokens = [];
    assert.match(findGgufProblem(noTokens)!.message, /tokenizer\.ggml\.tokens .*must not be empty/);
    const zeroDim = llama();
    zeroDim.tensors = [{ name: "blk.0.attn_q.weight", dimensions: [64, 0] }];
    assert.match(findGgufProblem(zeroDim)!.message, /tensor blk\.0\.attn_q\.weight has dimensions \[64, 0\]/);
  });

  describe("on a real file", () => {
    let dir = "";
    let cleanup = async () => {};
    let good = "";
    before(async () => {
      ({ dir, cleanup } = await tempDir());
      good = await writeTinyGguf(dir, "good.gguf", { contextLength: 64 });
    });
    after(() => cleanup());

    it("passes the file the writer wrote; names the file and key once a head count is 0", async () => {
      await validateGgufFile(good);
      await patchGgufU32(good, { "llama.attention.head_count": 0 });
      await assert.rejects(
        validateGgufFile(good),
        (e: unknown) =>
          e instanceof EngineError &&
          e.message.startsWith(`${good}: llama.attention.head_count = 0:`) &&
          /llama\.cpp cannot load this model/.test(e.message),
      );
    });

    it("a file that is not a GGUF is an EngineError naming it", async () => {
      const junk = join(dir, "tokenizer.json");
      await assert.rejects(
        validateGgufFile(junk),
        (e: unknown) => e instanceof EngineError && e.message.startsWith(`${junk}: not a readable GGUF file`),
      );
    });
  });
});
