"""A plain closed-loop client for comparing llm-bench's TTFT/TPOT with a reference on the same server and workload.

usage: peer-closed-loop-aiohttp.py BASE_URL DATASET CONCURRENCY [--model NAME] [--endpoint completions|chat]
                                  [--num_requests N] [--warmup N] [--no_extensions] [--request_log PATH]

The textbook asyncio load loop (as in vLLM's benchmark_serving.py and most in-house scripts): one task per dataset
request, `async with asyncio.Semaphore(CONCURRENCY)` around the whole exchange, one pooled aiohttp session. A slot
is freed when the `async with` body ends: after `data: [DONE]` was read. Each request sends what llm-bench sends
(src/engine/openai/request-body.ts): the dataset's token ids as the prompt (completions; its text `prompt` when
it has no ids) or its text `prompt` as the user message (chat), max_tokens = output_tokens, temperature 0, stream with usage,
and unless --no_extensions ignore_eos + min_tokens + continuous_usage_stats.

Prints one JSON line: TTFT, TPOT and E2E percentiles (ms) computed as docs/metrics.md defines them (TTFT = first
content chunk − start, TPOT = (end − first) / (n − 1) with n = the server's completion_tokens, start taken after
the slot is acquired), failures, and the slot idle time (send − end of the request that freed the slot, paired in
FIFO order as asyncio.Semaphore hands slots over; the send is aiohttp's on_request_chunk_sent, the body handed to
the transport). All times on CLOCK_MONOTONIC (time.monotonic_ns).
"""
import argparse
import asyncio
import json
import sys
import time

import aiohttp


def pct(values, q):
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))]


def summary(values):
    if not values:
        return None
    return {
        "p50": pct(values, 0.5),
        "p90": pct(values, 0.9),
        "p99": pct(values, 0.99),
        "min": min(values),
        "max": max(values),
        "mean": sum(values) / len(values),
    }


def load_dataset(path, n):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            rows.append(json.loads(line))
            if n and len(rows) >= n:
                break
    return rows


def body_for(row, args):
    body = {"model": args.model}
    if args.endpoint == "chat":
        body["messages"] = [{"role": "user", "content": row["prompt"]}]
    else:
        body["prompt"] = row.get("input_ids") or row["prompt"]
    n = row["output_tokens"]
    body["max_tokens"] = n
    body["temperature"] = 0
    body["stream"] = True
    body["stream_options"] = {"include_usage": True}
    if not args.no_extensions:
        body["stream_options"]["continuous_usage_stats"] = True
        body["ignore_eos"] = True
        body["min_tokens"] = n
    return body


async def one(session, sem, url, row, args, log, slots):
    body = body_for(row, args)
    async with sem:
        start = time.monotonic_ns()
        slots["acquired"].append(start)
        sent = {}
        slots["sent"].append(sent)
        first = None
        chunks = 0
        usage = None
        prompt_usage = None
        ok = False
        err = None
        try:
            resp = None
            for attempt in (0, 1):
                # A kept-alive socket the server closed just as the request went out (llama-server's HTTP layer
                # closes connections after a number of requests): nothing came back, so it is sent once more on
                # a fresh socket, as llm-bench does; the start stays the first attempt's.
                try:
                    resp = await session.post(url, json=body, trace_request_ctx={"sent": sent})
                    break
                except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                    if attempt == 1:
                        raise
            async with resp:
                if resp.status != 200:
                    err = f"http_{resp.status}"
                else:
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
                        if msg.get("error"):
                            err = f"stream_error: {msg['error']}"
                            break
                        u = msg.get("usage")
                        if u:
                            usage = u.get("completion_tokens", usage)
                            prompt_usage = u.get("prompt_tokens", prompt_usage)
                        choices = msg.get("choices")
                        if choices:
                            c = choices[0]
                            text = c.get("text") if args.endpoint == "completions" else (c.get("delta") or {}).get("content")
                            if text:
                                if first is None:
                                    first = now
                                chunks += 1
        except aiohttp.ClientError as e:
            err = f"client_error: {e}"
        end = time.monotonic_ns()
        slots["freed"].append(end)
    log.append(
        {
            "id": row.get("task_id"),
            "start_ns": start,
            "first_token_ns": first,
            "end_ns": end,
            "output_tokens": usage,
            "input_tokens": prompt_usage,
            "chunks": chunks,
            "error": None if ok else (err or "incomplete_stream"),
        }
    )


