/**
 * A FIFO on a growable circular buffer: push and shift are O(1) amortized. `Array.prototype.shift` is O(n) once
 * an array outgrows V8's left-trimming (large arrays are moved element by element), which made a queue of a
 * million waiters quadratic; see docs/architecture.md for why this is written here rather than imported.
 */
export class RingQueue<T> {
  private buf: Array<T | undefined>;
  private head = 0;
  private size = 0;

  constructor(initialCapacity = 16) {
    this.buf = slots(Math.max(1, initialCapacity));
  }

  get length(): number {
    return this.size;
  }

  push(item: T): void {
    if (this.size === this.buf.length) this.grow();
    this.buf[(this.head + this.size) % this.buf.length] = item;
    this.size++;
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.buf[this.head];
    // Drop the reference so a consumed item can be collected.
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) % this.buf.length;
    this.size--;
    return item;
  }

  peek(): T | undefined {
    return this.size === 0 ? undefined : this.buf[this.head];
  }

  private grow(): void {
    const next = slots<T>(this.buf.length * 2);
    for (let i = 0; i < this.size; i++) next[i] = this.buf[(this.head + i) % this.buf.length];
    this.buf = next;
    this.head = 0;
  }
}

/** A packed array of `n` empty slots: `new Array(n)` of a large n is a slow dictionary-mode array in V8. */
function slots<T>(n: number): Array<T | undefined> {
  const out: Array<T | undefined> = [];
  for (let i = 0; i < n; i++) out.push(undefined);
  return out;
}
