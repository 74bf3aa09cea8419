import { onAbort } from "../util/abort-callbacks.ts";
import { RingQueue } from "../util/ring-queue.ts";

interface Waiter {
  /** Settled: handed a slot, or given up because its signal aborted (then left in the queue, skipped later). */
  settled: boolean;
  grant(): void;
}

/**
 * A counting semaphore for `--concurrency`; `limit <= 0` means unlimited (trtllm-bench's -1). Every operation
 * is O(1) amortized: waiters sit in a ring buffer, and a waiter whose signal aborts is only marked, then
 * skipped when it reaches the head (so giving up never scans the queue).
 */
export class Semaphore {
  private active = 0;
  private abandoned = 0;
  private readonly waiters = new RingQueue<Waiter>();
  constructor(readonly limit: number) {}

  /** Slots held now. */
  get inUse(): number {
    return this.active;
  }

  /** Callers still waiting for a slot. */
  get waiting(): number {
    return this.waiters.length - this.abandoned;
  }

  /**
   * undefined: a slot was free and is now held. Otherwise a promise of true once a slot is handed over, or of
   * false (no slot held) when `signal` aborts first.
   */
  acquire(signal?: AbortSignal): Promise<boolean> | undefined {
    if (this.limit <= 0 || this.active < this.limit) {
      this.active++;
      return undefined;
    }
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      // One callback per wait on the caller's long-lived signal: not an EventTarget listener each (see
      // util/abort-callbacks.ts).
      const unregister = signal
        ? onAbort(signal, () => {
            if (waiter.settled) return;
            waiter.settled = true;
            this.abandoned++;
            resolve(false);
          })
        : undefined;
      const waiter: Waiter = {
        settled: false,
        grant() {
          unregister?.();
          resolve(true);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Frees a slot, handing it straight to the oldest live waiter if there is one (then true). */
  release(): boolean {
    for (let w = this.waiters.shift(); w !== undefined; w = this.waiters.shift()) {
      if (w.settled) {
        this.abandoned--;
        continue;
      }
      w.settled = true;
      w.grant();
      return true;
    }
    this.active--;
    return false;
  }
}
