import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SchedRequest, Scheduler, type SchedulerConfig } from "./scheduler.ts";

/** Deterministic LCG so workloads are reproducible. */
function rng(seed: number) {
  let s = seed >>> 0;
  return (lo: number, hi: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + (s % (hi - lo + 1));
  };
}

interface SimResult {
  steps: number;
  maxKv: number;
  admissionOrder: number[];
  firstTokenStep: Map<number, number>;
  preemptions: number;
}

/** Runs the scheduler to completion against a fake executor, checking the invariants at every step. */
function simulate(config: SchedulerConfig, reqs: Array<[number, number]>, arriveEvery = 0): SimResult {
  const s = new Scheduler(config);
  const all = reqs.map(([isl, osl], i) => new SchedRequest(i, isl, osl));
  let next = 0;
  const admissionOrder: number[] = [];
  const firstTokenStep = new Map<number, number>();
  let steps = 0;
  let maxKv = 0;
  const slotOwner = new Map<number, number>();
  while (next < all.length || !s.idle) {
    // Arrivals: all at once (offline) or one every `arriveEvery` steps.
    if (arriveEvery === 0) while (next < all.length) s.enqueue(all[next++]!);
    else if (steps % arriveEvery === 0 && next < all.length) s.enqueue(all[next++]!);
    const plan = s.plan();
    for (const [from, to] of plan.moves) {
      assert.ok(config.compactSlots, "moves only when compacting");
      const owner = slotOwner.get(from);
      assert.ok(owner !== undefined, `move from empty slot ${from}`);
      assert.ok(!slotOwner.has(to), `move into held slot ${to}`);
      assert.ok(to < from, "moves go down");
      slotOwner.delete(from);
      slotOwner.set(to, owner);
    }
    for (const slot of plan.clearSlots) slotOwner.delete(slot);
    for (const a of plan.admitted) {
      if (a.preemptions === 0) admissionOrder.push(a.seq);
      assert.ok(!slotOwner.has(a.slot), `slot ${a.slot} handed out twice`);
      slotOwner.set(a.slot, a.seq);
    }
    for (const r of s.runningRequests())
      assert.equal(slotOwner.get(r.slot), r.seq, "the scheduler's slots are the KV's");
    if (config.compactSlots) {
      // Preempted slots free at the end of plan(); they are closed at the next one.
      const n = s.numRunning;
      for (const r of s.runningRequests())
        assert.ok(r.slot < n + plan.preempted.length, `slot ${r.slot} leaves a gap`);
    }
    // Invariants of one step.
    assert.ok(s.numRunning <= config.maxBatchSize, "more running requests than max_batch_size");
    assert.ok(plan.items.length <= config.maxBatchSize);
    const tokens = plan.items.reduce((n, it) => n + it.count, 0);
    assert.equal(tokens, plan.prefillTokens + plan.decodeTokens);
    assert.ok(tokens <= config.maxNumTokens, `step feeds ${tokens} > max_num_tokens ${config.maxNumTokens}`);
    for (let i = 1; i < plan.items.length; i++) {
      assert.ok(plan.items[i - 1]!.req.slot < plan.items[i]!.req.slot, "batch items in sequence-id order");
    }
    for (const it of plan.items) {
      assert.ok(it.req.slot >= 0, "item without a KV slot");
      assert.equal(it.from, it.req.computed);
      if (!config.chunkedContext && it.count > 1)
        assert.equal(it.count, it.req.pending, "prompt split without chunking");
    }
    s.commit(plan);
    for (const it of plan.items) {
      if (it.sample && it.req.generated === 1 && !firstTokenStep.has(it.req.seq))
        firstTokenStep.set(it.req.seq, steps);
    }
    const kv = s.kvUsed;
    maxKv = Math.max(maxKv, kv);
    assert.ok(kv <= config.kvCacheTokens, `KV used ${kv} > budget ${config.kvCacheTokens}`);
    for (const r of [...s.runningRequests()]) {
      assert.ok(r.computed <= config.maxSeqLen);
      if (r.done) {
        slotOwner.delete(s.release(r));
      }
    }
    steps++;
    assert.ok(steps < 1_000_000, "no progress");
  }
  for (const r of all) assert.equal(r.generated, r.outputTokens, `request ${r.seq}: exact OSL`);
  return { steps, maxKv, admissionOrder, firstTokenStep, preemptions: s.totalPreemptions };
}

const base: SchedulerConfig = {
  maxBatchSize: 8,
  maxNumTokens: 64,
  kvCacheTokens: 4096,
  maxSeqLen: 512,
  policy: "guaranteed_no_evict",
  chunkedContext: true,
};

