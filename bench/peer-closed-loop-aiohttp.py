"""A plain closed-loop client, the reference for llm-bench's concurrency-capped load (issue: closed-loop parity).

usage: peer-closed-loop-aiohttp.py BASE_URL DATASET_JSONL CONCURRENCY [MODEL]

Sends every dataset line (trtllm-bench's JSONL: `input_ids` + `output_tokens`) to BASE_URL/v1/completions as a
streamed request with the token ids as prompt, `max_tokens` = `ignore_eos` + `min_tokens` = output_tokens, at most
CONCURRENCY at once (asyncio.Semaphore around the whole request, as vLLM's benchmark_serving and most asyncio
clients do: a slot is free only after the response body has been read to its end). Prints one JSON line with
per-request TTFT / TPOT / E2E percentiles (ms), output token throughput and wall time, all on CLOCK_MONOTONIC.
"""
import asyncio
import json
import sys
import time

import aiohttp


def pct(xs, p):
    # trtllm-bench's percentile: the value at index int(p/100 * n) of the sorted sample, clamped
    s = sorted(xs)
    i = min(len(s) - 1, int(p / 100 * len(s)))
    return s[i]


async def one(session, sem, url, model, req, out):
    body = {
        "model": model,
        "prompt": req["input_ids"],
        "max_tokens": req["output_tokens"],
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "ignore_eos": True,
        "min_tokens": req["output_tokens"],
    }
    async with sem:
        start = time.monotonic_ns()
        first = None
        last = None
        tokens = 0
        async with session.post(url, json=body) as resp:
            if resp.status != 200:
                out.append({"error": resp.status})
                await resp.read()
                return
            async for line in resp.content:
                line = line.strip()
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    break
                msg = json.loads(data)
                u = msg.get("usage")
                if u and u.get("completion_tokens") is not None:
                    tokens = u["completion_tokens"]
                ch = msg.get("choices") or []
                if ch and ch[0].get("text"):
                    now = time.monotonic_ns()
                    if first is None:
                        first = now
                    last = now
        end = time.monotonic_ns()
        out.append({"start": start, "first": first, "last": last, "end": end, "tokens": tokens})


async def main():
    base, path, conc = sys.argv[1].rstrip("/"), sys.argv[2], int(sys.argv[3])
    model = sys.argv[4] if len(sys.argv) > 4 else "bench"
    if base.endswith("/v1"):
        base = base[:-3]
    reqs = [json.loads(line) for line in open(path) if line.strip()]
    sem = asyncio.Semaphore(conc)
    out = []
    conn = aiohttp.TCPConnector(limit=conc)
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        t0 = time.monotonic_ns()
        await asyncio.gather(*(one(session, sem, base + "/v1/completions", model, r, out) for r in reqs))
        t1 = time.monotonic_ns()
    ok = [r for r in out if "error" not in r and r["first"] is not None]
    ttft = [(r["first"] - r["start"]) / 1e6 for r in ok]
    e2e = [(r["end"] - r["start"]) / 1e6 for r in ok]
    tpot = [(r["last"] - r["first"]) / 1e6 / (r["tokens"] - 1) for r in ok if r["tokens"] > 1]
    toks = sum(r["tokens"] for r in ok)
    summary = {"requests": len(reqs), "failed": len(reqs) - len(ok), "wall_s": (t1 - t0) / 1e9,
               "output_tok_s": toks / ((t1 - t0) / 1e9)}
    for name, xs in (("ttft_ms", ttft), ("tpot_ms", tpot), ("e2e_ms", e2e)):
        if xs:
            summary[name] = {"min": min(xs), "avg": sum(xs) / len(xs), "p50": pct(xs, 50), "p90": pct(xs, 90),
                             "p99": pct(xs, 99), "max": max(xs)}
    print(json.dumps(summary))


asyncio.run(main())