async def run_phase(rows, args, url):
    sem = asyncio.Semaphore(args.concurrency)
    log = []
    slots = {"acquired": [], "freed": [], "sent": []}
    conn = aiohttp.TCPConnector(limit=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
    trace = aiohttp.TraceConfig()

    # The body was handed to the transport (aiohttp's StreamWriter.write): the send stamp, as llm-bench's `sent`.
    async def on_chunk_sent(_session, ctx, _params):
        ctx.trace_request_ctx["sent"].setdefault("ns", time.monotonic_ns())

    trace.on_request_chunk_sent.append(on_chunk_sent)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout, trace_configs=[trace]) as session:
        await asyncio.gather(*(one(session, sem, url, r, args, log, slots) for r in rows))
    return log, slots


def main():
    p = argparse.ArgumentParser()
    p.add_argument("base_url")
    p.add_argument("dataset")
    p.add_argument("concurrency", type=int)
    p.add_argument("--model", default="bench")
    p.add_argument("--endpoint", choices=["completions", "chat"], default="completions")
    p.add_argument("--num_requests", type=int, default=0)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--no_extensions", action="store_true")
    p.add_argument("--request_log")
    args = p.parse_args()
    root = args.base_url.rstrip("/")
    if not root.endswith("/v1"):
        root += "/v1"
    url = root + ("/chat/completions" if args.endpoint == "chat" else "/completions")
    rows = load_dataset(args.dataset, args.num_requests)
    if args.warmup:
        asyncio.run(run_phase(rows[: args.warmup], args, url))
    t0 = time.monotonic_ns()
    log, slots = asyncio.run(run_phase(rows, args, url))
    wall = (time.monotonic_ns() - t0) / 1e9
    good = [r for r in log if r["error"] is None]
    ttft = [(r["first_token_ns"] - r["start_ns"]) / 1e6 for r in good if r["first_token_ns"] is not None]
    tpot = [
        (r["end_ns"] - r["first_token_ns"]) / 1e6 / (r["output_tokens"] - 1)
        for r in good
        if r["first_token_ns"] is not None and (r["output_tokens"] or 0) > 1
    ]
    e2e = [(r["end_ns"] - r["start_ns"]) / 1e6 for r in good]
    # asyncio.Semaphore wakes waiters in FIFO order: the k-th freed slot goes to the (concurrency + k)-th acquire.
    order = sorted(range(len(slots["acquired"])), key=lambda i: slots["acquired"][i])[args.concurrency :]
    freed = sorted(slots["freed"])
    idle = [
        (slots["sent"][i].get("ns", slots["acquired"][i]) - f) / 1e6 for i, f in zip(order, freed)
    ]
    out = {
        "client": f"aiohttp {aiohttp.__version__}, python {sys.version.split()[0]}",
        "concurrency": args.concurrency,
        "requests": len(log),
        "failed": len(log) - len(good),
        "output_tokens": sum(r["output_tokens"] or 0 for r in good),
        "chunks": sum(r["chunks"] for r in good),
        "wall_s": wall,
        "output_tok_s": sum(r["output_tokens"] or 0 for r in good) / wall if wall > 0 else 0,
        "ttft_ms": summary(ttft),
        "tpot_ms": summary(tpot),
        "e2e_ms": summary(e2e),
        "slot_idle_ms": summary(idle),
    }
    if args.request_log:
        with open(args.request_log, "w") as f:
            for r in log:
                f.write(json.dumps(r) + "\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
