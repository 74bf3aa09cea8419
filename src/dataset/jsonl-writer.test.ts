import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileSink, JsonlWriter, joinLoraPath, loraRequestFor, memorySink } from "./jsonl-writer.ts";

describe("JsonlWriter", () => {
  it("writes ids lines exactly as json.dumps(separators=(',', ':'))", async () => {
    const sink = memorySink();
    const w = new JsonlWriter(sink, 64); // tiny chunks: lines span flushes and oversize lines get their own
    const ids = Int32Array.from([0, 7, 10, 99, 100, 12345, 128000, 999999999, 2147483647]);
    await w.writeIds(0, ids, ids.length, 128);
    await w.writeIds(1, ids, 1, 5, loraRequestFor("/a", 3));
    await w.writeIds(2, ids, 0, 1);
    await w.close();
    assert.equal(
      sink.text(),
      '{"task_id":0,"input_ids":[0,7,10,99,100,12345,128000,999999999,2147483647],"output_tokens":128}\n' +
        '{"task_id":1,"input_ids":[0],"output_tokens":5,"lora_request":{"lora_name":"lora_3","lora_int_id":3,"lora_path":"/a/3"}}\n' +
        '{"task_id":2,"input_ids":[],"output_tokens":1}\n',
    );
    assert.equal(w.lines, 3);
    assert.equal(w.bytes, Buffer.byteLength(sink.text()));
  });

  it("prompt lines escape like Python's json with ensure_ascii=False", async () => {
    const sink = memorySink();
    const w = new JsonlWriter(sink);
    await w.writePrompt(4, 'a "q" \\ \n\t\u0001 é 日本', 9);
    await w.close();
    assert.equal(
      sink.text(),
      '{"task_id":4,"prompt":"a \\"q\\" \\\\ \\n\\t\\u0001 é 日本","output_tokens":9}\n',
    );
  });

  it("os.path.join semantics for lora_path", () => {
    assert.equal(joinLoraPath("loras", "5"), "loras/5");
    assert.equal(joinLoraPath("loras/", "5"), "loras/5");
    assert.equal(joinLoraPath("", "5"), "5");
  });

  it("file sink: nothing under the final name until close; abort leaves nothing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "jsonl-"));
    try {
      const path = join(dir, "out.jsonl");
      const w = new JsonlWriter(await fileSink(path));
      await w.writeIds(0, Int32Array.from([1, 2]), 2, 3);
      await w.flush();
      assert.deepEqual((await readdir(dir)).includes("out.jsonl"), false);
      await w.close();
      assert.equal(await readFile(path, "utf8"), '{"task_id":0,"input_ids":[1,2],"output_tokens":3}\n');
      const w2 = new JsonlWriter(await fileSink(join(dir, "gone.jsonl")));
      await w2.writeIds(0, Int32Array.from([1]), 1, 1);
      await w2.abort();
      assert.deepEqual(await readdir(dir), ["out.jsonl"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
