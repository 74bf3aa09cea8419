/**
 * `--iteration_log`: strict JSONL, one object per engine step, streamed to a temporary file and renamed into
 * place when the run ends (trtllm-bench writes Python dict reprs; we write JSON so tools can read it).
 */
import { AtomicFileStream } from "../util/atomic-write.ts";

export class IterationLogWriter {
  private pending: string[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private constructor(private readonly out: AtomicFileStream) {}

  static async open(path: string): Promise<IterationLogWriter> {
    return new IterationLogWriter(await AtomicFileStream.open(path));
  }

  /** Buffered: the engine's step loop never waits on the disk. */
  write(entry: object): void {
    this.pending.push(JSON.stringify(entry));
    if (this.pending.length >= 256) this.flush();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const chunk = `${this.pending.join("\n")}\n`;
    this.pending = [];
    this.flushing = this.flushing.then(() => this.out.write(chunk));
  }

  async close(): Promise<void> {
    this.flush();
    await this.flushing;
    await this.out.commit();
  }

  async abort(): Promise<void> {
    await this.flushing.catch(() => undefined);
    await this.out.abort();
  }
}