describe("Scheduler", () => {
  it("a refill in a freed low slot goes first in the batch: llama.cpp's micro-batches need ids in order", () => {
    const s = new Scheduler({ ...base, maxBatchSize: 3 });
    const [a, b, c, d] = [0, 1, 2, 3].map((i) => new SchedRequest(i, 4, i === 0 ? 1 : 6));
    for (const r of [a, b, c, d]) s.enqueue(r!);
    let p = s.plan();
    assert.deepEqual(
      p.items.map((i) => [i.req.seq, i.req.slot]),
      [
        [0, 0],
        [1, 1],
        [2, 2],
      ],
    );
    s.commit(p);
    assert.ok(a!.done);
    s.release(a!);
    p = s.plan();
    // D arrived last but holds slot 0, which A freed: it leads the batch, then B and C decode.
    assert.deepEqual(
      p.items.map((i) => [i.req.seq, i.req.slot, i.count]),
      [
        [3, 0, 4],
        [1, 1, 1],
        [2, 2, 1],
      ],
    );
  });

  it("compaction: a gap nobody is admitted into is closed by moving the highest running sequence down", () => {
    const s = new Scheduler({ ...base, maxBatchSize: 4, compactSlots: true });
    const [a, b, c] = [0, 1, 2].map((i) => new SchedRequest(i, 4, i === 1 ? 1 : 5));
    for (const r of [a, b, c]) s.enqueue(r!);
    let p = s.plan();
    assert.deepEqual(p.moves, []);
    s.commit(p);
    s.release(b!);
    p = s.plan();
    // C (slot 2, 4 cells cached) moves into B's slot 1; nothing was waiting to take it.
    assert.deepEqual(p.moves, [[2, 1]]);
    assert.equal(c!.slot, 1);
    assert.deepEqual(
      p.items.map((i) => [i.req.seq, i.req.slot]),
      [
        [0, 0],
        [2, 1],
      ],
    );
    assert.equal(s.totalMoves, 1);
    s.commit(p);
    // A request that arrives now takes slot 2, after the running ones: no move.
    const d = new SchedRequest(3, 4, 2);
    s.enqueue(d);
    p = s.plan();
    assert.deepEqual(p.moves, []);
    assert.equal(d.slot, 2);
    s.commit(p);
    // A finishes; D (slot 2) moves into slot 0.
    s.release(a!);
    p = s.plan();
    assert.deepEqual(p.moves, [[2, 0]]);
    assert.deepEqual(
      p.items.map((i) => [i.req.seq, i.req.slot]),
      [
        [3, 0],
        [2, 1],
      ],
    );
  });

  it("compaction: a running request with nothing cached yet takes the gap without a KV move", () => {
    const s = new Scheduler({
      ...base,
      maxBatchSize: 3,
      maxNumTokens: 4,
      chunkedContext: false,
      compactSlots: true,
    });
    const [a, b, c] = [0, 1, 2].map((i) => new SchedRequest(i, 4, 3));
    for (const r of [a, b, c]) s.enqueue(r!);
    let p = s.plan();
    // All three admitted (slots 0-2); only A's prompt fits this step.
    assert.deepEqual(
      p.items.map((i) => i.req.seq),
      [0],
    );
    s.commit(p);
    assert.equal(c!.computed, 0);
    s.release(b!);
    p = s.plan();
    assert.deepEqual(p.moves, []);
    assert.equal(c!.slot, 1);
    assert.equal(s.totalMoves, 0);
  });

  it("one request: prefill in one step, then one decode step per remaining token", () => {
    const r = simulate({ ...base, maxNumTokens: 64 }, [[10, 5]]);
    // step 0: 10 prompt tokens -> token 1; steps 1..4: decodes -> tokens 2..5
    assert.equal(r.steps, 5);
    assert.equal(r.maxKv, 10 + 5 - 1);
  });

  it("chunked context splits a long prompt over steps of max_num_tokens", () => {
    const r = simulate({ ...base, maxNumTokens: 16 }, [[40, 3]]);
    // 40 prompt tokens in chunks 16+16+8 (the last samples token 1), then 2 decodes.
    assert.equal(r.steps, 5);
    assert.equal(r.firstTokenStep.get(0), 2);
  });

  it("without chunked context a prompt waits for a step where it fits whole", () => {
    const s = new Scheduler({ ...base, maxNumTokens: 16, chunkedContext: false });
    assert.match(s.rejectReason(40, 3) ?? "", /exceeds max_num_tokens/);
    const r = simulate({ ...base, maxNumTokens: 16, chunkedContext: false, maxBatchSize: 2 }, [
      [10, 4],
      [12, 2],
    ]);
    // step 0: A's 10 tokens (B's 12 do not fit in the 6 left); step 1: A decode + B's 12.
    assert.equal(r.firstTokenStep.get(0), 0);
    assert.equal(r.firstTokenStep.get(1), 1);
  });

  it("strict FCFS without chunked context: a later, smaller prompt never overtakes the head", () => {
    for (const policy of ["guaranteed_no_evict", "max_utilization"] as const) {
      const s = new Scheduler({ ...base, policy, maxNumTokens: 16, chunkedContext: false, maxBatchSize: 3 });
      // A fills 6 of the 16 tokens; B (14) does not fit in the 10 left, C (2) would.
      const [a, b, c] = [new SchedRequest(0, 6, 8), new SchedRequest(1, 14, 2), new SchedRequest(2, 2, 2)];
      for (const r of [a, b, c]) s.enqueue(r);
      let p = s.plan();
      assert.equal(p.admitted.length, 3, policy);
      assert.deepEqual(
        p.items.map((i) => [i.req.seq, i.count]),
        [[0, 6]],
        `${policy}: C must wait behind B`,
      );
      s.commit(p);
      // A decodes (1) and B's 14 fit in 15; C's 2 do not fit in the 1 left, so it waits again.
      p = s.plan();
      assert.deepEqual(
        p.items.map((i) => [i.req.seq, i.count]),
        [
          [0, 1],
          [1, 14],
        ],
        policy,
      );
      s.commit(p);
      p = s.plan();
      assert.deepEqual(
        p.items.map((i) => [i.req.seq, i.count]),
        [
          [0, 1],
          [1, 1],
          [2, 2],
        ],
        policy,
      );
    }
    // On a mixed workload, first tokens come in arrival order: no prompt is prefilled before an earlier one.
    const gen = rng(11);
    const reqs: Array<[number, number]> = Array.from({ length: 50 }, () => [gen(1, 60), gen(1, 20)]);
    const r = simulate({ ...base, maxNumTokens: 64, chunkedContext: false, maxBatchSize: 6 }, reqs);
    for (let i = 1; i < reqs.length; i++)
      assert.ok(
        r.firstTokenStep.get(i)! >= r.firstTokenStep.get(i - 1)!,
        `request ${i} got its first token before request ${i - 1}`,
      );
  });

  it("decodes come first and prefill fills the rest of the token budget", () => {
    const s = new Scheduler({ ...base, maxNumTokens: 8 });
    const a = new SchedRequest(0, 4, 10);
    const b = new SchedRequest(1, 20, 10);
    s.enqueue(a);
    s.enqueue(b);
    let p = s.plan();
    assert.deepEqual(
      p.items.map((i) => [i.req.seq, i.count, i.sample]),
      [
        [0, 4, true],
        [1, 4, false],
      ],
    );
    s.commit(p);
    p = s.plan();
    assert.deepEqual(
      p.items.map((i) => [i.req.seq, i.count, i.sample]),
      [
        [0, 1, true],
        [1, 7, false],
      ],
    );
    assert.equal(p.decodeTokens, 1);
    assert.equal(p.prefillTokens, 7);
  });

  it("guaranteed_no_evict admits only what fits at full ISL+OSL, in FCFS order, and never preempts", () => {
    const cfg: SchedulerConfig = { ...base, kvCacheTokens: 300, maxBatchSize: 16, maxSeqLen: 300 };
    const s = new Scheduler(cfg);
    for (let i = 0; i < 5; i++) s.enqueue(new SchedRequest(i, 50, 50)); // 99 KV each
    const p = s.plan();
    assert.equal(p.admitted.length, 3); // 3 x 99 = 297 <= 300; a 4th would need 396
    const gen = rng(7);
    const reqs: Array<[number, number]> = Array.from({ length: 60 }, () => [gen(1, 120), gen(1, 120)]);
    const r = simulate(cfg, reqs);
    assert.equal(r.preemptions, 0);
    assert.deepEqual(
      r.admissionOrder,
      reqs.map((_, i) => i),
    );
  });

  it("max_utilization admits greedily and preempts the newest request when the cache is full", () => {
    const cfg: SchedulerConfig = {
      ...base,
      policy: "max_utilization",
      kvCacheTokens: 200,
      maxBatchSize: 8,
      maxSeqLen: 200,
    };
    const s = new Scheduler(cfg);
    for (let i = 0; i < 4; i++) s.enqueue(new SchedRequest(i, 40, 100));
    const first = s.plan();
    assert.equal(first.admitted.length, 4); // prompts alone fit: 160 <= 200
    const r = simulate(cfg, [
      [40, 100],
      [40, 100],
      [40, 100],
      [40, 100],
    ]);
    assert.ok(r.preemptions > 0, "expected preemptions");
    // The oldest request is never the victim: it gets its first token in the first step.
    assert.equal(r.firstTokenStep.get(0), 0);
  });

  it("holds every invariant on random workloads, both policies, with and without chunking and compaction", () => {
    for (const policy of ["guaranteed_no_evict", "max_utilization"] as const) {
      for (const chunkedContext of [true, false]) {
        for (const seed of [1, 2, 3, 4, 5, 6]) {
          const gen = rng(seed * 31 + (chunkedContext ? 1 : 0));
          const cfg: SchedulerConfig = {
            maxBatchSize: gen(1, 12),
            maxNumTokens: gen(64, 160),
            kvCacheTokens: gen(200, 1500),
            maxSeqLen: 200,
            policy,
            chunkedContext,
            compactSlots: seed > 3,
          };
          const s = new Scheduler(cfg);
          const reqs: Array<[number, number]> = [];
          while (reqs.length < 40) {
            const isl = gen(1, 120);
            const osl = gen(1, 79);
            if (s.rejectReason(isl, osl) === undefined) reqs.push([isl, osl]);
          }
          simulate(cfg, reqs, seed % 3 === 0 ? 2 : 0);
        }
      }
    }
  });

  it("hands out the lowest free llama.cpp sequence id first", () => {
    const s = new Scheduler({ ...base, maxBatchSize: 4 });
    const reqs = [0, 1, 2, 3].map((i) => new SchedRequest(i, 4, 2));
    for (const r of reqs) s.enqueue(r);
    s.plan();
    assert.deepEqual(
      reqs.map((r) => r.slot),
      [0, 1, 2, 3],
    );
    s.release(reqs[2]!);
    s.release(reqs[0]!);
    s.release(reqs[3]!);
    const next = [4, 5, 6].map((i) => new SchedRequest(i, 4, 2));
    for (const r of next) s.enqueue(r);
    s.plan();
    assert.deepEqual(
      next.map((r) => r.slot),
      [0, 2, 3],
    );
  });

  it("drops waiting requests released before admission, keeping the others in arrival order", () => {
    const s = new Scheduler({ ...base, maxBatchSize: 2 });
    const reqs = [0, 1, 2, 3, 4, 5].map((i) => new SchedRequest(i, 4, 2));
    for (const r of reqs) s.enqueue(r);
    assert.equal(s.numWaiting, 6);
    s.release(reqs[0]!); // at the head
    s.release(reqs[3]!); // in the middle
    s.release(reqs[3]!); // twice: no effect
    assert.equal(s.numWaiting, 4);
    assert.deepEqual(
      s.plan().admitted.map((r) => r.seq),
      [1, 2],
    );
    assert.equal(s.numWaiting, 2);
    for (const r of [reqs[1]!, reqs[2]!]) s.release(r);
    assert.deepEqual(
      s.plan().admitted.map((r) => r.seq),
      [4, 5],
    );
    assert.equal(s.numWaiting, 0);
    s.release(reqs[4]!);
    s.release(reqs[5]!);
    assert.ok(s.idle);
  });

  it("puts preempted requests back ahead of every later arrival, in arrival order", () => {
    // Each request needs up to 4 + 20 - 1 KV cells; 40 cells hold two prompts but not two full requests.
    const s = new Scheduler({ ...base, policy: "max_utilization", maxBatchSize: 3, kvCacheTokens: 40 });
    const reqs = [0, 1, 2].map((i) => new SchedRequest(i, 4, 20));
    for (const r of reqs) s.enqueue(r);
    const preempted: number[] = [];
    for (let step = 0; step < 200 && preempted.length < 2; step++) {
      const plan = s.plan();
      for (const p of plan.preempted) preempted.push(p.seq);
      s.commit(plan);
      if (step === 0) for (const i of [3, 4]) s.enqueue(new SchedRequest(i, 4, 20));
    }
    assert.deepEqual(preempted.slice(0, 2), [2, 1]);
    assert.equal(s.numWaiting, 4);
    // Freed room goes to the preempted ones first (lowest seq first), then the fresh arrivals.
    for (const r of [...s.runningRequests()]) s.release(r);
    assert.deepEqual(
      s.plan().admitted.map((r) => r.seq),
      [1, 2, 3],
    );
  });

  it("rejects requests that can never run", () => {
    const s = new Scheduler({ ...base, kvCacheTokens: 100, maxSeqLen: 120 });
    assert.match(s.rejectReason(100, 30) ?? "", /max_seq_len/);
    assert.match(s.rejectReason(60, 50) ?? "", /KV/);
    assert.equal(s.rejectReason(50, 51), undefined);
  });
  it("decodeRunLength by hand: the first request to end bounds the run; an admissible head or KV room cuts it", () => {
    const s = new Scheduler({ ...base, maxBatchSize: 2 });
    const a = new SchedRequest(0, 4, 6);
    const b = new SchedRequest(1, 4, 3);
    s.enqueue(a);
    s.enqueue(b);
    const prefill = s.plan();
    assert.equal(s.decodeRunLength(prefill), 1, "a step with prefill never repeats");
    s.commit(prefill); // both sampled their first token: 5 and 2 to go
    assert.equal(s.decodeRunLength(s.plan()), 2, "b ends after two more steps");
    // With a free slot, a waiting request that fits would be admitted next step.
    const t = new Scheduler({ ...base, maxBatchSize: 3 });
    const c = new SchedRequest(0, 4, 6);
    t.enqueue(c);
    t.commit(t.plan());
    t.enqueue(new SchedRequest(1, 4, 6));
    const mixed = t.plan();
    assert.equal(mixed.admitted.length, 1);
    assert.equal(t.decodeRunLength(mixed), 1);
    t.commit(mixed);
    assert.equal(t.decodeRunLength(t.plan()), 4, "both decode, nothing waits: c has sampled 2 of 6");
    t.enqueue(new SchedRequest(2, 4, 6));
    assert.equal(t.decodeRunLength(t.plan()), 1, "a third request fits in the free slot");
    // max_utilization: KV room for the run. 2 requests at 5 cells each (4 prompt + 1 sampled) after the prefill.
    const u = new Scheduler({ ...base, policy: "max_utilization", kvCacheTokens: 16, maxSeqLen: 16 });
    u.enqueue(new SchedRequest(0, 4, 10));
    u.enqueue(new SchedRequest(1, 4, 10));
    u.commit(u.plan()); // kvUsed 8
    // A step grows KV by 2: steps j = 1.. fit while 8 + 2j <= 16, so 4 steps.
    assert.equal(u.decodeRunLength(u.plan()), 4);
  });

  it("decodeRunLength: the plan repeats exactly for that many steps, whatever arrives behind a blocked head", () => {
    for (const policy of ["guaranteed_no_evict", "max_utilization"] as const) {
      for (const seed of [1, 2, 3, 4, 5, 6]) {
        const gen = rng(seed * 97 + (policy === "max_utilization" ? 1 : 0));
        const cfg: SchedulerConfig = {
          maxBatchSize: gen(1, 6),
          maxNumTokens: gen(16, 64),
          kvCacheTokens: gen(120, 400),
          maxSeqLen: 96,
          policy,
          chunkedContext: true,
        };
        const s = new Scheduler(cfg);
        const all = Array.from({ length: 40 }, (_, i) => new SchedRequest(i, gen(1, 40), gen(1, 50)));
        let next = 0;
        let run: { left: number; reqs: SchedRequest[] } | undefined;
        let runs = 0;
        for (let step = 0; next < all.length || !s.idle; step++) {
          assert.ok(step < 100_000, "no progress");
          if (next < all.length && gen(0, 3) === 0) {
            // The engine stops a run when the arrival becomes the queue's head.
            if (s.numWaiting === 0) run = undefined;
            s.enqueue(all[next++]!);
          }
          const plan = s.plan();
          if (run) {
            assert.deepEqual(
              plan.items.map((it) => [it.req.seq, it.count, it.decode, it.sample]),
              run.reqs.map((r) => [r.seq, 1, true, true]),
              `seed ${seed} ${policy}: the plan changed inside a run`,
            );
            assert.equal(plan.admitted.length + plan.preempted.length, 0);
            assert.equal(s.decodeRunLength(plan), run.left, "a run's length counts down by one a step");
            run.left--;
            if (run.left === 0) run = undefined;
          } else {
            const k = s.decodeRunLength(plan);
            if (k > 1) {
              run = { left: k - 1, reqs: plan.items.map((it) => it.req) };
              runs++;
            }
          }
          s.commit(plan);
          for (const r of [...s.runningRequests()]) {
            if (r.done) {
              assert.equal(run, undefined, "a request finished before its run's last step");
              s.release(r);
            }
          }
        }
        assert.ok(runs > 0, `seed ${seed} ${policy}: no run at all`);
      }
    }
  });
});
