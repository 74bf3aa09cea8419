import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { onAbort, slotCount } from "./abort-callbacks.ts";

describe("onAbort", { timeout: 10_000 }, () => {
  it("runs each registered callback once on abort, and none that was unregistered", () => {
    const ac = new AbortController();
    const calls: string[] = [];
    onAbort(ac.signal, () => calls.push("a"));
    const offB = onAbort(ac.signal, () => calls.push("b"));
    onAbort(ac.signal, () => calls.push("c"));
    offB();
    offB(); // idempotent
    ac.abort();
    ac.abort(); // a second abort dispatches nothing
    assert.deepEqual(calls.sort(), ["a", "c"]);
  });

  it("registers nothing on a signal already aborted, and unregistering after the abort is harmless", () => {
    const ac = new AbortController();
    let ran = 0;
    const off = onAbort(ac.signal, () => ran++);
    ac.abort();
    off();
    assert.equal(ran, 1);
    const late = onAbort(ac.signal, () => ran++);
    late();
    assert.equal(ran, 1);
    assert.equal(slotCount(ac.signal), 0);
  });

  it("reuses freed slots: a million register/unregister cycles hold as many slots as were ever live at once", () => {
    const ac = new AbortController();
    const live: Array<() => void> = [];
    for (let i = 0; i < 1_000_000; i++) {
      live.push(onAbort(ac.signal, () => {}));
      // At most 3 live at once, unregistered oldest first (like requests finishing).
      if (live.length > 3) live.shift()!();
    }
    assert.equal(slotCount(ac.signal), 4);
    let ran = 0;
    const a = new AbortController();
    const offs = [1, 2, 3].map(() => onAbort(a.signal, () => ran++));
    offs[1]!();
    onAbort(a.signal, () => ran++); // takes the freed slot
    assert.equal(slotCount(a.signal), 3);
    a.abort();
    assert.equal(ran, 3);
  });

  it("a callback that unregisters another before its turn keeps it from running", () => {
    const ac = new AbortController();
    const calls: string[] = [];
    let offSecond: () => void = () => {};
    onAbort(ac.signal, () => {
      calls.push("first");
      offSecond();
    });
    offSecond = onAbort(ac.signal, () => calls.push("second"));
    ac.abort();
    assert.deepEqual(calls, ["first"]);
  });

  it("keeps signals apart", () => {
    const a = new AbortController();
    const b = new AbortController();
    const calls: string[] = [];
    onAbort(a.signal, () => calls.push("a"));
    onAbort(b.signal, () => calls.push("b"));
    b.abort();
    assert.deepEqual(calls, ["b"]);
    a.abort();
    assert.deepEqual(calls, ["b", "a"]);
  });
});
