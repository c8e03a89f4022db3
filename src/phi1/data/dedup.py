"""``phi1 dedup``: exact and near-duplicate removal over a corpus, first one wins.

The matching itself (normalised hashes, MinHash, LSH banding) is :mod:`phi1.text.minhash`,
shared with the synth stage; this module streams a corpus through it, writes what it kept
and what it dropped, and reports progress on long runs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.text.minhash import Deduplicator, DedupSettings, text_batches

__all__ = ["DedupSettings", "Progress", "dedup_records", "run_dedup"]


def dedup_records(
    records: Iterable[dict],
    settings: DedupSettings | None = None,
    *,
    on_drop: Callable[[dict, str, str], None] | None = None,
    batch: int = 256,
    progress: Callable[[Deduplicator], None] | None = None,
) -> Iterator[dict]:
    """Yield the records to keep; ``on_drop(record, reason, id of the kept original)`` for
    the rest. Records are read in batches, so the output lags the input by one batch."""
    dd = Deduplicator(settings)
    ids: list[str] = []  # global index -> id (kept ones are looked up)
    for chunk in text_batches(records, lambda r: r["text"], batch):
        results = dd.feed([r["text"] for r in chunk])
        for record, result in zip(chunk, results, strict=True):
            ids.append(record["id"])
            if result is None:
                yield record
            elif on_drop is not None:
                on_drop(record, result[0], ids[result[1]])
        if progress is not None:
            progress(dd)


class Progress:
    """Throttled one-line progress for long dedup runs."""

    def __init__(self, every_s: float = 5.0, printer: Callable[[str], None] = print) -> None:
        self.every_s, self.printer = every_s, printer
        self.t0 = self.last = time.monotonic()

    def __call__(self, dd: Deduplicator) -> None:
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            rate = dd.seen / max(now - self.t0, 1e-9)
            self.printer(
                f"dedup: {dd.seen} docs ({rate:.0f}/s), kept {dd.kept}, "
                f"exact {dd.dropped['exact-duplicate']}, near {dd.dropped['near-duplicate']}"
            )


def run_dedup(
    sources: list[str],
    out_dir: str | os.PathLike,
    settings: DedupSettings | None = None,
    reader: Any = None,
) -> dict[str, Any]:
    """``phi1 dedup``: read the sources, write ``kept.jsonl``, ``rejects.jsonl`` and
    ``summary.json`` into ``out_dir``. The outputs appear atomically at the end; a finished
    run with the same inputs and settings is not repeated."""
    from phi1.data.readers import ReaderSettings, ReadStats, parse_source, read_corpus
    from phi1.io import JsonlWriter, atomic_write_json, read_json

    s = settings or DedupSettings()
    reader = reader or ReaderSettings()
    parsed = [parse_source(src) for src in sources]
    fingerprint = {
        "sources": [p.spec for p in parsed],
        "reader": asdict(reader),
        "dedup": asdict(s),
    }
    fingerprint = json.loads(json.dumps(fingerprint))
    out = Path(out_dir)
    summary_path = out / "summary.json"
    if summary_path.exists() and (out / "kept.jsonl").exists():
        previous = read_json(summary_path)
        if previous.get("fingerprint") == fingerprint:
            return {**previous, "text": f"dedup: already done in {out} ({previous['line']})"}
    out.mkdir(parents=True, exist_ok=True)
    tmp_kept, tmp_rejects = out / ".kept.jsonl.tmp", out / ".rejects.jsonl.tmp"
    for tmp in (tmp_kept, tmp_rejects):
        tmp.unlink(missing_ok=True)
    stats = ReadStats()
    t0 = time.monotonic()
    progress = Progress(printer=lambda m: print(m, file=sys.stderr, flush=True))
    dd_state: dict[str, Deduplicator] = {}

    def track(dd: Deduplicator) -> None:
        dd_state["dd"] = dd
        progress(dd)

    with JsonlWriter(tmp_kept) as kept, JsonlWriter(tmp_rejects) as rejects:

        def on_drop(record: dict, reason: str, original: str) -> None:
            rejects.write({"id": record["id"], "reason": reason, "duplicate_of": original,
                           "record": record})  # fmt: skip

        records = read_corpus([p.spec for p in parsed], settings=reader, stats=stats)
        for record in dedup_records(records, s, on_drop=on_drop, progress=track):
            kept.write(record)
    dd = dd_state.get("dd")
    if dd is None or dd.seen == 0:
        raise Phi1Error(f"dedup: the corpus is empty ({', '.join(sources)}; {stats.summary()})")
    seconds = time.monotonic() - t0
    os.replace(tmp_kept, out / "kept.jsonl")
    os.replace(tmp_rejects, out / "rejects.jsonl")
    line = (
        f"{dd.seen} documents: kept {dd.kept}, exact duplicates "
        f"{dd.dropped['exact-duplicate']}, near duplicates {dd.dropped['near-duplicate']}"
    )
    summary = {
        "fingerprint": fingerprint,
        "line": line,
        "documents": dd.seen,
        "kept": dd.kept,
        "dropped": dict(dd.dropped),
        "lsh": {"bands": dd.bands, "rows": dd.rows},
        "reader": stats.to_dict(),
        "seconds": round(seconds, 1),
        "docs_per_second": round(dd.seen / max(seconds, 1e-9), 1),
    }
    atomic_write_json(summary_path, summary)
    text = (
        f"dedup: {line} ({summary['docs_per_second']} docs/s); reader {stats.summary()}\n"
        f"dedup: kept documents in {out / 'kept.jsonl'}, rejects in {out / 'rejects.jsonl'}"
    )
    return {**summary, "text": text}
