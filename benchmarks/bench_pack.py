"""Packing throughput and memory: ``phi1 pack`` against plain HF tokenizers + numpy.

The peer is what one writes by hand: read the files, ``tokenizers.Tokenizer.encode_batch``
(Rust, all cores) a batch of documents at a time with the same codegen-350M-mono vocabulary,
append <|endoftext|>, ``np.uint16``, write. Both stream the same files in the same order and
must produce the same token stream (checked by hash). Peak RSS is the sum over the process
and its children (phi1's workers), sampled from /proc every 50 ms.

    .venv/bin/python benchmarks/bench_pack.py                    # the standard library
    .venv/bin/python benchmarks/bench_pack.py --site-packages    # + site-packages (RSS < 1 GB?)
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe  # noqa: E402

BATCH = 256


def files_of(inputs: list[str], glob: str) -> list[Path]:
    return [f for d in inputs for f in sorted(Path(d).rglob(glob)) if f.is_file()]


def peer(inputs: list[str], glob: str, out: str, q) -> None:
    import numpy as np

    from phi1.model.tokenizer import build_reference

    tok = build_reference()
    t0 = time.perf_counter()
    h, tokens, docs = hashlib.sha256(), 0, 0
    with open(out, "wb") as f:
        batch: list[str] = []
        files = files_of(inputs, glob)
        for i, path in enumerate(files):
            try:
                text = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                text = ""
            if text:
                batch.append(text)
            if len(batch) == BATCH or (i == len(files) - 1 and batch):
                ids = [e.ids + [50256] for e in tok.encode_batch(batch, add_special_tokens=False)]
                arr = np.concatenate([np.asarray(x, dtype="<u2") for x in ids])
                f.write(arr.tobytes())
                h.update(arr.tobytes())
                tokens += arr.size
                docs += len(batch)
                batch = []
    q.put((tokens, docs, time.perf_counter() - t0, h.hexdigest()))


def ours(inputs: list[str], glob: str, out: str, workers: int, q) -> None:
    import numpy as np

    from phi1.data.pack import PackSettings, pack

    t0 = time.perf_counter()
    index = pack(inputs, out, PackSettings(glob=glob, workers=workers), progress=False)
    seconds = time.perf_counter() - t0
    h = hashlib.sha256()
    for shard in index["shards"]:
        h.update(np.fromfile(Path(out) / shard["file"], dtype="<u2").tobytes())
    q.put((index["tokens"], index["documents"], seconds, h.hexdigest()))


def tree_rss_mb(root: int) -> float:
    """Resident memory of ``root`` and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        kids = [c for c, p in parents.items() if p == pid and c not in tree]
        tree.update(kids)
        frontier += kids
    total = 0
    for pid in tree:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def measure(fn, *args) -> tuple[tuple, float]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=fn, args=(*args, q))
    p.start()
    peak, stop = [0.0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], tree_rss_mb(p.pid))
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = q.get()
    p.join()
    stop.set()
    sampler.join()
    return result, peak[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="*", help="directories (default: the standard library)")
    ap.add_argument("--site-packages", action="store_true", help="add site-packages")
    ap.add_argument("--glob", default="*.py")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    ap.add_argument("--skip-peer", action="store_true", help="only measure phi1 pack")
    args = ap.parse_args()
    inputs = args.inputs or [sysconfig.get_paths()["stdlib"]]
    if args.site_packages:
        inputs.append(sysconfig.get_paths()["purelib"])
    print(describe())
    print(f"inputs: {', '.join(inputs)} ({args.glob})")
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        if not args.skip_peer:
            rows.append(("HF tokenizers + numpy", *measure(peer, inputs, args.glob, f"{tmp}/p")))
        for w in sorted(set(args.workers)):
            label = f"phi1 pack, {w} worker{'s' if w > 1 else ''}"
            rows.append((label, *measure(ours, inputs, args.glob, f"{tmp}/o{w}", w)))
    for name, (tokens, docs, seconds, _), rss in rows:
        print(
            f"  {name:24s} {docs:7,} docs {tokens:12,} tokens {seconds:7.1f} s "
            f"{tokens / seconds:10,.0f} tok/s  peak RSS {rss:6.0f} MB"
        )
    if not args.skip_peer:
        base = rows[0][1]
        for name, result, _ in rows[1:]:
            same = "identical stream" if result[3] == base[3] else "STREAMS DIFFER"
            print(f"  ratio {name} / peer: {base[2] / result[2]:.2f}x tokens/s ({same})")


if __name__ == "__main__":
    main()
