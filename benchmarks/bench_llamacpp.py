"""llama.cpp backend throughput: ours vs raw llama-cpp-python ``create_completion``.

Both run the same GGUF with the same threads and context on the same prompts, greedy, the
same number of new tokens; rounds are interleaved so background load hits both alike.
Ours adds what a stage gets: parameter checks, tokenization with BOS handling, a fresh KV
cache per request (determinism), usage counting. Prints generated tokens/s for each, the
ratio (target >= 0.90) and the machine.

    .venv/bin/python benchmarks/bench_llamacpp.py --model smollm2-135m-instruct --rounds 3
"""

from __future__ import annotations

import argparse
import time

from _machine import describe
from phi1.llm import GenParams, load_llm

PROMPTS = [
    "def fibonacci(n):\n",
    "def is_prime(n: int) -> bool:\n",
    "# Merge two sorted lists into one sorted list\ndef merge(a, b):\n",
    "class Stack:\n    def __init__(self):\n",
    'def count_vowels(text):\n    """Return how many vowels text has."""\n',
    "import math\n\ndef circle_area(r):\n",
    "def binary_search(items, target):\n",
    'def flatten(nested):\n    """Flatten a list of lists."""\n',
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="default: the idle cores")
    args = ap.parse_args()

    ours = load_llm(args.model, n_ctx=1024, n_threads=args.threads)
    raw = ours.llama  # the very same llama_cpp.Llama: same weights, threads and context
    params = GenParams(max_tokens=args.max_tokens, temperature=0.0)
    print(describe())
    print(f"model {args.model}, {ours.n_threads} threads, {len(PROMPTS)} prompts x "
          f"{args.max_tokens} new tokens, greedy, {args.rounds} rounds")  # fmt: skip

    def run_raw() -> tuple[int, float]:
        t0, n = time.perf_counter(), 0
        for p in PROMPTS:
            out = raw.create_completion(p, max_tokens=args.max_tokens, temperature=0.0)
            n += out["usage"]["completion_tokens"]
        return n, time.perf_counter() - t0

    def run_ours() -> tuple[int, float]:
        t0 = time.perf_counter()
        out = ours.complete(PROMPTS, params)
        return sum(c.completion_tokens for c in out), time.perf_counter() - t0

    run_raw(), run_ours()  # warm up
    totals = {"raw llama-cpp-python": [0, 0.0], "phi1 (ours)": [0, 0.0]}
    for _ in range(args.rounds):
        for name, fn in (("raw llama-cpp-python", run_raw), ("phi1 (ours)", run_ours)):
            n, dt = fn()
            totals[name][0] += n
            totals[name][1] += dt
    rates = {name: n / dt for name, (n, dt) in totals.items()}
    for name, rate in rates.items():
        print(f"{name:22s} {rate:8.1f} tokens/s  ({totals[name][0]} tokens)")
    ratio = rates["phi1 (ours)"] / rates["raw llama-cpp-python"]
    print(f"ratio ours / raw: {ratio:.3f} (target >= 0.90: {'met' if ratio >= 0.9 else 'NOT met'})")
    ours.close()


if __name__ == "__main__":
    main()
