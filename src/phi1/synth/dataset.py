"""What the textbook and exercise generators share: the model's name in their records and
fingerprints, and the last step of a run (collect, drop duplicates, write, summarise).

Layout it writes into ``out``: ``NAME.jsonl`` (the final records, in job order),
``rejects-dedup.jsonl`` (the duplicates dropped, each naming the record it repeats) and
``summary.json``; the records come from the runner's ``out/generated/``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from phi1.io import atomic_write_json, write_jsonl
from phi1.llm.base import LLM
from phi1.llm.runner import read_records, read_rejects
from phi1.text.minhash import DedupSettings, find_duplicates


def model_name(llm: LLM) -> str:
    """The name a generator records for the model that wrote a record."""
    ident = llm.identity()
    return str(ident.get("name") or ident.get("model") or ident.get("backend"))


def finalize(
    out: Path,
    name: str,
    ids: list[str],
    usage: dict[str, Any],
    *,
    threshold: float = 0.7,
    duplicate_key: Callable[[dict], Hashable] | None = None,
) -> dict[str, Any]:
    """Collect this run's records (in job order), drop duplicates, write the final file.

    Duplicates: MinHash near-duplicates of ``record["text"]`` at Jaccard ``threshold`` by
    default, or exact matches of ``duplicate_key(record)`` when given (exercises compare
    their syntax trees with the names taken out).
    """
    wanted = {i: k for k, i in enumerate(ids)}
    records = [r for r in read_records(out / "generated") if r["id"] in wanted]
    records.sort(key=lambda r: wanted[r["id"]])
    if duplicate_key is None:
        texts = [r["text"] for r in records]
        found = find_duplicates(texts, DedupSettings(threshold=threshold))
    else:
        found = _exact_duplicates([duplicate_key(r) for r in records])
    kept, dropped = [], []
    for record, hit in zip(records, found, strict=True):
        if hit is None:
            kept.append(record)
        else:
            reason, original = hit
            dropped.append(
                {
                    "id": record["id"],
                    "reason": reason.replace("-", "_"),
                    "detail": f"duplicate of {records[original]['id']}",
                    "record": record,
                }
            )
    write_jsonl(out / name, kept)
    write_jsonl(out / "rejects-dedup.jsonl", dropped)
    reasons = Counter(r["reason"] for r in read_rejects(out / "generated") if r["id"] in wanted)
    reasons.update(r["reason"] for r in dropped)
    summary = {
        "asked": len(ids),
        "kept": len(kept),
        "rejected": sum(reasons.values()),
        "reasons": dict(reasons.most_common()),
        "file": str(out / name),
        "usage_this_run": usage,
    }
    atomic_write_json(out / "summary.json", summary)
    return summary


def _exact_duplicates(keys: list[Hashable]) -> list[tuple[str, int] | None]:
    """For each key: ``None`` when first seen, else ``("duplicate", index of the first)``."""
    first: dict[Hashable, int] = {}
    found: list[tuple[str, int] | None] = []
    for k, key in enumerate(keys):
        found.append(("duplicate", first[key]) if key in first else None)
        first.setdefault(key, k)
    return found
