import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import tls from "node:tls";
import { packageRoot } from "../../../model/known-models.ts";
import { HttpClientError, HttpPool, type ResponseHandler } from "./pool.ts";

/**
 * A raw TCP server: each request (head + content-length body) is answered by `respond`, which writes whatever
 * bytes it likes, so every framing and failure can be produced exactly.
 */
interface RawServer {
  url: URL;
  connections: number;
  requests: string[];
  close(): Promise<void>;
}

let tlsDir = "";
before(async () => {
  tlsDir = join(await packageRoot(), "test", "fixtures", "tls");
});

/**
 * Servers a test started and has not closed: closed after each test whatever its outcome (their sockets end the
 * pools' too), so a failed assertion never leaves a handle that keeps this file's process alive.
 */
const openServers = new Set<RawServer>();
afterEach(async () => {
  for (const srv of [...openServers]) await srv.close();
});

type Respond = (socket: net.Socket, request: string, index: number) => void;

function serve(respond: Respond, secure = false): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0, requests: [] as string[] };
  const onSocket = (socket: net.Socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let buf = "";
    socket.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        const req = buf.slice(0, end + 4 + len);
        buf = buf.slice(end + 4 + len);
        state.requests.push(req);
        respond(socket, req, state.requests.length - 1);
      }
    });
  };
  const server = secure
    ? tls.createServer(
        { key: readFileSync(join(tlsDir, "key.pem")), cert: readFileSync(join(tlsDir, "cert.pem")) },
        onSocket,
      )
    : net.createServer(onSocket);
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      const handle: RawServer = {
        url: new URL(`${secure ? "https" : "http"}://127.0.0.1:${port}`),
        get connections() {
          return state.connections;
        },
        requests: state.requests,
        close: () =>
          new Promise<void>((r) => {
            openServers.delete(handle);
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      };
      openServers.add(handle);
      resolve(handle);
    });
  });
}

