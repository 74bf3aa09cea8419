/**
 * Run progress: a bar on a terminal (cli-progress, on stderr so stdout stays clean), periodic plain lines
 * otherwise (CI logs, pipes), so long runs show life without flooding logs.
 */
import cliProgress from "cli-progress";
import { log } from "../util/log.ts";

export interface Progress {
  start(total: number, label: string): void;
  update(done: number, extra?: string): void;
  stop(): void;
}

class BarProgress implements Progress {
  private bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: "{label} |{bar}| {value}/{total} requests | {extra}",
      hideCursor: true,
      clearOnComplete: false,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  start(total: number, label: string): void {
    this.bar.start(total, 0, { label, extra: "" });
  }
  update(done: number, extra = ""): void {
    this.bar.update(done, { extra });
  }
  stop(): void {
    this.bar.stop();
  }
}

class LineProgress implements Progress {
  private last = 0;
  private total = 0;
  private label = "";
  constructor(private readonly everyMs: number) {}
  start(total: number, label: string): void {
    this.total = total;
    this.label = label;
    this.last = Date.now();
  }
  update(done: number, extra = ""): void {
    const now = Date.now();
    if (now - this.last < this.everyMs && done < this.total) return;
    this.last = now;
    log.info(`${this.label}: ${done}/${this.total} requests done${extra ? ` (${extra})` : ""}`);
  }
  stop(): void {}
}

export function createProgress(): Progress {
  const ci = process.env["CI"] !== undefined && process.env["CI"] !== "false";
  return process.stderr.isTTY && !ci ? new BarProgress() : new LineProgress(10_000);
}
