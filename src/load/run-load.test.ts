import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DatasetRequest } from "../dataset/types.ts";
import { slotIdleNs } from "../metrics/request-metrics.ts";
import { arrivalOffsetsNs } from "./arrivals.ts";
import { FakeEngine } from "./fake-engine.ts";
import { runOffline } from "./offline.ts";
import { runLoad } from "./run-load.ts";

function dataset(n: number, outputTokens: number): DatasetRequest[] {
  return Array.from({ length: n }, (_, i) => ({
    taskId: i,
    inputIds: new Int32Array([1, 2, 3]),
    prompt: undefined,
    outputTokens,
    line: i + 1,
    loraRequest: undefined,
  }));
}

const base = { streaming: true, eosId: undefined, keepOutputIds: false, warnOnLag: false };

/** `n` requests sharing one object: a million-request dataset without a million allocations. */
function bigDataset(n: number, outputTokens: number): DatasetRequest[] {
  const one = dataset(1, outputTokens)[0]!;
  return new Array<DatasetRequest>(n).fill(one);
}

describe("runLoad", { timeout: 60_000 }, () => {
  it("offline: every request is due at t0 and all are in flight together", async () => {
    const engine = new FakeEngine({ stepMs: 2 });
    const { records, summary } = await runOffline(engine, dataset(6, 3), { ...base, concurrency: -1 });
    assert.equal(records.length, 6);
    assert.equal(engine.maxInFlight, 6);
    assert.equal(new Set(records.map((r) => r.scheduledNs)).size, 1);
    assert.equal(summary.shape, "offline");
    assert.equal(summary.completed, 6);
    assert.equal(summary.notIssued, 0);
    for (const r of records) assert.equal(r.numOutputTokens, 3);
  });

  it("rate load: due times follow the seeded schedule; the cap is never exceeded; nothing is sent early", async () => {
    const engine = new FakeEngine({ stepMs: 5 });
    const rate = { rate: 400, burstiness: 0.5, seed: 9 };
    const n = 40;
    const { records, summary } = await runLoad(engine, dataset(n, 4), { rate, concurrency: 3 }, base);
    assert.equal(records.length, n);
    assert.equal(engine.maxInFlight, 3, "the cap is reached but never exceeded");
    const offsets = arrivalOffsetsNs(n, rate);
    const t0 = records[0]!.scheduledNs - offsets[0]!;
    for (const [i, r] of records.entries()) {
      assert.equal(r.scheduledNs, t0 + offsets[i]!, `request ${i} due at its scheduled offset`);
      assert.ok(r.startNs >= r.scheduledNs, `request ${i} sent before it was due`);
    }
    // 40 requests × 4 steps × 5 ms over 3 slots is far slower than 400 req/s: most requests queue.
    assert.ok(records.some((r) => r.startNs - r.scheduledNs > 20e6));
    assert.equal(summary.shape, "rate");
    assert.equal(summary.requestRate, 400);
  });

  it("closed loop: a request that waited for a slot records the end of the request that freed it", async () => {
    const engine = new FakeEngine({ stepMs: 2 });
    const { records } = await runOffline(engine, dataset(9, 3), { ...base, concurrency: 3 });
    assert.equal(records.length, 9);
    const ends = new Set(records.map((r) => r.endNs));
    for (const [i, r] of records.entries()) {
      if (i < 3) {
        assert.equal(r.slotFreedNs, undefined, `request ${i} found a slot free`);
        continue;
      }
      assert.ok(r.slotFreedNs !== undefined, `request ${i} waited for a slot`);
      assert.ok(ends.has(r.slotFreedNs), `request ${i}: the slot was freed at another request's end`);
      assert.ok(r.slotFreedNs <= r.startNs, `request ${i} sent before its slot was freed`);
      const idle = slotIdleNs(r)!;
      assert.ok(idle >= 0 && idle < 1e9, `request ${i}: slot idle ${idle} ns`);
    }
    // Each freed slot is handed to exactly one request.
    const freed = records.flatMap((r) => (r.slotFreedNs === undefined ? [] : [r.slotFreedNs]));
    assert.equal(new Set(freed).size, freed.length);
  });

  it("open loop without a cap: no request waits for a slot", async () => {
    const engine = new FakeEngine({ stepMs: 1 });
    const { records } = await runOffline(engine, dataset(5, 2), { ...base, concurrency: -1 });
    for (const r of records) assert.equal(r.slotFreedNs, undefined);
  });

  it("a low rate paces the sends: mean gap between sends ≈ 1/rate", async () => {
    const engine = new FakeEngine({ stepMs: 1 });
    const n = 30;
    const { records } = await runLoad(
      engine,
      dataset(n, 1),
      { rate: { rate: 100, burstiness: 1, seed: 5 }, concurrency: -1 },
      base,
    );
    const span = (records[n - 1]!.startNs - records[0]!.startNs) / 1e9;
    const offsets = arrivalOffsetsNs(n, { rate: 100, burstiness: 1, seed: 5 });
    const expected = (offsets[n - 1]! - offsets[0]!) / 1e9;
    // Sends are never early and, with an absolute schedule, late only by timer jitter (no accumulated drift).
    assert.ok(Math.abs(span - expected) < 0.25, `span ${span}, schedule ${expected}`);
    for (const r of records) {
      assert.ok(r.startNs >= r.scheduledNs);
      assert.ok(r.startNs - r.scheduledNs < 0.25e9);
    }
  });

  it("the duration bound stops issuing; requests already sent finish", async () => {
    const engine = new FakeEngine({ stepMs: 1 });
    const rate = { rate: 200, burstiness: 1, seed: 2 };
    const { records, summary } = await runLoad(
      engine,
      dataset(1000, 2),
      { rate, concurrency: -1, durationS: 0.15 },
      base,
    );
    assert.ok(summary.durationReached);
    assert.ok(summary.notIssued > 900, `not issued ${summary.notIssued}`);
    assert.equal(summary.issued + summary.notIssued, 1000);
    assert.equal(records.length, summary.issued);
    const offsets = arrivalOffsetsNs(1000, rate);
    const t0 = records[0]!.scheduledNs - offsets[0]!;
    for (const r of records) {
      assert.ok(r.startNs < t0 + 0.15e9 + 2e6, "no request sent after the bound");
      assert.equal(r.error, undefined);
    }
  });

  it("aborting stops issuing, cancels requests in flight and keeps only finished ones", async () => {
    const engine = new FakeEngine({ stepMs: 10 });
    const ac = new AbortController();
    // Two slots; each request takes 5 × 10 ms: after 120 ms about four have finished.
    setTimeout(() => ac.abort(), 120);
    const { records, summary } = await runLoad(
      engine,
      dataset(20, 5),
      { concurrency: 2 },
      {
        ...base,
        signal: ac.signal,
      },
    );
    assert.ok(summary.interrupted);
    assert.equal(summary.cancelled, 2);
    assert.ok(records.length <= 6, `finished ${records.length}`);
    assert.equal(summary.completed, records.length);
    assert.equal(summary.issued, records.length + summary.cancelled);
    assert.equal(summary.notIssued, 20 - summary.issued);
    assert.equal(engine.started, summary.issued, "nothing was sent after the abort");
    for (const r of records) {
      assert.equal(r.error, undefined);
      assert.equal(r.numOutputTokens, 5);
    }
  });

  it("an abort during the wait for the next arrival ends the run at once", async () => {
    const engine = new FakeEngine();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    const t = Date.now();
    const { summary } = await runLoad(
      engine,
      dataset(10, 1),
      { rate: { rate: 0.1, burstiness: 1, seed: 0 }, concurrency: -1 },
      { ...base, signal: ac.signal },
    );
    assert.ok(Date.now() - t < 1000);
    assert.equal(summary.issued, 0);
    assert.equal(summary.notIssued, 10);
  });

  it("records every chunk's arrival time when asked, and none otherwise", async () => {
    const engine = new FakeEngine({ stepMs: 1 });
    const withChunks = await runOffline(engine, dataset(2, 4), {
      ...base,
      concurrency: -1,
      keepChunkTimes: true,
    });
    for (const r of withChunks.records) {
      assert.equal(r.chunkTimesNs?.length, 4);
      assert.equal(r.chunkTimesNs[0], r.firstTokenNs);
      for (let i = 1; i < 4; i++) assert.ok(r.chunkTimesNs[i]! >= r.chunkTimesNs[i - 1]!);
    }
    const without = await runOffline(engine, dataset(2, 4), { ...base, concurrency: -1 });
    for (const r of without.records) assert.equal(r.chunkTimesNs, undefined);
  });

  // Before lazy submission, each of these queued one waiter per request up front and woke them one by one
  // when the run ended (minutes for a million): the test timeout is the bound.
  it("1M requests offline under a cap: the duration bound ends the run at once", {
    timeout: 30_000,
  }, async () => {
    const engine = new FakeEngine({ stepMs: 1 });
    const n = 1_000_000;
    const { records, summary } = await runLoad(
      engine,
      bigDataset(n, 2),
      { concurrency: 8, durationS: 0.2 },
      base,
    );
    assert.ok(summary.durationReached);
    assert.ok(!summary.interrupted);
    assert.equal(summary.issued + summary.notIssued, n);
    assert.ok(summary.issued < n / 10, `issued ${summary.issued}`);
    assert.equal(records.length, summary.issued);
    assert.equal(engine.started, summary.issued);
    assert.ok(engine.maxInFlight <= 8);
  });

  it("1M requests offline under a cap: an abort ends the run at once", { timeout: 30_000 }, async () => {
    const engine = new FakeEngine({ stepMs: 5 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const n = 1_000_000;
    const { records, summary } = await runOffline(engine, bigDataset(n, 100), {
      ...base,
      concurrency: 4,
      signal: ac.signal,
    });
    assert.ok(summary.interrupted);
    assert.equal(summary.cancelled, 4, "the four in flight are cancelled");
    assert.equal(records.length, 0);
    assert.equal(summary.issued, 4);
    assert.equal(summary.notIssued, n - 4);
  });

  it("unlimited offline load still lets timers and signals run while it submits", {
    timeout: 30_000,
  }, async () => {
    const engine = new FakeEngine({ stepMs: 1 });
    const ac = new AbortController();
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 0);
    // Aborted from a timer: it can only fire if the submission loop yields to the event loop.
    setTimeout(() => ac.abort(), 0);
    try {
      const { summary } = await runOffline(engine, bigDataset(200_000, 1_000), {
        ...base,
        concurrency: -1,
        signal: ac.signal,
      });
      assert.ok(summary.interrupted);
      assert.ok(summary.notIssued > 0, "the abort stopped the submission before the end of the dataset");
      assert.ok(ticks > 0);
    } finally {
      clearInterval(ticker);
    }
  });

  it("an engine that throws stops the submission; the error reaches the caller", async () => {
    const engine = new FakeEngine({ stepMs: 2 });
    const generate = engine.generate.bind(engine);
    let calls = 0;
    engine.generate = (req, sink, signal) => {
      calls++;
      if (calls === 5) return Promise.reject(new Error("engine exploded"));
      return generate(req, sink, signal);
    };
    await assert.rejects(
      runOffline(engine, dataset(1000, 3), { ...base, concurrency: 2 }),
      /engine exploded/,
    );
    assert.ok(calls < 10, `sent ${calls} requests after the failure`);
  });
});
