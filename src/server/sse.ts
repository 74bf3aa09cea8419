import type { ServerResponse } from "node:http";

/** Server-sent events as OpenAI streams them: `data: <json>\n\n` per event, `data: [DONE]\n\n` at the end. */
export class SseWriter {
  constructor(private readonly res: ServerResponse) {}

  start(extraHeaders: Record<string, string> = {}): void {
    this.res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
      ...extraHeaders,
    });
    // Headers go out at once: the client learns the request was accepted before the first token.
    this.res.flushHeaders();
  }

  get open(): boolean {
    return !this.res.writableEnded && !this.res.destroyed;
  }

  send(event: unknown): void {
    if (this.open) this.res.write(`data: ${JSON.stringify(event)}\n\n`);
  }

  done(): void {
    if (this.open) this.res.end("data: [DONE]\n\n");
  }
}