const ok = (body: string) =>
  `HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;

function collect(): ResponseHandler & { status: number; body: string; times: number[] } {
  const h = {
    status: 0,
    body: "",
    times: [] as number[],
    onHead(head: { status: number }) {
      h.status = head.status;
    },
    onBody(b: Buffer, t: number) {
      h.body += b.toString("utf8");
      h.times.push(t);
      return true;
    },
  };
  return h;
}

const POST = { method: "POST" as const, path: "/v1/completions", body: '{"x":1}' };

async function failure(p: Promise<unknown>): Promise<HttpClientError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof HttpClientError, String(err));
    return err;
  }
  assert.fail("expected the request to fail");
}

describe("HttpPool", () => {
  let srv: RawServer;
  before(async () => {
    srv = await serve((s, req) => {
      if (req.includes("/slow")) setTimeout(() => s.write(ok("late")), 60);
      else s.write(ok(`got ${req.split("\r\n")[0]}`));
    });
    // Shared by this suite's tests: closed by after(), not after each test.
    openServers.delete(srv);
  });
  after(() => srv.close());

  test("writes one well-formed request and reuses the connection", async () => {
    const before = srv.connections;
    const pool = new HttpPool(srv.url, {
      connections: 4,
      timeoutMs: 2000,
      headers: { authorization: "Bearer k" },
    });
    for (let i = 0; i < 3; i++) {
      const h = collect();
      const t = await pool.request(POST, h);
      assert.equal(h.status, 200);
      assert.equal(h.body, "got POST /v1/completions HTTP/1.1");
      assert.ok(t.sentNs > 0 && t.firstByteNs! >= t.sentNs);
    }
    await pool.close();
    assert.equal(srv.connections - before, 1);
    const req = srv.requests.at(-1)!;
    assert.match(req, /^POST \/v1\/completions HTTP\/1\.1\r\n/);
    assert.match(req, new RegExp(`\r\nhost: 127\\.0\\.0\\.1:${srv.url.port}\r\n`));
    assert.match(req, /\r\nauthorization: Bearer k\r\n/);
    assert.match(req, /\r\ncontent-length: 7\r\n\r\n\{"x":1\}$/);
  });

  test("never opens more sockets than its limit; waiting requests get freed ones", async () => {
    const before = srv.connections;
    const pool = new HttpPool(srv.url, { connections: 2, timeoutMs: 2000 });
    const hs = Array.from({ length: 6 }, () => collect());
    await Promise.all(hs.map((h) => pool.request({ ...POST, path: "/slow" }, h)));
    await pool.close();
    assert.ok(hs.every((h) => h.body === "late"));
    assert.equal(srv.connections - before, 2);
  });

  test("a handler that stops ends the exchange and the socket is not reused", async () => {
    const before = srv.connections;
    const pool = new HttpPool(srv.url, { connections: 1, timeoutMs: 2000 });
    await pool.request(POST, { onHead() {}, onBody: () => false });
    await pool.request(POST, collect());
    await pool.close();
    assert.equal(srv.connections - before, 2);
  });

  test("closing the pool ends requests in flight and those waiting for a socket", async () => {
    const pool = new HttpPool(srv.url, { connections: 1, timeoutMs: 2000 });
    const inFlight = failure(pool.request({ ...POST, path: "/slow" }, collect()));
    const waiting = failure(pool.request({ ...POST, path: "/slow" }, collect()));
    await new Promise((r) => setTimeout(r, 10));
    await pool.close();
    assert.equal((await inFlight).code, "HTTP_POOL_CLOSED");
    assert.equal((await waiting).code, "HTTP_POOL_CLOSED");
  });

  test("an aborted request fails with ABORT_ERR, before or during the exchange", async () => {
    const pool = new HttpPool(srv.url, { connections: 1, timeoutMs: 2000 });
    const ac = new AbortController();
    ac.abort();
    assert.equal((await failure(pool.request(POST, collect(), ac.signal))).code, "ABORT_ERR");
    const ac2 = new AbortController();
    const p = pool.request({ ...POST, path: "/slow" }, collect(), ac2.signal);
    setTimeout(() => ac2.abort(), 10);
    assert.equal((await failure(p)).code, "ABORT_ERR");
    await pool.request(POST, collect()); // the pool still works
    await pool.close();
  });
});

describe("HttpPool failures", () => {
  test("refused, closed before and mid-response, silence, garbage", async () => {
    const srv = await serve((s, req) => {
      if (req.includes("/close-before")) s.destroy();
      else if (req.includes("/close-mid")) {
        s.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
        setTimeout(() => s.destroy(), 20);
      } else if (req.includes("/stall")) s.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
      else if (req.includes("/garbage")) s.write("SSH-2.0-x\r\n\r\n");
    });
    const pool = new HttpPool(srv.url, { connections: 0, timeoutMs: 300 });
    const code = async (path: string) => (await failure(pool.request({ ...POST, path }, collect()))).code;
    assert.equal(await code("/close-before"), "HTTP_CLOSED");
    assert.equal(await code("/close-mid"), "HTTP_CLOSED");
    const t0 = Date.now();
    assert.equal(await code("/stall"), "HTTP_TIMEOUT");
    assert.ok(Date.now() - t0 >= 250);
    assert.equal(await code("/garbage"), "HTTP_PROTOCOL");
    await pool.close();
    const port = srv.url.port;
    await srv.close();
    const gone = new HttpPool(new URL(`http://127.0.0.1:${port}`), { connections: 1, timeoutMs: 1000 });
    assert.equal((await failure(gone.request(POST, collect()))).code, "ECONNREFUSED");
    await gone.close();
  });

  test("a socket the server closes while idle leaves the pool; Connection: close is honoured", async () => {
    const srv = await serve((s, req, index) => {
      if (req.includes("/close-after")) {
        s.write("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
      } else {
        s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        // The server's keep-alive timeout: it closes the first idle socket soon after answering.
        if (index === 0) setTimeout(() => s.end(), 20);
      }
    });
    const pool = new HttpPool(srv.url, { connections: 1, timeoutMs: 1000 });
    await pool.request(POST, collect());
    await new Promise((r) => setTimeout(r, 80));
    const h = collect();
    await pool.request(POST, h);
    assert.equal(h.body, "ok");
    await pool.request({ ...POST, path: "/close-after" }, collect());
    await pool.request({ ...POST, path: "/close-after" }, collect());
    // 1: closed by the server while idle; 2: the next two requests, the second saying close; 3: the last.
    assert.equal(srv.connections, 3);
    await pool.close();
    await srv.close();
  });

  test("a failed request keeps its send and first-byte times", async () => {
    const srv = await serve((s) => s.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"));
    const pool = new HttpPool(srv.url, { connections: 1, timeoutMs: 200 });
    const err = await failure(pool.request(POST, collect()));
    assert.equal(err.code, "HTTP_TIMEOUT");
    assert.ok(err.times !== undefined && err.times.sentNs > 0 && err.times.firstByteNs! >= err.times.sentNs);
    await pool.close();
    await srv.close();
  });

  test("bytes after a complete response end the socket, not the request", async () => {
    const srv = await serve((s) => s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi\r\n"));
    const pool = new HttpPool(srv.url, { connections: 1, timeoutMs: 1000 });
    const h = collect();
    await pool.request(POST, h);
    assert.equal(h.body, "hi");
    await pool.request(POST, collect()); // on a new socket
    assert.equal(srv.connections, 2);
    await pool.close();
    await srv.close();
  });

  test("the keep-alive race: a reused socket closed as the request goes out is retried once, fresh", async () => {
    const perSocket = new Map<net.Socket, number>();
    const srv = await serve((s, req) => {
      const n = (perSocket.get(s) ?? 0) + 1;
      perSocket.set(s, n);
      // The second request on any socket finds it closed by the server; a first request is answered.
      if (n === 2) s.destroy();
      else s.write(ok(req.includes("/b") ? "second" : "first"));
    });
    const pool = new HttpPool(srv.url, { connections: 1, timeoutMs: 1000 });
    await pool.request(POST, collect());
    const h = collect();
    await pool.request({ ...POST, path: "/b" }, h);
    assert.equal(h.body, "second");
    assert.equal(srv.connections, 2);
    assert.equal(srv.requests.length, 3);
    // A fresh socket that closes without answering is not retried.
    const once = await serve((s) => s.destroy());
    const fresh = new HttpPool(once.url, { connections: 1, timeoutMs: 1000 });
    assert.equal((await failure(fresh.request(POST, collect()))).code, "HTTP_CLOSED");
    assert.equal(once.requests.length, 1);
    await fresh.close();
    await once.close();
    await pool.close();
    await srv.close();
  });

  test("a response without length is read to the close", async () => {
    const srv = await serve((s) => {
      s.end("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\ndata: 2\n\n");
    });
    const pool = new HttpPool(srv.url, { connections: 1, timeoutMs: 1000 });
    const h = collect();
    await pool.request(POST, h);
    assert.equal(h.body, "data: 1\n\ndata: 2\n\n");
    await pool.close();
    await srv.close();
  });

  test("https: the certificate is checked; with the check off (--insecure) it streams like http", async () => {
    const srv = await serve((s) => s.write(ok("secure")), true);
    const pool = new HttpPool(srv.url, { connections: 1, timeoutMs: 2000 });
    const err = await failure(pool.request(POST, collect()));
    assert.match(err.code, /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
    await pool.close();
    const trusting = new HttpPool(srv.url, { connections: 1, timeoutMs: 2000, tls: { insecure: true } });
    const h = collect();
    await trusting.request(POST, h);
    assert.equal(h.body, "secure");
    await trusting.close();
    await srv.close();
  });

  test("header fields that would split the request are refused", () => {
    assert.throws(
      () =>
        new HttpPool(new URL("http://127.0.0.1:1"), {
          connections: 1,
          timeoutMs: 1,
          headers: { "x-a": "1\r\nx: 2" },
        }),
      HttpClientError,
    );
  });
});
