import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Semaphore } from "./semaphore.ts";

describe("Semaphore", { timeout: 10_000 }, () => {
  it("hands slots to waiters in arrival order and never exceeds the limit", async () => {
    const sem = new Semaphore(2);
    assert.equal(sem.acquire(), undefined);
    assert.equal(sem.acquire(), undefined);
    const order: number[] = [];
    const waits = [0, 1, 2].map((i) => sem.acquire()!.then((ok) => order.push(ok ? i : -1)));
    assert.equal(sem.waiting, 3);
    sem.release();
    sem.release();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, [0, 1]);
    assert.equal(sem.inUse, 2, "a released slot passes to the waiter, not back to the pool");
    sem.release();
    await Promise.all(waits);
    assert.deepEqual(order, [0, 1, 2]);
  });

  it("a waiter whose signal aborts gives up without holding a slot, and is skipped later", async () => {
    const sem = new Semaphore(1);
    assert.equal(sem.acquire(), undefined);
    const ac = new AbortController();
    const gaveUp = sem.acquire(ac.signal)!;
    const next = sem.acquire()!;
    ac.abort();
    assert.equal(await gaveUp, false);
    assert.equal(sem.waiting, 1);
    sem.release();
    assert.equal(await next, true);
    sem.release();
    assert.equal(sem.inUse, 0);
    assert.equal(await sem.acquire(AbortSignal.abort()), undefined, "a free slot is taken even so");
  });

  it("50k waiters are granted in order, one release each", async () => {
    const sem = new Semaphore(1);
    assert.equal(sem.acquire(), undefined);
    const n = 50_000;
    let granted = 0;
    let lastSeen = -1;
    let inOrder = true;
    for (let i = 0; i < n; i++) {
      void sem.acquire()!.then(() => {
        if (i !== lastSeen + 1) inOrder = false;
        lastSeen = i;
        granted++;
      });
    }
    for (let i = 0; i < n; i++) sem.release();
    await new Promise((r) => setImmediate(r));
    assert.equal(granted, n);
    assert.ok(inOrder);
    assert.equal(sem.waiting, 0);
  });
});
