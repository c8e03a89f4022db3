"""HTTP client overhead: our OpenAI-compatible backend vs the official openai client.

A loopback server (phi1.llm.testserver, echo answers, no faults) runs in its own process
and answers at once, so the time measured is the clients' own. Every client sends the same
N chat requests at the same concurrency. Prints requests/s for the openai package's
AsyncOpenAI (the peer), a bare aiohttp loop (the floor: no retries, no bookkeeping) and
ours (``load_llm(url).chat``: retries, load balancing, usage), the ratios, and the machine.

Wall-clock requests/s is capped by the server (one Python process) and by whatever else
the machine runs, so each client's own CPU time per request is printed too, and the rate
one fully used core would sustain at that cost (``1 / CPU seconds per request``): the
client overhead in a form that background load barely moves.

    .venv/bin/python benchmarks/bench_llm_client.py --requests 4000 --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

from _machine import describe
from phi1.llm import GenParams, load_llm


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "phi1.llm.testserver", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/models", timeout=1).read()
            return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the test server did not start")


def messages(n: int) -> list[list[dict]]:
    return [[{"role": "user", "content": f"question number {i}"}] for i in range(n)]


def run_openai(url: str, convs: list, concurrency: int) -> float:
    from openai import AsyncOpenAI

    async def main() -> None:
        client = AsyncOpenAI(base_url=url, api_key="none", max_retries=8)
        sem = asyncio.Semaphore(concurrency)

        async def one(conv):
            async with sem:
                r = await client.chat.completions.create(
                    model="phi1-test", messages=conv, max_tokens=16, temperature=0.0
                )
                return r.choices[0].message.content

        out = await asyncio.gather(*(one(c) for c in convs))
        assert out[-1] == f"echo: {convs[-1][0]['content']}"
        await client.close()

    t0, c0 = time.perf_counter(), time.process_time()
    asyncio.run(main())
    return len(convs) / (time.perf_counter() - t0), (time.process_time() - c0) / len(convs)


def run_aiohttp(url: str, convs: list, concurrency: int) -> float:
    import aiohttp

    async def main() -> None:
        conn = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=conn) as session:
            sem = asyncio.Semaphore(concurrency)

            async def one(conv):
                body = {"model": "phi1-test", "messages": conv, "max_tokens": 16}
                async with sem, session.post(f"{url}/chat/completions", json=body) as r:
                    return (await r.json())["choices"][0]["message"]["content"]

            out = await asyncio.gather(*(one(c) for c in convs))
            assert out[-1] == f"echo: {convs[-1][0]['content']}"

    t0, c0 = time.perf_counter(), time.process_time()
    asyncio.run(main())
    return len(convs) / (time.perf_counter() - t0), (time.process_time() - c0) / len(convs)


def run_ours(url: str, convs: list, concurrency: int) -> float:
    llm = load_llm(url, model="phi1-test", concurrency=concurrency)
    t0, c0 = time.perf_counter(), time.process_time()
    out = llm.chat(convs, GenParams(max_tokens=16))
    rate = len(convs) / (time.perf_counter() - t0)
    cpu = (time.process_time() - c0) / len(convs)
    assert out[-1].text == f"echo: {convs[-1][0]['content']}"
    assert llm.usage.requests == len(convs) and llm.usage.retries == 0
    llm.close()
    return rate, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3, help="best of this many runs each")
    args = ap.parse_args()
    print(describe())
    print(f"{args.requests} chat requests, concurrency {args.concurrency}, loopback server")
    proc, url = start_server()
    try:
        convs = messages(args.requests)
        clients = {"openai.AsyncOpenAI": run_openai, "bare aiohttp": run_aiohttp,
                   "phi1 (ours)": run_ours}  # fmt: skip
        for fn in clients.values():  # warm up: imports, connections, the server's code paths
            fn(url, convs[:200], args.concurrency)
        best = {name: 0.0 for name in clients}
        cpu = {name: float("inf") for name in clients}
        for _ in range(args.rounds):  # interleaved, so background load hits all alike
            for name, fn in clients.items():
                rate, per_request = fn(url, convs, args.concurrency)
                best[name] = max(best[name], rate)
                cpu[name] = min(cpu[name], per_request)
    finally:
        proc.kill()
        proc.wait()
    for name, rate in best.items():
        print(f"{name:20s} {rate:8.0f} requests/s wall   {cpu[name] * 1e3:6.3f} ms client CPU "
              f"per request = {1 / cpu[name]:7.0f} requests/s per client core")  # fmt: skip
    ours, peer, floor = best["phi1 (ours)"], best["openai.AsyncOpenAI"], best["bare aiohttp"]
    print(f"ratio ours / openai client: {ours / peer:.2f} wall, "
          f"{cpu['openai.AsyncOpenAI'] / cpu['phi1 (ours)']:.2f} per CPU")  # fmt: skip
    print(f"ratio ours / bare aiohttp:  {ours / floor:.2f} wall, "
          f"{cpu['bare aiohttp'] / cpu['phi1 (ours)']:.2f} per CPU")  # fmt: skip
    capacity = 1 / cpu["phi1 (ours)"]
    print(f"target >= 1000 requests/s at concurrency {args.concurrency}: wall {ours:.0f} "
          f"({'met' if ours >= 1000 else 'not met here'}), client capacity {capacity:.0f} "
          f"per core ({'met' if capacity >= 1000 else 'NOT met'})")  # fmt: skip
    print(json.dumps({"load_average": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
