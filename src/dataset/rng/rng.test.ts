/**
 * Parity with CPython 3.11 `random` and numpy 2.4 (values computed once with python3 on the dev machine and
 * hard-coded here; the product never runs Python).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MT19937 } from "./mt19937.ts";
import { NumpyRandomState } from "./numpy-legacy.ts";
import { NumpyGenerator, PCG64, SeedSequence } from "./numpy-pcg64.ts";
import { PythonRandom, pythonSeedKey } from "./python-random.ts";

describe("MT19937", () => {
  it("reference init_genrand(5489) gives the published first output", () => {
    assert.equal(MT19937.fromSeed(5489).nextUint32(), 3499211612);
  });
  it("reference init_by_array([0x123,0x234,0x345,0x456]) gives the published first outputs", () => {
    const g = MT19937.fromKey([0x123, 0x234, 0x345, 0x456]);
    assert.deepEqual([g.nextUint32(), g.nextUint32(), g.nextUint32()], [1067595299, 955945823, 477289528]);
  });
});

describe("CPython random", () => {
  it("seed(420): getrandbits and random()", () => {
    const r = new PythonRandom(420);
    assert.equal(r.getrandbits(32), 113143961);
    assert.equal(r.getrandbits(32), 2891016030);
    assert.equal(r.random(), 0.7813690555430765);
  });
  it("seeds by the absolute value's 32-bit words", () => {
    assert.deepEqual(pythonSeedKey(2 ** 40 + 12345), [12345, 256]);
    assert.equal(new PythonRandom(0).getrandbits(32), 3626764237);
    assert.equal(new PythonRandom(2 ** 40 + 12345).getrandbits(32), 1332995613);
    assert.equal(new PythonRandom(-420).getrandbits(32), 113143961);
  });
  it("sample(range(128000), 10) (set path)", () => {
    const out: number[] = [];
    new PythonRandom(420).sampleRange(128000, 10, out);
    assert.deepEqual(out, [3452, 88226, 102415, 47775, 35731, 52781, 12529, 100130, 86990, 88852]);
  });
  it("sample(range(128000), 30000) takes the pool path", () => {
    const out = new Int32Array(30000);
    new PythonRandom(420).sampleRange(128000, 30000, out);
    assert.deepEqual(Array.from(out.subarray(0, 5)), [3452, 88226, 102415, 47775, 35731]);
    assert.deepEqual(Array.from(out.subarray(-3)), [125180, 70314, 75168]);
    assert.equal(new Set(out).size, 30000);
  });
  it("sample(range(50), 7): a small population uses the pool", () => {
    const out: number[] = [];
    new PythonRandom(420).sampleRange(50, 7, out);
    assert.deepEqual(out, [1, 43, 23, 17, 25, 6, 42]);
  });
  it("choices(range(128000), k=5) and randint(3, 17)", () => {
    const out: number[] = [];
    new PythonRandom(420).choicesRange(128000, 5, out);
    assert.deepEqual(out, [3371, 100015, 34893, 12235, 84951]);
    const r = new PythonRandom(420);
    assert.deepEqual(
      Array.from({ length: 10 }, () => r.randint(3, 17)),
      [3, 13, 15, 8, 7, 9, 4, 15, 13, 13],
    );
  });
  it("sample rejects k > n", () => {
    assert.throws(() => new PythonRandom(1).sampleRange(3, 4, []), RangeError);
  });
});

describe("numpy legacy normal", () => {
  it("np.random.seed(420) seeds with init_genrand (state key starts with the seed)", () => {
    // numpy: RandomState(420).get_state()[1][:4]
    const g = MT19937.fromSeed(420) as unknown as { mt: Uint32Array };
    assert.deepEqual(Array.from(g.mt.subarray(0, 4)), [420, 1012754869, 241144171, 4000555578]);
  });
  it("normal(128, 10, 6) after seed(420) (polar method with the cached second value)", () => {
    const got = Array.from(new NumpyRandomState(420).normal(128, 10, 6));
    const want = [
      123.14609147637555, 108.94846153932315, 122.73778202996047, 124.86453980580194, 131.30706494540175,
      137.38537245403893,
    ];
    // V8's Math.log may differ from libm's by one ulp; lengths (ceil) are what must match exactly.
    for (const [i, w] of want.entries())
      assert.ok(Math.abs(got[i]! - w) <= 1e-12 * w, `draw ${i}: ${got[i]} vs ${w}`);
  });
  it("max(1, ceil(normal(128, 50))) after seed(7): exact lengths", () => {
    const got = Array.from(new NumpyRandomState(7).normal(128, 50, 20), (x) => Math.max(1, Math.ceil(x)));
    assert.deepEqual(
      got,
      [213, 105, 130, 149, 89, 129, 128, 41, 179, 159, 97, 120, 154, 115, 116, 56, 156, 135, 142, 52],
    );
  });
  it("100 000 standard normal draws have mean ≈ 0 and stdev ≈ 1", () => {
    const x = new NumpyRandomState(1).normal(0, 1, 100_000);
    let s = 0;
    let s2 = 0;
    for (const v of x) {
      s += v;
      s2 += v * v;
    }
    const mean = s / x.length;
    const sd = Math.sqrt(s2 / x.length - mean * mean);
    assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
    assert.ok(Math.abs(sd - 1) < 0.01, `stdev ${sd}`);
  });
  it("rejects seeds numpy rejects", () => {
    assert.throws(() => new NumpyRandomState(2 ** 32), RangeError);
    assert.throws(() => new NumpyRandomState(-1), RangeError);
  });
});

describe("numpy default_rng (PCG64 + SeedSequence)", () => {
  it("SeedSequence(420): pool and generate_state(4, uint64)", () => {
    const ss = new SeedSequence(420);
    assert.deepEqual(Array.from(ss.pool), [2285071600, 1816048686, 1404194433, 520168405]);
    assert.deepEqual(ss.generateState64(4), [
      12204929345659118885n,
      7577898661498875816n,
      17357471446381924209n,
      1261917705687992571n,
    ]);
  });
  it("PCG64(420): state, increment and raw outputs", () => {
    const p = PCG64.fromSeed(420);
    assert.equal(p.state, 78419187311282569393360609524915227602n);
    assert.equal(p.inc, 300095300155318575761469457844978717175n);
    assert.deepEqual(
      [p.next64(), p.next64(), p.next64()],
      [14340992449356392384n, 17427256251343189454n, 18249209769805824417n],
    );
  });
  it("integers(100, 1001, 8) after default_rng(420) (Lemire on buffered 32-bit halves)", () => {
    assert.deepEqual(
      NumpyGenerator.defaultRng(420).integers(100, 1001, 8),
      [657, 800, 209, 951, 891, 991, 112, 470],
    );
  });
  it("wide ranges reject and redraw exactly as numpy (big seed too)", () => {
    assert.deepEqual(
      NumpyGenerator.defaultRng(123456789012).integers(5, 3000000000, 6),
      [2857309716, 1698194026, 2025888584, 251012582, 839768649, 847554221],
    );
    assert.deepEqual(
      NumpyGenerator.defaultRng(3).integers(0, 2 ** 32, 4),
      [3485385464, 367860371, 770692085, 1017093381],
    );
  });
  it("bounds are inclusive of low and exclusive of high", () => {
    const v = NumpyGenerator.defaultRng(420).integers(1, 4, 100_000);
    const counts = [0, 0, 0, 0, 0];
    for (const x of v) counts[x]!++;
    assert.equal(counts[0], 0);
    assert.equal(counts[4], 0);
    for (const c of counts.slice(1, 4)) assert.ok(Math.abs(c - 33_333) < 1_000, `count ${c}`);
    assert.deepEqual(
      NumpyGenerator.defaultRng(420).integers(1, 4, 20),
      [2, 3, 1, 3, 3, 3, 1, 2, 2, 2, 2, 3, 2, 1, 2, 2, 1, 2, 1, 1],
    );
  });
});
