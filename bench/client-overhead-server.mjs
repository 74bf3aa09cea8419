// Zero-work OpenAI-style streaming server for bench/client-overhead.ts, run in its own process.
// usage: node client-overhead-server.mjs [--step_ms N]
// POST /v1/completions answers at once with the first token event (written alone, as soon as the request is
// read). Then, by default (flood), the other max_tokens − 1 events, the usage event and [DONE] go out in one
// prebuilt write. With --step_ms N (paced), they go out like an engine's decode steps: every N ms one event to
// every open stream, then usage and [DONE] after the last. Each event is ~170 bytes with continuous usage, like
// vLLM's. The prompt's first id names the request; the server keeps (request read, first event written) on
// the monotonic clock (CLOCK_MONOTONIC, comparable across processes) and hands them out on GET /stats.
// Prints "LISTEN <port>" on stdout when ready.
import { createServer } from "node:http";

const stepIndex = process.argv.indexOf("--step_ms");
const stepMs = stepIndex >= 0 ? Number(process.argv[stepIndex + 1]) : 0;

const tails = new Map();
let stats = {};
/** Paced streams: { res, sent, n }. */
const open = new Set();

function event(k, text) {
  return `data: {"id":"cmpl-bench","object":"text_completion","created":0,"model":"bench","choices":[{"index":0,"text":"${text}","logprobs":null,"finish_reason":null}],"usage":{"prompt_tokens":1,"completion_tokens":${k},"total_tokens":${k + 1}}}\n\n`;
}

function end(n) {
  return `data: {"id":"cmpl-bench","object":"text_completion","created":0,"model":"bench","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":${n},"total_tokens":${n + 1}}}\n\ndata: [DONE]\n\n`;
}

function tail(n) {
  let b = tails.get(n);
  if (!b) {
    let s = "";
    for (let k = 2; k <= n; k++) s += event(k, " the");
    b = Buffer.from(s + end(n));
    tails.set(n, b);
  }
  return b;
}

function step() {
  for (const s of open) {
    s.sent++;
    if (s.sent < s.n) s.res.write(event(s.sent, " the"));
    else {
      s.res.end(event(s.sent, " the") + end(s.n));
      open.delete(s);
    }
  }
}
if (stepMs > 0) setInterval(step, stepMs);

const server = createServer((req, res) => {
  if (req.method === "GET") {
    if (req.url === "/stats") {
      const body = JSON.stringify(stats);
      stats = {};
      res.writeHead(200, { "content-type": "application/json" });
      res.end(body);
    } else if (req.url === "/v1/models") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"object":"list","data":[{"id":"bench","object":"model"}]}');
    } else {
      res.writeHead(404);
      res.end();
    }
    return;
  }
  const parts = [];
  req.on("data", (c) => parts.push(c));
  req.on("end", () => {
    const recv = process.hrtime.bigint();
    const body = JSON.parse(Buffer.concat(parts).toString("utf8"));
    const n = Math.max(1, body.max_tokens | 0);
    const id = Array.isArray(body.prompt) ? body.prompt[0] : body.prompt;
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.write(event(1, " the"));
    // node:http corks a response's first write until the next tick; with many requests read in one go, that
    // tick comes after all of them. Stamp, then flush at once: `written` is when the bytes start to leave (after
    // the write returns the client, on the other core, may already have stamped its first token).
    const written = process.hrtime.bigint();
    res.socket?.uncork();
    stats[id] = [Number(recv), Number(written)];
    if (n === 1) res.end(end(1));
    else if (stepMs > 0) open.add({ res, sent: 1, n });
    else res.end(tail(n));
  });
});
server.keepAliveTimeout = 60_000;
server.maxRequestsPerSocket = 0;
// A deep accept backlog: 1,000 simultaneous connects must not hit SYN retries (1 s each).
server.listen({ port: 0, host: "127.0.0.1", backlog: 4096 }, () => {
  process.stdout.write(`LISTEN ${server.address().port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
