"""MinHash near-duplicate removal: phi1.text.minhash against datasketch on the same texts.

Both sides get the same input (Python standard library files plus perturbed copies of some
of them, so that duplicates exist), the same shingles (lower-cased word 5-grams), 128
permutations and an LSH index at Jaccard 0.8 where the first of a group is kept. Timed end
to end from texts: shingling, signatures, index queries and inserts. Exact dedup is off on
our side (datasketch has none). Peak memory is measured in a second pass under tracemalloc.

    .venv/bin/python benchmarks/bench_dedup.py [--limit 1800] [--copies 300]
"""

from __future__ import annotations

import argparse
import random
import re
import time
import tracemalloc

from _machine import describe
from phi1.data.readers import read_source
from phi1.text.minhash import DedupSettings, find_duplicates

WORD = re.compile(r"[A-Za-z0-9_\x80-\U0010ffff]+")


def corpus(limit: int, copies: int, seed: int = 0) -> list[str]:
    texts = []
    for record in read_source("stdlib"):
        texts.append(record["text"])
        if len(texts) >= limit:
            break
    rng = random.Random(seed)
    for text in rng.sample(texts, min(copies, len(texts))):
        lines = text.splitlines()
        for _ in range(max(1, len(lines) // 30)):  # ~3% of the lines changed
            lines[rng.randrange(len(lines))] = f"edited = {rng.random()}"
        texts.append("\n".join(lines))
    return texts


def peer(texts: list[str], threshold: float, num_perm: int, ngram: int) -> list[bool]:
    """datasketch as its docs show it: MinHash.update_batch on encoded shingles, MinHashLSH."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    dropped = []
    for i, text in enumerate(texts):
        words = WORD.findall(text.lower())
        shingles = {
            " ".join(words[j : j + ngram]).encode() for j in range(max(len(words) - ngram + 1, 1))
        }
        m = MinHash(num_perm=num_perm)
        m.update_batch(shingles)
        if lsh.query(m):
            dropped.append(True)
        else:
            lsh.insert(i, m)
            dropped.append(False)
    return dropped


def ours(texts: list[str], threshold: float, num_perm: int, ngram: int) -> list[bool]:
    s = DedupSettings(exact=False, threshold=threshold, num_perm=num_perm, ngram=ngram)
    return [r is not None for r in find_duplicates(texts, s)]


def timed(fn, *args) -> tuple[float, list[bool]]:
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def peak_mib(fn, *args) -> float:
    tracemalloc.start()
    fn(*args)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=1800, help="stdlib files to read")
    ap.add_argument("--copies", type=int, default=300, help="perturbed copies appended")
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--ngram", type=int, default=5)
    ap.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    args = ap.parse_args()
    texts = corpus(args.limit, args.copies)
    mb = sum(len(t) for t in texts) / 1e6
    params = (texts, args.threshold, args.num_perm, args.ngram)
    print(describe())
    print(f"input: {len(texts)} texts ({mb:.1f} MB): stdlib files + {args.copies} near copies")
    t_peer, d_peer = timed(peer, *params)
    t_ours, d_ours = timed(ours, *params)
    both = sum(a and b for a, b in zip(d_peer, d_ours, strict=True))
    n_orig = len(texts) - args.copies  # the planted copies are the last texts
    print(
        f"datasketch : {len(texts) / t_peer:8.1f} docs/s  ({t_peer:.2f} s), dropped {sum(d_peer)}"
    )
    print(
        f"phi1       : {len(texts) / t_ours:8.1f} docs/s  ({t_ours:.2f} s), dropped {sum(d_ours)}"
    )
    print(f"ratio (phi1 / datasketch docs/s): {t_peer / t_ours:.2f}x; dropped by both: {both}")
    print(f"planted near copies dropped: datasketch {sum(d_peer[n_orig:])}/{args.copies}, "
          f"phi1 {sum(d_ours[n_orig:])}/{args.copies}; among the originals: datasketch "
          f"{sum(d_peer[:n_orig])}, phi1 {sum(d_ours[:n_orig])}")  # fmt: skip
    if not args.no_memory:
        m_peer, m_ours = peak_mib(peer, *params), peak_mib(ours, *params)
        print(f"peak traced memory: datasketch {m_peer:.0f} MiB, phi1 {m_ours:.0f} MiB")


if __name__ == "__main__":
    main()
