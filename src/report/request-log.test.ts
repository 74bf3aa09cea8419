import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DatasetError, UsageError } from "../errors.ts";
import type { RequestRecord } from "../metrics/record.ts";
import {
  locateRequestLog,
  readRequestLog,
  requestLogFormat,
  requestLogRef,
  splitCsvLine,
  toLogEntry,
  writeRequestLog,
} from "./request-log.ts";

const T0 = 5_000_000_000;
const records: RequestRecord[] = [
  {
    id: "7",
    numInputTokens: 32,
    numOutputTokens: 5,
    requestedOutputTokens: 5,
    scheduledNs: T0 + 100,
    startNs: T0 + 300,
    sentNs: T0 + 320,
    firstByteNs: T0 + 1200,
    firstTokenNs: T0 + 1300,
    endNs: T0 + 5300,
    decodeIterations: 5,
    error: undefined,
  },
  {
    id: 'a,"b"',
    numInputTokens: 8,
    numOutputTokens: 0,
    requestedOutputTokens: 4,
    scheduledNs: T0,
    startNs: T0 + 50,
    firstTokenNs: -1,
    endNs: T0 + 60,
    decodeIterations: 0,
    error: 'bad, "very"\nbad',
  },
];

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "llmb-reqlog-"));
});
after(() => rm(dir, { recursive: true, force: true }));

describe("request log entries", () => {
  it("puts every time relative to the earliest scheduled time and derives the durations", () => {
    const e = toLogEntry(records[0]!, T0);
    assert.deepEqual(e, {
      id: "7",
      scheduled_ns: 100,
      start_ns: 300,
      sent_ns: 320,
      first_byte_ns: 1200,
      first_token_ns: 1300,
      end_ns: 5300,
      input_tokens: 32,
      output_tokens: 5,
      requested_output_tokens: 5,
      decode_iterations: 5,
      queue_ns: 200,
      ttft_ns: 1000,
      tpot_ns: 1000, // (5300 − 1300) / 4
      e2e_ns: 5000,
      error: null,
    });
    const f = toLogEntry(records[1]!, T0);
    assert.equal(f.sent_ns, null);
    assert.equal(f.first_byte_ns, null);
    assert.equal(f.first_token_ns, null);
    assert.equal(f.ttft_ns, null);
    assert.equal(f.tpot_ns, null);
  });
  it("picks the format from the extension", () => {
    assert.equal(requestLogFormat("x/r.JSONL"), "jsonl");
    assert.equal(requestLogFormat("r.csv"), "csv");
    assert.throws(() => requestLogFormat("r.json"), UsageError);
  });
});

describe("request log files", () => {
  for (const ext of ["jsonl", "csv"]) {
    it(`round-trips through ${ext}, quotes and all`, async () => {
      const path = join(dir, `r.${ext}`);
      await writeRequestLog(path, records);
      const back = await readRequestLog(path);
      assert.deepEqual(back, [
        toLogEntry(records[0]!, T0),
        // CSV keeps one record per line: the newline inside the message becomes a space.
        { ...toLogEntry(records[1]!, T0), error: ext === "csv" ? 'bad, "very" bad' : 'bad, "very"\nbad' },
      ]);
    });
  }
  it("writes the CSV header and RFC 4180 quoting", async () => {
    const path = join(dir, "q.csv");
    await writeRequestLog(path, records);
    const lines = (await readFile(path, "utf8")).split("\n");
    assert.match(lines[0]!, /^id,scheduled_ns,start_ns,sent_ns,first_byte_ns,first_token_ns,end_ns,/);
    assert.equal(lines[2], '"a,""b""",0,50,,,,60,8,0,4,0,50,,,10,"bad, ""very"" bad"');
    assert.deepEqual(splitCsvLine('"a,""b""",,x'), ['a,"b"', "", "x"]);
  });
  it("reads logs written before sent_ns and first_byte_ns existed", async () => {
    const path = join(dir, "old.jsonl");
    const { sent_ns: _s, first_byte_ns: _f, ...old } = toLogEntry(records[0]!, T0);
    await writeFile(path, `${JSON.stringify(old)}\n`);
    const [back] = await readRequestLog(path);
    assert.deepEqual(back, { ...toLogEntry(records[0]!, T0), sent_ns: null, first_byte_ns: null });
  });
  it("names the file, line and field of a bad row", async () => {
    const path = join(dir, "bad.jsonl");
    const good = JSON.stringify(toLogEntry(records[0]!, T0));
    await writeFile(path, `${good}\n${good.replace('"end_ns":5300', '"end_ns":"late"')}\n`);
    await assert.rejects(readRequestLog(path), (e: unknown) => {
      assert.ok(e instanceof DatasetError);
      assert.deepEqual(
        e.issues.map((i) => [i.line, i.field]),
        [[2, "end_ns"]],
      );
      assert.equal(e.issues[0]!.file, path);
      return true;
    });
    const csv = join(dir, "bad.csv");
    await writeFile(csv, "id,start_ns\n1,2,3\n");
    await assert.rejects(readRequestLog(csv), /bad\.csv:2: \(line\): 3 cells, the header has 2/);
  });
  it("is recorded relative to the report JSON and found again when both move", async () => {
    assert.equal(requestLogRef(join(dir, "r.jsonl"), join(dir, "run.json")), "r.jsonl");
    assert.equal(requestLogRef("/elsewhere/r.jsonl", join(dir, "run.json")), "/elsewhere/r.jsonl");
    assert.equal(requestLogRef("/elsewhere/r.jsonl", undefined), "/elsewhere/r.jsonl");
    await writeRequestLog(join(dir, "moved.jsonl"), records);
    assert.equal(await locateRequestLog(join(dir, "run.json"), "moved.jsonl"), join(dir, "moved.jsonl"));
    // An absolute path that no longer exists: the same name next to the JSON.
    assert.equal(
      await locateRequestLog(join(dir, "run.json"), "/gone/moved.jsonl"),
      join(dir, "moved.jsonl"),
    );
    assert.equal(await locateRequestLog(join(dir, "run.json"), "/gone/none.jsonl"), undefined);
    assert.equal(await locateRequestLog(join(dir, "run.json"), undefined), undefined);
  });
});
