import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { OutputError, UsageError } from "../errors.ts";
import { checkOutputPaths, writingOutput } from "./output-paths.ts";

describe("checkOutputPaths", { timeout: 10_000 }, () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "llm-bench-outputs-"));
    await writeFile(join(dir, "file"), "x");
    await mkdir(join(dir, "sub"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const usage = (re: RegExp) => (e: unknown) =>
    e instanceof UsageError && e.exitCode === 2 && re.test(e.message);

  it("accepts new files, existing files and folders still to be created, and creates nothing", async () => {
    await checkOutputPaths([
      { flag: "--a", path: join(dir, "new.json") },
      { flag: "--b", path: join(dir, "file") },
      { flag: "--c", path: join(dir, "x", "y", "z.json") },
      { flag: "--d", path: join(dir, "sub"), kind: "dir" },
      { flag: "--e", path: join(dir, "newdir"), kind: "dir" },
      { flag: "--f", path: undefined },
    ]);
    assert.deepEqual((await readdir(dir)).sort(), ["file", "sub"]);
    assert.deepEqual(await readdir(join(dir, "sub")), [], "the probe file is removed");
  });

  it("names the flag and path of every kind of unwritable output", async () => {
    const underFile = join(dir, "file", "r.json");
    await assert.rejects(
      checkOutputPaths([{ flag: "--report_json", path: underFile }]),
      usage(new RegExp(`^--report_json ${underFile}: ${join(dir, "file")} is not a directory`)),
    );
    await assert.rejects(
      checkOutputPaths([{ flag: "--request_log", path: join(dir, "file", "deep", "r.jsonl") }]),
      usage(/^--request_log .*is not a directory/),
    );
    await assert.rejects(
      checkOutputPaths([{ flag: "--output_json", path: join(dir, "sub") }]),
      usage(/^--output_json .*sub is a directory$/),
    );
    await assert.rejects(
      checkOutputPaths([{ flag: "--output_dir", path: join(dir, "file"), kind: "dir" }]),
      usage(/^--output_dir .*file exists and is not a directory$/),
    );
    await assert.rejects(
      checkOutputPaths([{ flag: "--report_json", path: "/dev/null" }]),
      usage(/^--report_json \/dev\/null exists and is not a regular file/),
    );
    await assert.rejects(
      checkOutputPaths([{ flag: "--html", path: "" }]),
      usage(/^--html: the path is empty$/),
    );
  });

  it("refuses two outputs on one path, and an output over an input", async () => {
    const p = join(dir, "same.json");
    await assert.rejects(
      checkOutputPaths([
        { flag: "--report_json", path: p },
        { flag: "--request_json", path: join(dir, ".", "same.json") },
      ]),
      usage(/^--request_json .* is also the --report_json path/),
    );
    await assert.rejects(
      checkOutputPaths(
        [{ flag: "--output_json", path: join(dir, "file") }],
        [{ flag: "--dataset", path: join(dir, "file") }],
      ),
      usage(/^--output_json .* is also the --dataset path/),
    );
  });

  // sysfs refuses new files even to root: a folder that is there but not writable, on any Linux.
  it("a folder that refuses new files, and one that refuses new folders", {
    skip: !existsSync("/sys/kernel"),
  }, async () => {
    await assert.rejects(
      checkOutputPaths([{ flag: "--report_json", path: "/sys/kernel/r.json" }]),
      usage(/^--report_json \/sys\/kernel\/r\.json: cannot create files in \/sys\/kernel \(E/),
    );
    await assert.rejects(
      checkOutputPaths([{ flag: "--output_dir", path: "/sys/kernel/new/deeper", kind: "dir" }]),
      usage(
        /^--output_dir .*: cannot create \/sys\/kernel\/new\/deeper \(\/sys\/kernel refuses new entries: E/,
      ),
    );
  });

  it("writingOutput turns a late file-system failure into an OutputError naming the flag", async () => {
    await assert.rejects(
      writingOutput("--report_json", "/x/r.json", async () => {
        throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
      }),
      (e: unknown) =>
        e instanceof OutputError && /^cannot write --report_json \/x\/r\.json: ENOSPC/.test(e.message),
    );
    await assert.rejects(
      writingOutput("--report_json", "/x", async () => {
        throw new TypeError("a bug");
      }),
      TypeError,
    );
  });
});
