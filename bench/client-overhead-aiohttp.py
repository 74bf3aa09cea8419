"""The Python side of bench/client-overhead.ts: the same work as llm-bench's client with aiohttp (asyncio).

usage: client-overhead-aiohttp.py BASE_URL CONCURRENCY REQUESTS TOKENS [WARMUP_TOKENS [RATE SKIP]]
RATE > 0: open-loop Poisson arrivals at RATE/s (no cap), the first SKIP requests left out of the TTFT figures.
Streams REQUESTS completions (prompt = [request index], so the server can pair its timestamps), at most
CONCURRENCY at once over one pooled session, parses every SSE event as JSON, keeps text, usage and per-chunk
times, and prints one JSON line: token events, client CPU seconds (process_time), wall seconds, and the TTFT the
client adds: start -> request body handed to the transport (send) plus the server's first-event write -> the
client's first token (delivery), all on CLOCK_MONOTONIC.
"""
import asyncio
import json
import random
import sys
import time

import aiohttp


async def one(session, sem, url, idx, n, out, sent_at, due=None):
    if due is not None:
        # Open loop: wait for this request's arrival time, then go (no concurrency cap).
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
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
        sent_at[idx] = start
        first = None
        chunk_times = []
        parts = []
        usage = None
        ok = False
        try:
            async with session.post(url, json=body, trace_request_ctx={"idx": idx}) as resp:
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
        out.append((idx, start, sent_at.pop(idx, start), first, ok, len(chunk_times), usage, "".join(parts)))


async def run(base, conc, total, n, warmup_n, rate, skip, offset):
    url = base + "/v1/completions"
    sem = asyncio.Semaphore(conc if rate <= 0 else 1_000_000)
    out = []
    sent_at = {}

    # The body is written right after this callback returns (aiohttp's StreamWriter.write): the send stamp.
    async def on_chunk_sent(_session, ctx, _params):
        if ctx.trace_request_ctx:  # not the /stats requests
            sent_at[ctx.trace_request_ctx["idx"]] = time.monotonic_ns()

    trace = aiohttp.TraceConfig()
    trace.on_request_chunk_sent.append(on_chunk_sent)
    limit = conc if rate <= 0 else 0  # open loop: as many connections as requests in flight
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, trace_configs=[trace]) as session:
        # warmup: open the pool (and as many requests as llm-bench's JIT warmup), then drop the server's timestamps
        # At least 1,000 requests and 3 s, like llm-bench's client: the machine's speed ramps up under load.
        warm0, warmed = time.monotonic(), 0
        while warmed < 1000 or time.monotonic() - warm0 < 3.0:
            n_batch = max(conc, 200)
            await asyncio.gather(
                *(
                    one(session, sem, url, offset + 10_000_000 + warmed + i, warmup_n, [], sent_at)
                    for i in range(n_batch)
                )
            )
            warmed += n_batch
        async with session.get(base + "/stats") as r:
            await r.read()
        cpu0 = time.process_time()
        wall0 = time.monotonic()
        if rate > 0:
            rng = random.Random(0)
            t, dues = time.monotonic(), []
            for _ in range(total):
                dues.append(t)
                t += rng.expovariate(rate)
            await asyncio.gather(
                *(one(session, sem, url, offset + i, n, out, sent_at, dues[i]) for i in range(total))
            )
        else:
            await asyncio.gather(*(one(session, sem, url, offset + i, n, out, sent_at) for i in range(total)))
        cpu = time.process_time() - cpu0
        wall = time.monotonic() - wall0
        async with session.get(base + "/stats") as r:
            srv = json.loads(await r.read())
    added = []
    send = []
    delivery = []
    events = 0
    failed = 0
    for idx, start, sent, first, ok, k, usage, _text in out:
        if not ok or first is None:
            failed += 1
            continue
        events += k
        if idx - offset < skip:  # the open loop's ramp-up
            continue
        _recv, written = srv[str(idx)]
        send.append(sent - start)
        delivery.append(first - written)
        added.append((sent - start) + (first - written))
    return events, cpu, wall, added, send, delivery, failed


def main():
    base, conc, total, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    warmup_n = int(sys.argv[5]) if len(sys.argv) > 5 else n
    rate = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
    skip = int(sys.argv[7]) if len(sys.argv) > 7 else 0
    events, cpu, wall, added, send, delivery, failed = asyncio.run(
        run(base, conc, total, n, warmup_n, rate, skip, 0)
    )

    def q(xs):
        xs = sorted(xs)

        def at(p):
            return xs[min(len(xs) - 1, int(len(xs) * p))] / 1e6 if xs else 0.0

        return {"p50": at(0.5), "p99": at(0.99)}

    print(json.dumps({
        "events": events,
        "cpu_s": cpu,
        "wall_s": wall,
        "failed": failed,
        "ttft_added_ms": {**q(added), "mean": sum(added) / len(added) / 1e6 if added else 0.0},
        "send_ms": q(send),
        "delivery_ms": q(delivery),
    }))


main()
