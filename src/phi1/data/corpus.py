"""The ``corpus`` stage: read the code corpus once into ``OUT/documents/part-NNNNN.jsonl``.

Every later data stage of ``phi1 run`` reads this copy, so they all see the same documents.
It has no command of its own; the pipeline calls :func:`collect_corpus` with the recipe's
``corpus:`` section.
"""

from __future__ import annotations

import heapq
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from phi1.data.readers import DEFAULT_SOURCES, ReaderSettings, ReadStats, read_corpus
from phi1.errors import Phi1Error
from phi1.io import atomic_write_json, sha256_text


def collect_corpus(
    inputs: list[str] | str | None = None,
    out: str | None = None,
    max_documents: int | None = None,
    seed: int = 0,
    shard_documents: int = 50_000,
    reader: ReaderSettings = ReaderSettings(),  # noqa: B008 (jsonargparse reads it)
    progress: bool = True,
) -> dict:
    """Read the code corpus once into ``OUT/documents/part-NNNNN.jsonl`` (phi1 records).

    Every later data stage reads this copy, so they all see the same documents. With
    ``max_documents`` the copy is a seeded sample: the documents with the smallest
    ``sha256(seed:id)``, which does not depend on read order.

    Args:
        inputs: Corpus sources (as for ``phi1 annotate``). Default: stdlib and site-packages.
        out: Output directory.
        max_documents: Keep at most this many documents (a seeded sample); None: all.
        seed: Seed of that sample.
        shard_documents: Documents per output file.
        reader: How sources are read (extensions, max_bytes, text_column, ...).
        progress: Show a progress bar (documents read).
    """
    if out is None:
        raise Phi1Error("corpus: out is required")
    if max_documents is not None and max_documents < 1:
        raise Phi1Error(f"corpus.max_documents must be >= 1, got {max_documents}")
    if shard_documents < 1:
        raise Phi1Error(f"corpus.shard_documents must be >= 1, got {shard_documents}")
    sources = list(DEFAULT_SOURCES) if inputs is None else inputs
    sources = [sources] if isinstance(sources, str) else list(sources)
    t0 = time.perf_counter()
    stats = ReadStats()
    records: Iterator[dict] = read_corpus(sources, settings=reader, stats=stats)
    if max_documents is not None:
        records = iter(_sample(records, max_documents, seed))
    docs, tmp = Path(out) / "documents", Path(out) / ".documents.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    n, chars, by_source = _write_shards(records, tmp, shard_documents, progress)
    if n == 0:
        raise Phi1Error(f"corpus: no documents in {', '.join(sources)} ({stats.summary()})")
    shutil.rmtree(docs, ignore_errors=True)
    os.replace(tmp, docs)
    summary = {
        "inputs": sources,
        "documents": n,
        "characters": chars,
        "by_source": dict(sorted(by_source.items())),
        "max_documents": max_documents,
        "seed": seed,
        "read": stats.to_dict(),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    atomic_write_json(Path(out) / "corpus.json", summary)
    sources_line = ", ".join(f"{k} {v}" for k, v in summary["by_source"].items())
    print(f"corpus: {n} documents ({sources_line}); {stats.summary()}")
    return summary


def _write_shards(
    records: Iterable[dict], folder: Path, shard_documents: int, progress: bool
) -> tuple[int, int, Counter]:
    """Write the records ``shard_documents`` to a file; return documents, characters and
    documents per source."""
    from tqdm import tqdm

    by_source: Counter = Counter()
    n = chars = 0
    f = None
    bar = tqdm(desc="corpus", unit=" docs", disable=not progress, dynamic_ncols=True)
    try:
        for record in records:
            bar.update()
            if n % shard_documents == 0:
                if f is not None:
                    f.close()
                f = (folder / f"part-{n // shard_documents:05d}.jsonl").open("w", encoding="utf-8")
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
            chars += len(record["text"])
            by_source[record["meta"].get("source", "?")] += 1
    finally:
        bar.close()
        if f is not None:
            f.close()
    return n, chars, by_source


def _sample(records: Iterator[dict], k: int, seed: int) -> list[dict]:
    """The k records with the smallest ``sha256(seed:id)``, in read order."""
    heap: list[tuple[int, int, dict]] = []  # (-key, order, record): a max-heap of the k best
    for order, record in enumerate(records):
        key = int(sha256_text(f"{seed}:{record['id']}")[:16], 16)
        if len(heap) < k:
            heapq.heappush(heap, (-key, order, record))
        elif -key > heap[0][0]:
            heapq.heapreplace(heap, (-key, order, record))
    return [r for _, _, r in sorted(heap, key=lambda t: t[1])]
