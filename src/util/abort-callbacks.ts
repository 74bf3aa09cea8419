/**
 * Short-lived abort callbacks on a long-lived signal (one per request in flight, one per slot wait), through a
 * single listener per signal and a slot array that forgets a callback when it is unregistered.
 *
 * Why not `signal.addEventListener` per request: Node's EventTarget keeps listeners in a linked list, and a
 * removed listener keeps its `next` and `previous` links. Once one removed listener is in V8's old generation
 * (a full collection promotes whatever is in flight), every young collection treats its links as roots: the
 * listener added after it survives, is promoted, and holds the next one, and so on, each with its closure (the
 * whole request: handler, parser, stream accumulator, request body). A `Set` does the same through its hash
 * tables: an outgrown or rehashed table keeps a link to its successor (for live iterators) and its old entries.
 * On a million-request run that promoted ~1.5 KB of garbage per request, about 25 MB/s, freed only by the next
 * full collection: the run peaked at 1.16 GiB RSS for ~470 MB of live data (docs/performance.md, load-scale).
 * Here an unregistered callback's slot is cleared and reused, so nothing dead points at anything newer.
 */

interface Callbacks {
  /** Registered callbacks by slot; undefined: a free slot (its index is in `free`). */
  slots: Array<(() => void) | undefined>;
  free: number[];
}

/** The callbacks registered on each signal not yet aborted; the signal's one listener runs them. */
const registered = new WeakMap<AbortSignal, Callbacks>();

/**
 * Calls `callback` once when `signal` aborts; the returned function unregisters it (O(1), idempotent).
 * A signal already aborted registers nothing (callers check `signal.aborted` first). On abort the callbacks run
 * in slot order (not necessarily the order they were registered); one that throws is reported as an uncaught
 * exception, as EventTarget does, after the others ran.
 */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  if (signal.aborted) return noop;
  let cbs = registered.get(signal);
  if (cbs === undefined) {
    const fresh: Callbacks = { slots: [], free: [] };
    cbs = fresh;
    registered.set(signal, fresh);
    signal.addEventListener("abort", () => runAll(signal, fresh), { once: true });
  }
  const own = cbs;
  const slot = own.free.length > 0 ? own.free.pop()! : own.slots.push(undefined) - 1;
  own.slots[slot] = callback;
  let registeredNow = true;
  return () => {
    if (!registeredNow) return;
    registeredNow = false;
    // Already run (the signal aborted): the slot is not this callback's any more.
    if (own.slots[slot] !== callback) return;
    own.slots[slot] = undefined;
    own.free.push(slot);
  };
}

function runAll(signal: AbortSignal, cbs: Callbacks): void {
  registered.delete(signal);
  // Nothing can be registered now (the signal reads aborted); one unregistered before its turn is skipped.
  for (let i = 0; i < cbs.slots.length; i++) {
    const callback = cbs.slots[i];
    if (callback === undefined) continue;
    cbs.slots[i] = undefined;
    try {
      callback();
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }
}

function noop(): void {}

/** @internal Slots held for `signal` (registered or free), for tests: churn must not grow it. */
export function slotCount(signal: AbortSignal): number {
  return registered.get(signal)?.slots.length ?? 0;
}
