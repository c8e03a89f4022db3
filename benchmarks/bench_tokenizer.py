"""Tokenization throughput: phi1's fast path against Hugging Face ``tokenizers``.

Both encode every .py file of the Python standard library with the codegen-350M-mono
vocabulary, through their batch APIs on all cores (``encode_batch``; Hugging Face's with
``TOKENIZERS_PARALLELISM=true``). The ids must be identical: the script compares their
hashes and fails otherwise. Each side runs in its own process, so its peak RSS is its own
(it includes the texts, loaded the same way by both).

    .venv/bin/python benchmarks/bench_tokenizer.py
    .venv/bin/python benchmarks/bench_tokenizer.py --every 10   # a tenth of the files
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import sysconfig
import time
import tokenize
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe  # noqa: E402


def stdlib_texts(every: int) -> list[str]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts)[::every]
    texts = []
    for path in files:
        try:
            with tokenize.open(path) as f:
                texts.append(f.read())
        except (SyntaxError, UnicodeDecodeError):
            texts.append(path.read_bytes().decode("latin-1"))
    return texts


def worker(side: str, every: int, repeats: int) -> dict:
    texts = stdlib_texts(every)
    if side == "hf":
        os.environ["TOKENIZERS_PARALLELISM"] = "true"
        from phi1.model.tokenizer import build_reference

        tok = build_reference()

        def encode() -> list[list[int]]:
            return [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
    else:
        from phi1.model.tokenizer import get_tokenizer

        tok = get_tokenizer()

        def encode() -> list[list[int]]:
            return tok.encode_batch(texts)

    best, ids = float("inf"), []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ids = encode()
        best = min(best, time.perf_counter() - t0)
    h = hashlib.sha256()
    for row in ids:
        h.update(json.dumps(row).encode())
    return {
        "seconds": best,
        "mb": sum(len(t.encode("utf-8")) for t in texts) / 1e6,
        "files": len(texts),
        "tokens": sum(map(len, ids)),
        "ids_sha256": h.hexdigest(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run(side: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--worker", side, "--every", str(args.every)]
    cmd += ["--repeats", str(args.repeats)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--every", type=int, default=1, help="take every Nth stdlib file")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs; the best counts")
    parser.add_argument("--worker", choices=["hf", "phi1"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.every, args.repeats)))
        return
    print(describe())
    peer, us = run("hf", args), run("phi1", args)
    if peer["ids_sha256"] != us["ids_sha256"]:
        raise SystemExit("token ids differ between Hugging Face and phi1: not comparable")
    print(f"input: {us['files']} stdlib files, {us['mb']:.1f} MB, {us['tokens']:,} tokens")
    for name, r in (("peer  HF tokenizers encode_batch", peer), ("us    phi1 encode_batch", us)):
        print(
            f"{name:34s} {r['mb'] / r['seconds']:7.2f} MB/s  "
            f"{r['tokens'] / r['seconds'] / 1e6:6.2f} M tokens/s  "
            f"peak RSS {r['peak_rss_mb']:.0f} MB"
        )
    print(
        f"ratio us/peer: {peer['seconds'] / us['seconds']:.2f}x throughput, "
        f"{us['peak_rss_mb'] / peer['peak_rss_mb']:.2f}x peak RSS; ids identical"
    )


if __name__ == "__main__":
    main()
