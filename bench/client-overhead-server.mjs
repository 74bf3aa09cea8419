// Zero-work OpenAI-style streaming server for bench/client-overhead.ts, run in its own process.
// POST /v1/completions answers at once: the first token event (written alone, as soon as the request is read),
// then the other max_tokens − 1 events, the usage event and [DONE] in one prebuilt write. Each event is
// ~170 bytes with continuous usage, like vLLM's. The prompt's first id names the request; the server keeps
// (request read, first event written) on the monotonic clock (CLOCK_MONOTONIC, comparable across processes)
// and hands them out on GET /stats so clients can subtract the server's own time to first token.
// Prints "LISTEN <port>" on stdout when ready.
import { createServer } from "node:http";

const tails = new Map();
let stats = {};

function event(k, text) {
  return `data: {"id":"cmpl-bench","object":"text_completion","created":0,"model":"bench","choices":[{"index":0,"text":"${text}","logprobs":null,"finish_reason":null}],"usage":{"prompt_tokens":1,"completion_tokens":${k},"total_tokens":${k + 1}}}\n\n`;
}

function tail(n) {
  let b = tails.get(n);
  if (!b) {
    let s = "";
    for (let k = 2; k <= n; k++) s += event(k, " the");
    s += `data: {"id":"cmpl-bench","object":"text_completion","created":0,"model":"bench","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":${n},"total_tokens":${n + 1}}}\n\ndata: [DONE]\n\n`;
    b = Buffer.from(s);
    tails.set(n, b);
  }
  return b;
}

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
    const written = process.hrtime.bigint();
    stats[id] = [Number(recv), Number(written)];
    res.end(tail(n));
  });
});
server.keepAliveTimeout = 60_000;
server.maxRequestsPerSocket = 0;
// A deep accept backlog: 1,000 simultaneous connects must not hit SYN retries (1 s each).
server.listen({ port: 0, host: "127.0.0.1", backlog: 4096 }, () => {
  process.stdout.write(`LISTEN ${server.address().port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
