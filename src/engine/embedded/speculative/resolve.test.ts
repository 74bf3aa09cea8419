import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError, UsageError } from "../../../errors.ts";
import { setLogSink } from "../../../util/log.ts";
import { resolveDraftGguf, resolveSpeculation } from "./resolve.ts";

let dir: string;
let gguf: string;
let logs: string[];
let restore: ReturnType<typeof setLogSink>;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "llmb-latency-"));
  gguf = join(dir, "draft.gguf");
  await writeFile(gguf, "");
  logs = [];
  restore = setLogSink((l) => logs.push(l));
});
after(async () => {
  setLogSink(restore);
  await rm(dir, { recursive: true, force: true });
});

describe("resolveSpeculation", () => {
  it("is off by default, and draft mode is implied by a draft engine", async () => {
    assert.equal(await resolveSpeculation(), undefined);
    assert.equal(await resolveSpeculation({ mode: "none" }), undefined);
    assert.deepEqual(await resolveSpeculation({ draftEngineDir: gguf }), {
      mode: "draft",
      maxDraftLen: 4,
      ngramSize: 3,
      draftGgufPath: gguf,
      medusaTree: undefined,
    });
  });

  it("takes n-gram settings", async () => {
    const c = await resolveSpeculation({ mode: "ngram", maxDraftLen: 6, ngramSize: 2 });
    assert.equal(c?.mode, "ngram");
    assert.equal(c?.maxDraftLen, 6);
    assert.equal(c?.ngramSize, 2);
    assert.equal(c?.draftGgufPath, undefined);
  });

  it("refuses inconsistent combinations", async () => {
    await assert.rejects(
      resolveSpeculation({ mode: "draft" }),
      /--speculative draft needs --draft_engine_dir/,
    );
    await assert.rejects(
      resolveSpeculation({ mode: "ngram", draftEngineDir: gguf }),
      (e: unknown) => e instanceof UsageError && /needs --speculative draft/.test(e.message),
    );
    await assert.rejects(
      resolveSpeculation({ medusaChoices: join(dir, "x.yaml") }),
      /--medusa_choices needs speculative decoding/,
    );
    await assert.rejects(resolveSpeculation({ draftEngineDir: join(dir, "missing") }), /does not exist/);
    await assert.rejects(resolveDraftGguf(join(dir)), (e: unknown) => e instanceof ConfigError);
  });

  it("a medusa_choices tree sets the draft length to its depth", async () => {
    const file = join(dir, "tree.yaml");
    await writeFile(file, "- [0]\n- [1]\n- [0, 0]\n- [0, 0, 0]\n");
    logs.length = 0;
    const c = await resolveSpeculation({ mode: "ngram", maxDraftLen: 5, medusaChoices: file });
    assert.equal(c?.maxDraftLen, 3);
    assert.deepEqual(c?.medusaTree?.widthPerDepth, [2, 1, 1]);
    assert.ok(logs.some((l) => /--max_draft_len 5 is replaced by the medusa_choices tree's depth 3/.test(l)));
    assert.ok(logs.some((l) => /verifies one chain of 3 drafts per step/.test(l)));
  });

  it("names the file and line of a bad tree", async () => {
    const file = join(dir, "bad.yaml");
    await writeFile(file, "- [0]\n- [0, -2]\n");
    await assert.rejects(
      resolveSpeculation({ mode: "ngram", medusaChoices: file }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message === `${file}: line 2: entry 2: index -2 is not a non-negative integer`,
    );
  });
});
