"""The one resumable generation runner: jobs in, sharded JSONL records out.

Every stage that asks an LLM for many answers (textbooks, exercises, annotation, graded
evaluation) builds :class:`Job` objects with deterministic, unique ids and calls
:func:`run_jobs`. The runner

- skips jobs whose id is already in the output directory (a record or a reject), so a
  re-run after a crash or ``kill -9`` resumes and every id ends up exactly once;
- appends records to ``part-WWW-SSSSS.jsonl`` and rejects to ``rejects-WWW-SSSSS.jsonl``
  (W = worker, S = shard of ``shard_size`` lines), fsynced every ``flush_every`` results or
  ``flush_seconds``; a line torn by a kill is cut off on the next run;
- keeps a ``manifest.json`` (settings fingerprint, model identity, counts, usage) and
  refuses to mix outputs of a different configuration into the same directory;
- shows progress: requests/s, tokens/s, ETA, retries and cost;
- turns each completion into a record or a :class:`Reject` with a reason through the
  caller's ``postprocess`` hook.

Greedy decoding with fixed per-job seeds makes the set of records deterministic; an HTTP
backend answers out of order, so :func:`read_records` sorts by id when asked.
Several processes or machines split one job list with ``worker``/``workers`` (by a hash of
the id), each writing its own files into the same directory.
"""

from __future__ import annotations

import os
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.io import JsonlWriter, atomic_write_json, read_json, read_jsonl, repair_jsonl
from phi1.llm.base import LLM, Completion, Request


@dataclass(frozen=True)
class Job:
    """One request to make: ``id`` must be unique and the same on every run."""

    id: str
    request: Request
    meta: dict[str, Any] = field(default_factory=dict)
    """Anything ``postprocess`` needs to build the record (topic, seed, template name...)."""


@dataclass
class Reject:
    """What ``postprocess`` returns for a completion that fails a check."""

    reason: str
    """A short, stable label ("code_does_not_parse", "too_short"): counted in reports."""
    record: dict[str, Any] | None = None
    """The would-be record, kept for audit."""
    detail: str = ""


Postprocess = Callable[[Job, Completion], "dict[str, Any] | Reject"]


@dataclass
class RunnerSettings:
    """How the runner writes and reports; recipes fill this as ``runner: {...}``."""

    shard_size: int = 10_000
    """Lines per output file before a new shard starts."""
    flush_every: int = 32
    """fsync the output after this many results (a kill loses at most these)."""
    flush_seconds: float = 10.0
    """...or after this many seconds, whichever comes first."""
    progress: bool = True
    """Show a progress bar on stderr."""
    worker: int = 0
    """This process's share of the jobs (0-based), when several split one job list."""
    workers: int = 1
    """How many processes split the job list."""
    parquet: bool = False
    """Also write each finished JSONL shard as Parquet (``part-*.parquet``) at the end."""


@dataclass
class RunResult:
    """What one call of :func:`run_jobs` did."""

    out_dir: Path
    written: int = 0
    rejected: int = 0
    skipped: int = 0
    """Jobs already finished by an earlier run."""
    reasons: Counter = field(default_factory=Counter)
    usage: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def default_postprocess(job: Job, completion: Completion) -> dict[str, Any]:
    """Record = the first sample as ``text`` (all samples in ``texts`` when n > 1)."""
    record: dict[str, Any] = {"id": job.id, "text": completion.text, "meta": dict(job.meta)}
    if len(completion.texts) > 1:
        record["texts"] = completion.texts
    record["meta"]["finish_reason"] = completion.finish_reasons[0]
    return record


def shard_of(job_id: str, workers: int) -> int:
    """The worker that owns ``job_id`` (stable across runs and machines)."""
    return zlib.crc32(job_id.encode("utf-8")) % workers


def finished_ids(out_dir: str | os.PathLike, worker: int | None = None) -> set[str]:
    """Ids already written (records and rejects) by ``worker`` (all workers if None)."""
    out = Path(out_dir)
    pattern = "*.jsonl" if worker is None else f"*-{worker:03d}-*.jsonl"
    ids: set[str] = set()
    for path in sorted(out.glob(pattern)):
        if not path.name.startswith(("part-", "rejects-")):
            continue
        if worker is not None:
            repair_jsonl(path)  # this worker's own file: cut a line torn by a kill
        for row in read_jsonl(path, required=("id",)):
            ids.add(row["id"])
    return ids


def read_records(out_dir: str | os.PathLike, *, sort: bool = False) -> list[dict[str, Any]]:
    """All records of a run directory (every worker), sorted by id when ``sort``."""
    rows = [r for p in _files(out_dir, "part-") for r in read_jsonl(p)]
    return sorted(rows, key=lambda r: r["id"]) if sort else rows


