"""What the textbook and exercise generators share: the job (two prompt templates rendered
into a chat request, sampled with a per-job seed, every draw recorded), the meta a completion
adds, the model's name in records and fingerprints, and the last step of a run (collect,
drop duplicates, write, summarise).

Layout it writes into ``out``: ``NAME.jsonl`` (the final records, in job order),
``rejects-dedup.jsonl`` (the duplicates dropped, each naming the record it repeats) and
``summary.json``; the records come from the runner's ``out/generated/`` unless the stage
passes its own. Checks that run code (a section's blocks, an exercise's candidates) keep
their verdicts in a JSONL file (:func:`cached_checks`), so a re-run repeats none of them.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from phi1.io import JsonlWriter, atomic_write_json, read_jsonl, sha256_json, write_jsonl
from phi1.llm.base import LLM, Completion, GenParams, Request
from phi1.llm.prompts import render, template_hash
from phi1.llm.runner import Job, read_records, read_rejects
from phi1.synth.topics import tree_identity
from phi1.text.minhash import DedupSettings, find_duplicates


def chat_job(
    kind: str,
    index: int,
    settings: Any,
    templates: dict[str, str],
    *,
    user: str,
    fields: dict[str, Any],
    meta: dict[str, Any],
    sample_seed: int,
    stop: tuple[str, ...] = (),
) -> Job:
    """Job ``KIND-NNNNNNN``: templates ``KIND.system`` and ``user`` rendered with ``fields``,
    sampled with the settings' ``max_tokens``, ``temperature``, ``top_p`` and
    ``sample_seed``; ``meta`` gains the template, its hash and the seeds (the job's draws come
    from ``random.Random(f"{settings.seed}:{kind}:{index}")``)."""
    system = f"{kind}.system"
    messages = [
        {"role": "system", "content": render(templates, system, **fields)},
        {"role": "user", "content": render(templates, user, **fields)},
    ]
    params = GenParams(
        max_tokens=settings.max_tokens,
        temperature=settings.temperature,
        top_p=settings.top_p,
        stop=stop,
        seed=sample_seed,
    )
    meta = {
        **meta,
        "template": user,
        "template_hash": template_hash(templates, system, user),
        "seed": settings.seed,
        "index": index,
        "rng": f"random.Random('{settings.seed}:{kind}:{index}')",
        "sample_seed": sample_seed,
        "temperature": settings.temperature,
        "top_p": settings.top_p,
    }
    return Job(f"{kind}-{index:07d}", Request(messages=messages, params=params), meta)


def completion_meta(job: Job, completion: Completion, model: str) -> dict[str, Any]:
    """The job's meta with what the completion adds: the model, why it ended, its tokens."""
    return {
        **job.meta,
        "model": model,
        "finish_reason": completion.finish_reasons[0],
        "completion_tokens": completion.completion_tokens,
    }


def run_fingerprint(
    kind: str, user: str, settings: Any, llm: LLM, templates: dict, *, leave_out: tuple = ()
) -> dict[str, Any]:
    """What fixes each job's content (the settings but ``n``, ``templates`` and
    ``leave_out``; the two templates' hash; the topic tree; the model): a run directory
    accepts only this configuration."""
    fp = {k: v for k, v in vars(settings).items() if k not in ("n", "templates", *leave_out)}
    fp["templates"] = template_hash(templates, f"{kind}.system", user)
    fp["topics"] = tree_identity()
    fp["llm"] = model_name(llm)
    return fp


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
    records: list[dict[str, Any]] | None = None,
    rejects: list[dict[str, Any]] | None = None,
    threshold: float = 0.7,
    duplicate_key: Callable[[dict], Hashable] | None = None,
    extra: dict[str, Any] | Callable[[list[dict[str, Any]]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Drop duplicates among this run's records (in job order), write the final file.

    ``records`` default to the runner's ``out/generated/`` and ``rejects`` (the earlier
    checks' rejects, counted in the summary) to its rejects. Duplicates: MinHash
    near-duplicates of ``record["text"]`` at Jaccard ``threshold`` by default, or exact
    matches of ``duplicate_key(record)`` when given (exercises compare their syntax trees
    with the names taken out). ``extra`` goes into the summary as it is, or, a function,
    what it returns for the records kept after the duplicates are dropped.
    """
    wanted = {i: k for k, i in enumerate(ids)}
    if records is None:
        records = read_records(out / "generated")
    if rejects is None:
        rejects = read_rejects(out / "generated")
    records = sorted((r for r in records if r["id"] in wanted), key=lambda r: wanted[r["id"]])
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
    reasons = Counter(r["reason"] for r in rejects if r["id"] in wanted)
    reasons.update(r["reason"] for r in dropped)
    summary = {
        "asked": len(ids),
        "kept": len(kept),
        "rejected": sum(reasons.values()),
        "reasons": dict(reasons.most_common()),
        **(extra(kept) if callable(extra) else extra or {}),
        "file": str(out / name),
        "usage_this_run": usage,
    }
    atomic_write_json(out / "summary.json", summary)
    return summary


def add_usage(usages: list[dict[str, Any]]) -> dict[str, Any]:
    """The usage of several runner passes as one (counts summed; cost None if all were)."""
    total: dict[str, Any] = {}
    for usage in usages:
        for key, value in usage.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                total[key] = (total.get(key) or 0) + value
            else:
                total.setdefault(key, value)
    return total


def cached_checks(
    path: Path,
    items: list[tuple[str, Any]],
    fingerprint: Any,
    check: Callable[[list[Any]], list[dict[str, Any]]],
    *,
    batch: int = 32,
    progress: bool = False,
    desc: str = "checked",
) -> dict[str, dict[str, Any]]:
    """``check``'s verdict on each ``(id, item)``, computed in batches of ``batch`` and kept
    in ``path`` (one ``{"id", "key", "verdict"}`` a line, fsynced per batch).

    A verdict is reused when its ``key`` (a hash of ``fingerprint`` and the item) is the
    one the item has now: a re-run after a kill checks only what is left, and a changed
    item or fingerprint (the check's settings) is checked again. ``check`` takes a list of
    items and returns one verdict dict per item, in order.
    """
    keys = {i: sha256_json([fingerprint, item]) for i, item in items}
    done: dict[str, dict[str, Any]] = {}
    if path.exists():
        with JsonlWriter(path):  # cuts a line torn by a kill
            pass
        for row in read_jsonl(path, required=("id", "key", "verdict")):
            if keys.get(row["id"]) == row["key"]:
                done[row["id"]] = row["verdict"]
    todo = [(i, item) for i, item in items if i not in done]
    with JsonlWriter(path) as writer:
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            verdicts = check([item for _, item in chunk])
            for (i, _), verdict in zip(chunk, verdicts, strict=True):
                writer.write({"id": i, "key": keys[i], "verdict": verdict})
                done[i] = verdict
            writer.flush()
            if progress:
                print(f"{desc}: {len(done)} of {len(items)}", file=sys.stderr, flush=True)
    return done


def _exact_duplicates(keys: list[Hashable]) -> list[tuple[str, int] | None]:
    """For each key: ``None`` when first seen, else ``("duplicate", index of the first)``."""
    first: dict[Hashable, int] = {}
    found: list[tuple[str, int] | None] = []
    for k, key in enumerate(keys):
        found.append(("duplicate", first[key]) if key in first else None)
        first.setdefault(key, k)
    return found
