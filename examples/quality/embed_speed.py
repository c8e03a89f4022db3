"""Seconds per file of one embedder on the classifier's view of standard-library files (the
first 1,000 characters, leading banners skipped), for embedders too slow for ``table.py``.

    PYTHONPATH=src PHI1_LLAMA_THREADS=2 python examples/quality/embed_speed.py \
        qwen2.5-coder-0.5b-instruct --files 10
"""

from __future__ import annotations

import argparse
import itertools
import time

from phi1.data.annotate import quality_view
from phi1.data.readers import read_source
from phi1.llm.embed import load_embedder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("embedder")
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--max-chars", type=int, default=1000)
    args = ap.parse_args()
    records = itertools.islice(read_source("stdlib"), args.files + 1)
    views = [quality_view(r["text"], args.max_chars) for r in records]
    emb = load_embedder(args.embedder, max_chunks=2)
    emb.embed(views[:1])  # the model loaded before timing
    t0 = time.perf_counter()
    X = emb.embed(views[1:])
    took = time.perf_counter() - t0
    n = len(views) - 1
    print(f"{args.embedder}: {n} stdlib files (first {args.max_chars} characters, banners "
          f"skipped), {took / n:.2f} s per file, dim {X.shape[1]}")  # fmt: skip


if __name__ == "__main__":
    main()