def read_rejects(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """All rejects of a run directory: ``{"id", "reason", "detail", "record"}``."""
    return [r for p in _files(out_dir, "rejects-") for r in read_jsonl(p)]


def _files(out_dir: str | os.PathLike, prefix: str) -> list[Path]:
    out = Path(out_dir)
    if not out.is_dir():
        raise Phi1Error(f"{out}: no such directory")
    return sorted(out.glob(f"{prefix}*.jsonl"))


class _ShardedWriter:
    """Appends rows to ``{prefix}-WWW-SSSSS.jsonl``, starting a new shard every N lines."""

    def __init__(self, out: Path, prefix: str, worker: int, shard_size: int):
        self.out, self.prefix, self.worker, self.shard_size = out, prefix, worker, shard_size
        existing = sorted(out.glob(f"{prefix}-{worker:03d}-*.jsonl"))
        self.shard = int(existing[-1].stem.rsplit("-", 1)[1]) if existing else 0
        self.lines = _count_lines(existing[-1]) if existing else 0
        self.writer: JsonlWriter | None = None

    def write(self, row: dict[str, Any]) -> None:
        if self.writer is None or self.lines >= self.shard_size:
            if self.writer is not None:
                self.writer.close()
                self.shard += 1
                self.lines = 0
            path = self.out / f"{self.prefix}-{self.worker:03d}-{self.shard:05d}.jsonl"
            self.writer = JsonlWriter(path)
        self.writer.write(row)
        self.lines += 1

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _count_lines(path: Path) -> int:
    repair_jsonl(path)
    with path.open("rb") as f:
        return sum(1 for _ in f)


def run_jobs(
    jobs: Iterable[Job],
    llm: LLM,
    out_dir: str | os.PathLike,
    *,
    postprocess: Postprocess | None = None,
    settings: RunnerSettings | None = None,
    fingerprint: dict[str, Any] | None = None,
    total: int | None = None,
    desc: str = "generating",
) -> RunResult:
    """Run every job not finished yet in ``out_dir``; return counts and usage.

    Args:
        jobs: the full job list of the run (finished ones are skipped); ids must be unique.
        llm: the backend (:func:`phi1.llm.load_llm`).
        out_dir: the run directory; created if missing.
        postprocess: completion -> record dict or :class:`Reject`; default
            :func:`default_postprocess`. The runner sets the record's ``id``.
        settings: sharding, flushing, progress, worker split.
        fingerprint: what defines this run's output (template, model, sampling...): a later
            run into the same directory must present the same one.
        total: how many jobs there are, for the ETA, when ``jobs`` has no ``len``.
        desc: the progress bar's label.

    Raises:
        Phi1Error: duplicate job ids, a fingerprint mismatch, or a backend failure; every
            result finished before the failure is on disk.
    """
    settings = settings or RunnerSettings()
    postprocess = postprocess or default_postprocess
    if not 0 <= settings.worker < settings.workers:
        raise Phi1Error(f"runner.worker must be in [0, {settings.workers}), got {settings.worker}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest = _check_manifest(manifest_path, fingerprint)

    done = finished_ids(out, settings.worker)
    if total is None and hasattr(jobs, "__len__"):
        total = len(jobs)  # type: ignore[arg-type]
    if total is not None and settings.workers > 1:
        total = None  # this worker's share is only known as it goes
    result = RunResult(out_dir=out)
    queue = _Queue(jobs, done, settings, result)
    writer = _ResultWriter(out, settings, result)
    bar = _Progress(desc, total, len(done), llm, enabled=settings.progress)
    start = time.monotonic()
    usage_before = llm.usage.to_dict()
    try:
        for i, completion in llm.stream(queue.requests()):
            job = queue.finished(i)
            writer.write(job, postprocess(job, completion))
            bar.update(completion)
    except Phi1Error as e:
        kept = result.written + result.rejected
        if not kept:
            raise
        raise Phi1Error(
            f"{e} ({kept} results of this run are kept in {out}; re-run to resume)"
        ) from None
    finally:
        writer.close()
        bar.close()
        result.seconds = time.monotonic() - start
        result.usage = _usage_delta(usage_before, llm.usage.to_dict())
        _write_manifest(manifest_path, manifest, fingerprint, llm, settings, result)
    if settings.parquet:
        export_parquet(out)
    return result


class _Queue:
    """The jobs this worker still has to ask, as requests; remembers which is which."""

    def __init__(
        self, jobs: Iterable[Job], done: set[str], settings: RunnerSettings, result: RunResult
    ):
        self.jobs, self.done, self.settings, self.result = jobs, done, settings, result
        self.in_flight: dict[int, Job] = {}

    def requests(self) -> Iterator[Request]:
        """Each unfinished job's request, in order (read lazily by the backend)."""
        workers, worker = self.settings.workers, self.settings.worker
        asked = 0  # the backend numbers the requests it reads from 0
        for job in self._unique(self.jobs):
            if workers > 1 and shard_of(job.id, workers) != worker:
                continue
            if job.id in self.done:
                self.result.skipped += 1
                continue
            self.in_flight[asked] = job
            asked += 1
            yield job.request

    def finished(self, index: int) -> Job:
        """The job of the ``index``-th request the backend read (now answered)."""
        return self.in_flight.pop(index)

    @staticmethod
    def _unique(jobs: Iterable[Job]) -> Iterator[Job]:
        seen: set[str] = set()
        for job in jobs:
            if job.id in seen:
                raise Phi1Error(f"duplicate job id {job.id!r}: ids must be unique")
            seen.add(job.id)
            yield job


class _ResultWriter:
    """Writes records and rejects, counts them, and fsyncs every ``flush_every`` results or
    ``flush_seconds``."""

    def __init__(self, out: Path, settings: RunnerSettings, result: RunResult):
        self.settings, self.result = settings, result
        self.records = _ShardedWriter(out, "part", settings.worker, settings.shard_size)
        self.rejects = _ShardedWriter(out, "rejects", settings.worker, settings.shard_size)
        self.last_flush, self.unflushed = time.monotonic(), 0

    def write(self, job: Job, outcome: dict[str, Any] | Reject) -> None:
        if isinstance(outcome, Reject):
            row = {"id": job.id, "reason": outcome.reason, "detail": outcome.detail}
            self.rejects.write(row | {"record": outcome.record})
            self.result.rejected += 1
            self.result.reasons[outcome.reason] += 1
        else:
            outcome["id"] = job.id
            self.records.write(outcome)
            self.result.written += 1
        self.unflushed += 1
        now = time.monotonic()
        if (
            self.unflushed >= self.settings.flush_every
            or now - self.last_flush >= self.settings.flush_seconds
        ):
            self.records.flush()
            self.rejects.flush()
            self.last_flush, self.unflushed = now, 0

    def close(self) -> None:
        self.records.close()
        self.rejects.close()


def _check_manifest(path: Path, fingerprint: dict[str, Any] | None) -> dict[str, Any]:
    if not path.exists():
        return {}
    manifest = read_json(path)
    old = manifest.get("fingerprint")
    if fingerprint is not None and old is not None and old != _jsonable(fingerprint):
        changed = sorted(
            k for k in set(old) | set(fingerprint) if old.get(k) != _jsonable(fingerprint.get(k))
        )
        raise Phi1Error(
            f"{path}: this directory holds output made with other settings "
            f"(differs in: {', '.join(changed)}); use a new output directory"
        )
    return manifest


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


def _write_manifest(
    path: Path,
    manifest: dict[str, Any],
    fingerprint: dict[str, Any] | None,
    llm: LLM,
    settings: RunnerSettings,
    result: RunResult,
) -> None:
    runs = list(manifest.get("runs", []))
    runs.append(
        {
            "worker": settings.worker,
            "written": result.written,
            "rejected": result.rejected,
            "skipped": result.skipped,
            "reasons": dict(result.reasons),
            "seconds": round(result.seconds, 3),
            "usage": result.usage,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    atomic_write_json(
        path,
        {
            "fingerprint": _jsonable(fingerprint) if fingerprint is not None else None,
            "llm": llm.identity(),
            "runner": asdict(settings),
            "runs": runs,
        },
    )


def _usage_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    delta = {}
    for k, v in after.items():
        b = before.get(k)
        delta[k] = v - b if isinstance(v, int | float) and isinstance(b, int | float) else v
    return delta


def export_parquet(out_dir: str | os.PathLike) -> list[Path]:
    """Write each ``part-*.jsonl`` of a run directory beside it as ``.parquet``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    written = []
    for path in _files(out_dir, "part-"):
        rows = list(read_jsonl(path))
        try:
            table = pa.Table.from_pylist(rows)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise Phi1Error(f"{path}: cannot be written as Parquet ({e})") from None
        target = path.with_suffix(".parquet")
        pq.write_table(table, target)
        written.append(target)
    return written


class _Progress:
    """A tqdm bar whose postfix shows requests/s, tokens/s, retries and cost."""

    def __init__(self, desc: str, total: int | None, done: int, llm: LLM, *, enabled: bool):
        self.llm = llm
        self.start = time.monotonic()
        self.requests = 0
        self.tokens = 0
        self._last = 0.0
        self.bar = None
        if enabled:
            from tqdm import tqdm

            remaining = None if total is None else max(0, total - done)
            self.bar = tqdm(total=remaining, desc=desc, unit="req", file=sys.stderr,
                            dynamic_ncols=True, smoothing=0.05)  # fmt: skip

    def update(self, completion: Completion) -> None:
        self.requests += 1
        self.tokens += completion.completion_tokens
        if self.bar is None:
            return
        self.bar.update(1)
        now = time.monotonic()
        if now - self._last >= 0.5:
            self._last = now
            elapsed = max(now - self.start, 1e-9)
            usage = self.llm.usage
            postfix = f"{self.tokens / elapsed:.1f} tok/s"
            if usage.retries:
                postfix += f", {usage.retries} retries"
            if usage.cost is not None:
                postfix += f", cost {usage.cost:.4f}"
            self.bar.set_postfix_str(postfix, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
