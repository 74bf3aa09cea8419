/** A counting semaphore for `--concurrency`; `limit <= 0` means unlimited (trtllm-bench's -1). */
export class Semaphore {
  private active = 0;
  private readonly queue: Array<() => void> = [];
  constructor(readonly limit: number) {}

  acquire(): Promise<void> | undefined {
    if (this.limit <= 0 || this.active < this.limit) {
      this.active++;
      return undefined;
    }
    return new Promise((resolve) => this.queue.push(resolve));
  }

  release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.active--;
  }
}
