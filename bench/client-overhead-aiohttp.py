"""The Python side of bench/client-overhead.ts: the same work as llm-bench's client with aiohttp (asyncio).

usage: client-overhead-aiohttp.py BASE_URL CONCURRENCY REQUESTS TOKENS
Streams REQUESTS completions (prompt = [request index], so the server can pair its timestamps), at most
CONCURRENCY at once over one pooled session, parses every SSE event as JSON, keeps text, usage and per-chunk
times, and prints one JSON line: token events, client CPU seconds (process_time), wall seconds, and TTFT minus
the server's own request-read -> first-write time (both CLOCK_MONOTONIC).
"""
import asyncio
import json
import sys
import time

import aiohttp


async def one(session, sem, url, idx, n, out):
    body = {
        "model": "bench",
        "prompt": [idx],
        "max_tokens": n,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True, "continuous_usage_stats": True},
        "ignore_eos": True,
        "min_tokens": n,
    }
    async with sem:
        start = time.monotonic_ns()
        first = None
        chunk_times = []
        parts = []
        usage = None
        ok = False
        try:
            async with session.post(url, json=body) as resp:
                if resp.status == 200:
                    async for line in resp.content:
                        now = time.monotonic_ns()
                        line = line.strip()
                        if not line.startswith(b"data:"):
                            continue
                        data = line[5:].strip()
                        if data == b"[DONE]":
                            ok = True
                            break
                        msg = json.loads(data)
                        u = msg.get("usage")
                        if u:
                            usage = u.get("completion_tokens")
                        choices = msg.get("choices")
                        if choices:
                            text = choices[0].get("text")
                            if text:
                                if first is None:
                                    first = now
                                chunk_times.append(now)
                                parts.append(text)
        except aiohttp.ClientError:
            ok = False
        out.append((idx, start, first, ok, len(chunk_times), usage, "".join(parts)))


async def run(base, conc, total, n, offset):
    url = base + "/v1/completions"
    sem = asyncio.Semaphore(conc)
    out = []
    connector = aiohttp.TCPConnector(limit=conc, limit_per_host=conc)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        # warmup: open the pool (and as many requests as llm-bench's JIT warmup), then drop the server's timestamps
        warmup = max(conc, 1000)
        await asyncio.gather(*(one(session, sem, url, offset + 10_000_000 + i, n, []) for i in range(warmup)))
        async with session.get(base + "/stats") as r:
            await r.read()
        cpu0 = time.process_time()
        wall0 = time.monotonic()
        await asyncio.gather(*(one(session, sem, url, offset + i, n, out) for i in range(total)))
        cpu = time.process_time() - cpu0
        wall = time.monotonic() - wall0
        async with session.get(base + "/stats") as r:
            srv = json.loads(await r.read())
    added = []
    delivery = []
    events = 0
    failed = 0
    for idx, start, first, ok, k, usage, _text in out:
        if not ok or first is None:
            failed += 1
            continue
        events += k
        recv, written = srv[str(idx)]
        added.append((first - start) - (written - recv))
        delivery.append(first - written)
    return events, cpu, wall, added, delivery, failed


def main():
    base, conc, total, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    events, cpu, wall, added, delivery, failed = asyncio.run(run(base, conc, total, n, 0))
    added.sort()
    delivery.sort()

    def at(xs, q):
        return xs[min(len(xs) - 1, int(len(xs) * q))] / 1e6 if xs else 0.0

    def pick(q):
        return at(added, q)

    print(json.dumps({
        "events": events,
        "cpu_s": cpu,
        "wall_s": wall,
        "failed": failed,
        "ttft_added_ms": {"p50": pick(0.5), "p99": pick(0.99), "mean": sum(added) / len(added) / 1e6 if added else 0.0},
        "delivery_ms": {"p50": at(delivery, 0.5), "p99": at(delivery, 0.99)},
    }))


main()
