import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { HttpProtocolError, type ResponseHead, ResponseParser } from "./response-parser.ts";

interface Seen {
  heads: ResponseHead[];
  body: string;
  complete: number;
}

function parser(method = "POST"): { p: ResponseParser; seen: Seen } {
  const seen: Seen = { heads: [], body: "", complete: 0 };
  const p = new ResponseParser(
    {
      onHead: (h) => seen.heads.push(h),
      onBody: (b) => {
        seen.body += b.toString("latin1");
      },
      onComplete: () => {
        seen.complete++;
      },
    },
    method,
  );
  return { p, seen };
}

/** Feeds `wire` cut at every position into two reads (and byte by byte): every split must read the same. */
function everySplit(wire: string, check: (seen: Seen, p: ResponseParser) => void, method = "POST"): void {
  const bytes = Buffer.from(wire, "latin1");
  for (let cut = 0; cut <= bytes.length; cut++) {
    const { p, seen } = parser(method);
    p.feed(bytes.subarray(0, cut));
    p.feed(bytes.subarray(cut));
    check(seen, p);
  }
  const { p, seen } = parser(method);
  for (let i = 0; i < bytes.length; i++) p.feed(bytes.subarray(i, i + 1));
  check(seen, p);
}

describe("ResponseParser", () => {
  test("Content-Length body, at every split", () => {
    everySplit("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", (seen, p) => {
      assert.equal(seen.heads.length, 1);
      assert.equal(seen.heads[0]!.status, 200);
      assert.equal(seen.heads[0]!.headers["content-type"], "text/plain");
      assert.equal(seen.heads[0]!.keepAlive, true);
      assert.equal(seen.body, "hello");
      assert.equal(seen.complete, 1);
      assert.equal(p.done, true);
    });
  });

  test("chunked body with extensions and trailers, at every split", () => {
    const wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nKeep-Alive: timeout=5, max=100\r\n\r\n" +
      "6\r\ndata: \r\n3;ext=1\r\nab\n\r\nA \r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";
    everySplit(wire, (seen) => {
      assert.equal(seen.body, "data: ab\n0123456789");
      assert.equal(seen.complete, 1);
      assert.equal(seen.heads[0]!.keepAliveTimeoutS, 5);
    });
  });

  test("chunk sizes in upper and lower case, with leading zeros, and too long ones refused", () => {
    const body = "x".repeat(0x1a);
    everySplit(
      `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1A\r\n${body}\r\n0001a\r\n${body}\r\n0\r\n\r\n`,
      (seen) => {
        assert.equal(seen.body, body + body);
        assert.equal(seen.complete, 1);
      },
    );
    const { p } = parser();
    assert.throws(
      () =>
        p.feed(Buffer.from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0000000000001\r\nx\r\n")),
      HttpProtocolError,
    );
  });

  test("interim 1xx responses are skipped; the final one is reported", () => {
    everySplit("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", (seen) => {
      assert.deepEqual(
        seen.heads.map((h) => h.status),
        [201],
      );
      assert.equal(seen.body, "ok");
    });
  });

  test("a body without length runs to the close and the connection is not reused", () => {
    const { p, seen } = parser();
    p.feed(Buffer.from("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\n"));
    assert.equal(p.closeDelimited, true);
    p.feed(Buffer.from("data: 2\n\n"));
    assert.equal(seen.complete, 0);
    assert.equal(p.end(), true);
    assert.equal(seen.complete, 1);
    assert.equal(seen.body, "data: 1\n\ndata: 2\n\n");
    assert.equal(seen.heads[0]!.keepAlive, false);
    // A framed body that ends early is not complete.
    const cut = parser();
    cut.p.feed(Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"));
    assert.equal(cut.p.end(), false);
  });

  test("connection semantics: HTTP/1.0, Connection: close, 204, HEAD", () => {
    const old = parser();
    old.p.feed(Buffer.from("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
    assert.equal(old.seen.heads[0]!.keepAlive, false);
    const oldKa = parser();
    oldKa.p.feed(Buffer.from("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"));
    assert.equal(oldKa.seen.heads[0]!.keepAlive, true);
    const close = parser();
    close.p.feed(Buffer.from("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"));
    assert.equal(close.seen.heads[0]!.keepAlive, false);
    const none = parser();
    none.p.feed(Buffer.from("HTTP/1.1 204 No Content\r\n\r\n"));
    assert.equal(none.seen.complete, 1);
    const head = parser("HEAD");
    head.p.feed(Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"));
    assert.equal(head.seen.complete, 1);
  });

  test("a long head split over many reads counts each byte once against the limit", () => {
    const wire = Buffer.from(`HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(40_000)}\r\nContent-Length: 0\r\n\r\n`);
    const { p, seen } = parser();
    for (let i = 0; i < wire.length; i += 9_999) p.feed(wire.subarray(i, i + 9_999));
    assert.equal(seen.complete, 1);
    assert.equal(seen.heads[0]!.headers["x-big"]!.length, 40_000);
  });

  test("an oversized head or trailer section: the message gives the section's limit and the bytes received", () => {
    // 100 fields of ~1 KB in 64 KiB reads: the line that crosses the limit is short, the section is not.
    let fields = "";
    for (let k = 0; k < 100; k++) fields += `X-F${k}: ${"x".repeat(1000)}\r\n`;
    const wire = Buffer.from(`HTTP/1.1 200 OK\r\n${fields}Content-Length: 0\r\n\r\n`);
    const { p } = parser();
    assert.throws(
      () => {
        for (let i = 0; i < wire.length; i += 65_536) p.feed(wire.subarray(i, i + 65_536));
      },
      (e: Error) => {
        const m =
          /^response head exceeds the 64 KiB \(65536 bytes\) limit: (\d+) bytes received so far$/.exec(
            e.message,
          );
        return e instanceof HttpProtocolError && m !== null && Number(m[1]) > 65_536 && Number(m[1]) < 67_000;
      },
    );
    const trailers = parser();
    assert.throws(
      () =>
        trailers.p.feed(
          Buffer.from(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n${fields}\r\n`),
        ),
      /^Error: trailer section exceeds the 64 KiB \(65536 bytes\) limit: \d+ bytes received so far$/,
    );
    const chunk = parser();
    assert.throws(
      () =>
        chunk.p.feed(Buffer.from(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${"1".repeat(5000)}`)),
      /chunk size line exceeds the 4 KiB \(4096 bytes\) limit: 5000 bytes received so far/,
    );
  });

  test("repeated fields are joined; names are case-insensitive", () => {
    const { p, seen } = parser();
    p.feed(Buffer.from("HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a:  2 \r\nContent-Length: 0\r\n\r\n"));
    assert.equal(seen.heads[0]!.headers["x-a"], "1, 2");
  });

  test("what is not HTTP/1.x is a protocol error", () => {
    const bad = [
      "SSH-2.0-OpenSSH\r\n\r\n",
      "HTTP/2 200\r\n\r\n",
      "HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab",
      "HTTP/1.1 101 Switching Protocols\r\n\r\n",
      `HTTP/1.1 200 OK\r\nX: ${"a".repeat(70_000)}\r\n\r\n`,
    ];
    for (const wire of bad) {
      const { p } = parser();
      assert.throws(() => p.feed(Buffer.from(wire)), HttpProtocolError, wire.slice(0, 60));
    }
  });
});
