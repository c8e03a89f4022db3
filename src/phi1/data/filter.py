"""``phi1 filter``: score every document with the quality classifier, keep the educational
ones, as datatrove pipelines (local executor by default, Slurm or Ray at scale).

Two pipelines, each resumable per task (datatrove marks finished tasks in ``logs/``):

1. **score**: :class:`CorpusReader` (this task's share of the sources) ->
   :class:`QualityScorer` (embedding + forest, batched; ``meta.quality``) ->
   :class:`RecordWriter` into ``scored/``.
2. **filter**: :class:`RecordReader` (``scored/``) -> :class:`QualityFilter` (a datatrove
   ``BaseFilter``: keep when score >= threshold, else drop with reason ``low-quality``; the
   dropped go to ``rejects/`` as ``{"id", "reason", "score", "record"}``) ->
   :class:`RecordWriter` into ``kept/``.

``--filter.top_fraction`` turns into a threshold (the score quantile over ``scored/``) before
the second pipeline. An ablation's control arms keep the same number of documents otherwise:
``--filter.bottom_fraction`` the lowest-scored share, ``--filter.random_fraction`` a seeded
random share, whatever the scores (the filter against chance at equal size). Changing only
the cut re-runs the cheap second pipeline and reuses the scores. The run ends with
``summary.json`` (counts, reasons, skips, speed) and ``report.md`` (the highest- and
lowest-scored documents).

Steps keep only paths and settings; the embedder and forest load lazily inside each task, so
the steps pickle for worker processes and cluster executors.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from phi1.data.readers import ReaderSettings, ReadStats, parse_source, read_corpus
from phi1.errors import Phi1Error
from phi1.io import atomic_write_json, atomic_write_text, read_json, read_jsonl, sha256_json

SCORE_KEY = "quality"  # meta.quality = {"score": float, "classifier": sha256}
_LOADED: dict[tuple[str, str | None, str | None], Any] = {}


@dataclass(frozen=True)
class FilterSettings:
    """What to keep and how to run; ``phi1 filter`` takes it as ``filter:``."""

    threshold: float | None = None
    """Keep documents scoring at least this (default 0.5 when top_fraction is not set)."""
    top_fraction: float | None = None
    """Keep this share of the highest-scored documents instead of a fixed threshold."""
    bottom_fraction: float | None = None
    """Keep this share of the lowest-scored documents (an ablation's control arm)."""
    random_fraction: float | None = None
    """Keep this share of the documents drawn at random, whatever their scores (seeded by
    ``seed``): the filter against chance at the same size."""
    seed: int = 0
    """Seed of the ``random_fraction`` draw."""
    tasks: int = 8
    """Corpus shards (the unit of parallelism and resume)."""
    workers: int = 1
    """Tasks run at once by the local executor."""
    executor: str = "local"
    """local, slurm or ray."""
    batch_size: int = 32
    """Documents embedded per batch."""
    report_examples: int = 10
    """Highest and lowest documents listed in report.md."""
    embed_cache: str | None = None
    """Where embeddings are kept per task (default OUT/embeddings); share it between runs
    with the same sources, task count and embedder to rescore without re-embedding."""
    slurm: dict[str, Any] = field(default_factory=dict)
    """Options for datatrove's SlurmPipelineExecutor (partition, time, cpus_per_task...)."""

    def __post_init__(self) -> None:
        given = [k for k in CUTS if getattr(self, k) is not None]
        if len(given) > 1:
            raise Phi1Error(
                f"filter: give one of {', '.join('--filter.' + k for k in CUTS)}, not both "
                f"({' and '.join(given)})"
            )
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise Phi1Error(f"filter: threshold must be in [0, 1], got {self.threshold}")
        for name in CUTS[1:]:
            value = getattr(self, name)
            if value is not None and not 0.0 < value <= 1.0:
                raise Phi1Error(f"filter: {name} must be in (0, 1], got {value}")
        if self.tasks < 1 or self.workers < 1:
            raise Phi1Error("filter: tasks and workers must be >= 1")
        if self.executor not in ("local", "slurm", "ray"):
            raise Phi1Error(f"filter: executor must be local, slurm or ray, got {self.executor!r}")

    @property
    def rule(self) -> str:
        """How documents are kept: ``threshold``, ``top``, ``bottom`` or ``random``."""
        for name in CUTS[1:]:
            if getattr(self, name) is not None:
                return name.removesuffix("_fraction")
        return "threshold"

    @property
    def fraction(self) -> float | None:
        """The share kept by a fraction rule (None for a threshold)."""
        return None if self.rule == "threshold" else getattr(self, f"{self.rule}_fraction")


CUTS = ("threshold", "top_fraction", "bottom_fraction", "random_fraction")
# Why a document was dropped, per rule: under bottom and random it is not for low quality.
DROP_REASON = {"threshold": "low-quality", "top": "low-quality", "bottom": "not-in-bottom",
               "random": "not-drawn"}  # fmt: skip


def draw(seed: int, doc_id: str) -> float:
    """A document's seeded uniform draw in [0, 1), from its id alone (the random rule's
    key: independent of the scores, the same in every task and on every machine)."""
    digest = hashlib.sha256(f"{seed}/{doc_id}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "little") / 2.0**64


def rank_key(rule: str, seed: int, doc_id: str, score: float) -> float:
    """The value a rule keeps the highest of: the score (threshold, top), its negation
    (bottom), or the seeded draw (random)."""
    if rule == "bottom":
        return -score
    if rule == "random":
        return draw(seed, doc_id)
    return score


# -- records <-> datatrove documents ---------------------------------------------------------


def to_document(record: dict) -> Document:
    return Document(text=record["text"], id=record["id"], metadata=dict(record.get("meta", {})))


def to_record(doc: Document) -> dict:
    return {"id": doc.id, "text": doc.text, "meta": doc.metadata}


# -- pipeline steps ------------------------------------------------------------------------


class CorpusReader(PipelineStep):
    """Reads phi1 sources (directories, Stack Parquet/JSONL, Posts.xml, HF); each task reads
    its own share. Skipped inputs are counted as ``skipped_<reason>`` stats."""

    name = "phi1 corpus"
    type = "📖 - READER"

    def __init__(self, sources: list[str], settings: ReaderSettings | None = None) -> None:
        super().__init__()
        self.sources = list(sources)
        self.settings = settings or ReaderSettings()

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1):
        if data:
            yield from data
        stats = ReadStats()
        for record in read_corpus(
            self.sources, settings=self.settings, stats=stats, rank=rank, world_size=world_size
        ):
            self.stat_update("documents")
            yield to_document(record)
        for reason, count in stats.skipped.items():
            self.stat_update(f"skipped_{reason}", value=count)


class RecordReader(PipelineStep):
    """Reads ``{folder}/{rank:05d}.jsonl`` written by :class:`RecordWriter` for this task."""

    name = "phi1 records"
    type = "📖 - READER"

    def __init__(self, folder: str) -> None:
        super().__init__()
        self.folder = folder

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1):
        if data:
            yield from data
        path = Path(self.folder) / f"{rank:05d}.jsonl"
        if not path.exists():
            raise Phi1Error(f"{path}: missing; the scoring pipeline did not finish this task")
        for record in read_jsonl(path, required=("id", "text")):
            self.stat_update("documents")
            yield to_document(record)


class QualityScorer(PipelineStep):
    """Adds ``meta.quality = {"score", "classifier"}``: the forest's probability of "high"
    on the document's embedding. Embeds in batches; loads the classifier lazily.

    With ``cache_dir``, each task keeps its documents' embeddings in
    ``cache_dir/<embedder sha>/NNNNN.npz`` (keyed by id and a hash of the text), saved every
    ``cache_every`` documents: a killed task resumes without re-embedding, and a retrained
    classifier on the same embedder rescores the corpus without embedding it again (same
    sources and task count).
    """

    name = "phi1 quality score"
    type = "🔢 - SCORER"

    def __init__(
        self,
        classifier_dir: str,
        batch_size: int = 32,
        embedder: str | None = None,
        cache_dir: str | None = None,
        cache_every: int = 256,
    ) -> None:
        super().__init__()
        self.classifier_dir = classifier_dir
        self.batch_size = batch_size
        self.embedder_spec = embedder
        self.cache_dir = cache_dir
        self.cache_every = cache_every
        self._clf: Any = None

    def _classifier(self) -> Any:
        if self._clf is None:
            # One load per process: the local executor deep-copies the steps for each task.
            meta = read_json(Path(self.classifier_dir) / "classifier.json")
            key = (self.classifier_dir, self.embedder_spec, meta.get("model_sha256"))
            if key not in _LOADED:
                from phi1.data.classifier import QualityClassifier

                clf = QualityClassifier.load(self.classifier_dir)
                clf.embedder(self.embedder_spec)  # identity checked here
                _LOADED[key] = clf
            self._clf = _LOADED[key]
        return self._clf

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1):
        clf = self._classifier()
        cache = _EmbeddingCache(self.cache_dir, clf.embedding_key, rank)
        batch: list[Document] = []
        progress = _Progress(f"score task {rank}")
        for doc in data or ():
            batch.append(doc)
            if len(batch) >= self.batch_size:
                yield from self._score(batch, progress, cache)
                batch = []
        if batch:
            yield from self._score(batch, progress, cache)
        cache.save()

    def _score(
        self, batch: list[Document], progress: _Progress, cache: _EmbeddingCache
    ) -> Iterator[Document]:
        clf = self._classifier()
        with self.track_time("batch"):
            X = np.zeros((len(batch), clf.meta["embedder"]["dim"]), dtype=np.float32)
            todo = []
            for i, doc in enumerate(batch):
                vec = cache.get(doc.id, doc.text)
                if vec is None:
                    todo.append(i)
                else:
                    X[i] = vec
            if todo:
                fresh = clf.embed([batch[i].text for i in todo], batch_size=self.batch_size)
                for i, vec in zip(todo, fresh, strict=True):
                    X[i] = vec
                    cache.put(batch[i].id, batch[i].text, vec)
            scores = clf.score_embeddings(X)
        self.stat_update("embedded", value=len(todo))
        self.stat_update("from_cache", value=len(batch) - len(todo))
        for doc, score in zip(batch, scores.tolist(), strict=True):
            doc.metadata[SCORE_KEY] = {"score": round(float(score), 6), "classifier": clf.sha256}
            self.stat_update("scored")
            yield doc
        progress.update(len(batch))
        if cache.unsaved >= self.cache_every:
            cache.save()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_clf"] = None
        return state


class _EmbeddingCache:
    """One task's embeddings by document id, with a hash of the text to catch changes."""

    def __init__(self, root: str | None, identity: str, rank: int) -> None:
        self.path = None if root is None else Path(root) / identity[:16] / f"{rank:05d}.npz"
        self.vectors: dict[str, tuple[str, np.ndarray]] = {}
        self.unsaved = 0
        if self.path is not None and self.path.exists():
            try:
                data = np.load(self.path, allow_pickle=False)
                for doc_id, digest, vec in zip(data["ids"], data["hashes"], data["X"], strict=True):
                    self.vectors[str(doc_id)] = (str(digest), vec)
            except (OSError, KeyError, ValueError):
                self.vectors = {}  # a damaged cache is rebuilt

    @staticmethod
    def _digest(text: str) -> str:
        import xxhash

        return xxhash.xxh3_64_hexdigest(text.encode("utf-8", "surrogatepass"))

    def get(self, doc_id: str, text: str) -> np.ndarray | None:
        if self.path is None or doc_id not in self.vectors:
            return None
        digest, vec = self.vectors[doc_id]
        return vec if digest == self._digest(text) else None

    def put(self, doc_id: str, text: str, vec: np.ndarray) -> None:
        if self.path is not None:
            self.vectors[doc_id] = (self._digest(text), vec)
            self.unsaved += 1

    def save(self) -> None:
        if self.path is None or not self.unsaved:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ids = list(self.vectors)
        tmp = self.path.with_name(f".{self.path.stem}.tmp.npz")
        np.savez(
            tmp,
            ids=np.array(ids),
            hashes=np.array([self.vectors[i][0] for i in ids]),
            X=np.stack([self.vectors[i][1] for i in ids]).astype(np.float32),
        )
        os.replace(tmp, self.path)
        self.unsaved = 0


class QualityFilter(BaseFilter):
    """Keep documents whose ``meta.quality.score`` >= ``threshold``; drop the rest with
    reason ``low-quality`` (and ``unscored`` for documents without a score).

    With another ``rule`` the cut applies to :func:`rank_key` instead of the score: ``bottom``
    keeps the lowest scores (the negated score >= ``threshold``), ``random`` the highest
    seeded draws."""

    name = "phi1 quality filter"

    def __init__(
        self,
        threshold: float,
        exclusion_writer: DiskWriter | None = None,
        *,
        ties: frozenset[str] | None = None,
        rule: str = "threshold",
        seed: int = 0,
    ) -> None:
        super().__init__(exclusion_writer)
        self.threshold = threshold
        # With a fraction, documents exactly at the cut are kept only if listed here, so
        # that exactly the requested number is kept.
        self.ties = ties
        self.rule, self.seed = rule, seed

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        quality = doc.metadata.get(SCORE_KEY)
        if not isinstance(quality, dict) or not isinstance(quality.get("score"), (int, float)):
            return False, "unscored"
        key = rank_key(self.rule, self.seed, doc.id, quality["score"])
        if _kept(doc.id, key, self.threshold, self.ties):
            return True
        return False, DROP_REASON[self.rule]


class RecordWriter(DiskWriter):
    """Writes phi1 records (``{"id", "text", "meta"}``) as JSONL, one file per task; a task
    that is re-run rewrites its file. ``rejects=True`` writes ``{"id", "reason", "score",
    "record"}`` instead (for filters' exclusion writers)."""

    name = "phi1 jsonl"
    default_output_filename = "${rank}.jsonl"

    def __init__(self, folder: str, *, rejects: bool = False) -> None:
        super().__init__(folder, compression=None, mode="wt")
        self.rejects = rejects

    def _default_adapter(self, document: Document) -> dict:
        record = to_record(document)
        if not self.rejects:
            return record
        meta = dict(record["meta"])
        reason = meta.pop("filter_reason", "dropped")
        score = (meta.get(SCORE_KEY) or {}).get("score")
        return {"id": record["id"], "reason": reason, "score": score,
                "record": {**record, "meta": meta}}  # fmt: skip

    def _write(self, document: dict, file_handler: IO, filename: str) -> None:
        file_handler.write(json.dumps(document, ensure_ascii=False) + "\n")


class _Progress:
    def __init__(self, label: str, every_s: float = 30.0) -> None:
        self.label, self.every_s = label, every_s
        self.t0 = self.last = time.monotonic()
        self.n = 0

    def update(self, k: int) -> None:
        from datatrove.utils.logging import logger

        self.n += k
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            logger.info(f"{self.label}: {self.n} documents, {self.n / (now - self.t0):.1f}/s")


# -- running -------------------------------------------------------------------------------


def _executor(pipeline: list, folder: Path, name: str, s: FilterSettings, depends: Any = None):
    logging_dir = str(folder / "logs" / name)
    if s.executor == "local":
        from datatrove.executor import LocalPipelineExecutor

        return LocalPipelineExecutor(
            pipeline, tasks=s.tasks, workers=s.workers, logging_dir=logging_dir,
            start_method="spawn",
        )  # fmt: skip
    if s.executor == "slurm":
        from datatrove.executor import SlurmPipelineExecutor

        opts = {"time": "24:00:00", "partition": "cpu", "cpus_per_task": 2, **s.slurm}
        return SlurmPipelineExecutor(
            pipeline, tasks=s.tasks, logging_dir=logging_dir, job_name=f"phi1-{name}",
            depends=depends, **opts,
        )  # fmt: skip
    from datatrove.executor import RayPipelineExecutor

    return RayPipelineExecutor(
        pipeline, tasks=s.tasks, workers=s.workers if s.workers > 1 else -1,
        logging_dir=logging_dir, depends=depends,
    )  # fmt: skip


def run_filter(
    sources: list[str],
    classifier_dir: str | Path,
    out_dir: str | Path,
    settings: FilterSettings | None = None,
    reader: ReaderSettings | None = None,
) -> dict[str, Any]:
    """Score, threshold, write; returns the summary (``text`` holds the printable lines)."""
    from phi1.data.classifier import QualityClassifier

    s = settings or FilterSettings()
    reader = reader or ReaderSettings()
    out = Path(out_dir)
    parsed = [parse_source(src) for src in sources]  # bad specs fail before any work
    clf = QualityClassifier.load(classifier_dir)
    clf.embedder()  # the embedder must match the classifier's, checked before any work
    fingerprint = {
        "sources": [p.spec for p in parsed],
        "reader": asdict(reader),
        "classifier": clf.sha256,
        "tasks": s.tasks,
    }
    state_path = out / "filter.json"
    previous = read_json(state_path) if state_path.exists() else {}
    if previous:
        old = previous.get("fingerprint")
        if old != json.loads(json.dumps(fingerprint)):
            raise Phi1Error(
                f"{out}: holds a filter run with other sources, reader settings, classifier or "
                f"task count; use a new --out"
            )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(state_path, {**previous, "fingerprint": fingerprint})
    t0 = time.monotonic()
    score_pipe = [
        CorpusReader([p.spec for p in parsed], reader),
        QualityScorer(
            str(Path(classifier_dir).resolve()),
            s.batch_size,
            cache_dir=str(Path(s.embed_cache or out / "embeddings").resolve()),
        ),
        RecordWriter(str(out / "scored")),
    ]
    scoring = _executor(score_pipe, out, "score", s)
    scoring.run()
    if s.executor != "local":
        return {"text": f"filter: scoring submitted to {s.executor}; re-run when it is done"}
    score_s = time.monotonic() - t0
    scores = _read_scores(out / "scored", s.tasks)
    if not scores:
        raise Phi1Error(f"filter: the corpus is empty ({', '.join(sources)})")
    cut = select(scores, s)
    rejects = RecordWriter(str(out / "rejects"), rejects=True)
    filter_pipe = [
        RecordReader(str(out / "scored")),
        QualityFilter(cut.key, exclusion_writer=rejects, ties=cut.ties, rule=cut.rule,
                      seed=cut.seed),
        RecordWriter(str(out / "kept")),
    ]  # fmt: skip
    # The cut names the logs folder: a new threshold re-runs only this pipeline. Going back
    # to a cut used before must redo it too (kept/ now holds another cut's output).
    tag = sha256_json(cut.identity())[:12]
    state = read_json(state_path)
    if state.get("filter_tag") != tag:
        shutil.rmtree(out / "logs" / f"filter-{tag}", ignore_errors=True)
        atomic_write_json(state_path, {**state, "filter_tag": tag})
    _executor(filter_pipe, out, f"filter-{tag}", s).run()
    summary = _summarise(out, scores, cut, s, fingerprint, score_s, t0, tag)
    atomic_write_json(out / "summary.json", {k: v for k, v in summary.items() if k != "text"})
    report = write_report(out, scores, cut.threshold, summary["kept"], s.report_examples)
    atomic_write_text(out / "report.md", report)
    return summary


def _read_scores(folder: Path, tasks: int) -> list[tuple[str, float, str, str]]:
    """``(id, score, source, path)`` of every scored document, in task order."""
    rows = []
    for rank in range(tasks):
        path = folder / f"{rank:05d}.jsonl"
        if not path.exists():
            continue
        for record in read_jsonl(path):
            meta = record.get("meta", {})
            rows.append((record["id"], float(meta[SCORE_KEY]["score"]), str(meta.get("source")),
                         str(meta.get("path", record["id"]))))  # fmt: skip
    return rows


@dataclass(frozen=True)
class Cut:
    """Which documents a filter run keeps: those whose :func:`rank_key` is above ``key``,
    and at ``key`` those in ``ties`` (None: all of them)."""

    rule: str
    key: float
    ties: frozenset[str] | None = None
    seed: int = 0
    fraction: float | None = None

    def keeps(self, doc_id: str, score: float) -> bool:
        return _kept(doc_id, rank_key(self.rule, self.seed, doc_id, score), self.key, self.ties)

    @property
    def threshold(self) -> float | None:
        """The cut in score units (kept at or above it; at or below it for ``bottom``);
        None for ``random``, whose cut is not on the score."""
        return None if self.rule == "random" else -self.key if self.rule == "bottom" else self.key

    def identity(self) -> dict[str, Any]:
        out = {"threshold": self.key, "ties": sorted(self.ties or ())}
        if self.rule in ("bottom", "random"):  # top and threshold keep their earlier tags
            out.update(rule=self.rule, seed=self.seed)
        return out

    def describe(self) -> str:
        if self.rule == "threshold":
            return f"threshold {self.key:.4f}"
        share = f"{self.rule} {self.fraction:.0%}"
        if self.rule == "random":
            return f"{share} (seed {self.seed}, whatever the score)"
        return f"{share}: threshold {self.threshold:.4f}"


def select(scores: list[tuple[str, float, str, str]], s: FilterSettings) -> Cut:
    """The cut for these scores: a threshold, or for a fraction the key of the k-th document
    ranked by its rule's key, with the ids at the cut that are kept (the first by id), so
    that exactly round(fraction * N) documents are kept."""
    if s.rule == "threshold":
        return Cut("threshold", 0.5 if s.threshold is None else float(s.threshold))
    assert s.fraction is not None
    ranked = sorted((-rank_key(s.rule, s.seed, r[0], r[1]), r[0]) for r in scores)
    k = max(1, int(round(s.fraction * len(ranked))))
    key = -ranked[k - 1][0]
    ties = frozenset(doc_id for neg, doc_id in ranked[:k] if -neg == key)
    return Cut(s.rule, key, ties, s.seed, s.fraction)


def _kept(doc_id: str, key: float, threshold: float, ties: frozenset[str] | None) -> bool:
    return key > threshold or (key == threshold and (ties is None or doc_id in ties))


def _summarise(out: Path, scores: list, cut: Cut, s: FilterSettings, fingerprint: dict,
               score_s: float, t0: float, tag: str) -> dict[str, Any]:  # fmt: skip
    stats = _stats(out / "logs" / "score")
    fstats = _stats(out / "logs" / f"filter-{tag}")
    skipped = {k.removeprefix("skipped_"): v for k, v in stats.items() if k.startswith("skipped_")}
    kept_by_source: Counter = Counter()
    total_by_source: Counter = Counter()
    for doc_id, score, source, _ in scores:
        total_by_source[source] += 1
        kept_by_source[source] += cut.keeps(doc_id, score)
    n = len(scores)
    kept = sum(kept_by_source.values())
    dropped = {k.removeprefix("dropped_"): v for k, v in fstats.items() if k.startswith("dropped_")}
    values = np.array([r[1] for r in scores])
    summary = {
        "fingerprint": fingerprint,
        "threshold": cut.threshold,
        "top_fraction": s.top_fraction,
        "rule": cut.rule,
        "fraction": cut.fraction,
        "seed": cut.seed if cut.rule == "random" else None,
        "documents": n,
        "kept": kept,
        "dropped": n - kept,
        "dropped_reasons": dropped or ({DROP_REASON[cut.rule]: n - kept} if n - kept else {}),
        "reader_skipped": skipped,
        "by_source": {
            src: {"documents": total_by_source[src], "kept": int(kept_by_source[src])}
            for src in sorted(total_by_source)
        },
        "score_quantiles": {
            q: round(float(np.quantile(values, float(q))), 4)
            for q in ("0.0", "0.1", "0.25", "0.5", "0.75", "0.9", "1.0")
        },
        "score_seconds": round(score_s, 1),
        "seconds": round(time.monotonic() - t0, 1),
        "outputs": {
            "kept": "kept/",
            "rejects": "rejects/",
            "scored": "scored/",
            "report": "report.md",
        },  # fmt: skip
    }
    skipped_line = ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())) or "none"
    rate = f"{n / score_s:.1f} docs/s" if score_s > 1 else "resumed"
    summary["text"] = "\n".join([
        f"filter: {n} documents scored ({rate}); {cut.describe()}",
        f"filter: kept {kept} ({kept / n:.1%}), dropped {n - kept} "
        f"({', '.join(f'{k} {v}' for k, v in summary['dropped_reasons'].items()) or 'none'}); "
        f"reader skipped: {skipped_line}",
        *(f"  {src}: kept {v['kept']} of {v['documents']}"
          for src, v in summary["by_source"].items()),
        f"filter: kept documents in {out / 'kept'}, rejects in {out / 'rejects'}, "
        f"report in {out / 'report.md'}",
    ])  # fmt: skip
    return summary


def _stats(logging_dir: Path) -> Counter:
    """Counters summed over the tasks' datatrove stats files."""
    total: Counter = Counter()
    folder = logging_dir / "stats"
    if not folder.is_dir():
        return total
    for path in sorted(folder.glob("*.json")):
        try:
            steps = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        for step in steps:
            for key, value in (step.get("stats") or {}).items():
                if isinstance(value, dict) and "total" in value:
                    total[key] += value["total"]
                elif isinstance(value, (int, float)):
                    total[key] += value
    return total


def write_report(out: Path, scores: list, threshold: float | None, kept: int, k: int) -> str:
    """Markdown: score distribution and the ``k`` highest- and lowest-scored documents."""
    ranked = sorted(scores, key=lambda r: (-r[1], r[0]))
    texts = _first_lines({r[0] for r in ranked[:k] + ranked[-k:]}, out / "scored")
    values = np.array([r[1] for r in scores])
    hist, edges = np.histogram(values, bins=10, range=(0.0, 1.0))
    cut_text = "a random draw" if threshold is None else f"threshold {threshold:.4f}"
    lines = [
        "# Quality filter report",
        "",
        f"{len(scores)} documents scored; {cut_text}; kept {kept} ({kept / len(scores):.1%}).",
        "",
        "## Score distribution",
        "",
        "| score | documents |",
        "|---|---|",
        *(f"| {edges[i]:.1f}-{edges[i + 1]:.1f} | {hist[i]} |" for i in range(len(hist))),
        "",
    ]
    for title, rows in ((f"Highest-scored {k}", ranked[:k]), (f"Lowest-scored {k}", ranked[-k:])):
        lines += [f"## {title}", "", "| score | document | first line |", "|---|---|---|"]
        for doc_id, score, _, _ in rows:
            first = texts.get(doc_id, "").replace("|", "\\|")
            lines.append(f"| {score:.3f} | `{doc_id}` | {first} |")
        lines.append("")
    return "\n".join(lines)


def _first_lines(ids: set[str], folder: Path) -> dict[str, str]:
    """The first meaningful line (docstring or code) of each wanted document."""
    found: dict[str, str] = {}
    for path in sorted(folder.glob("*.jsonl")):
        for record in read_jsonl(path):
            if record["id"] in ids:
                found[record["id"]] = _headline(record["text"])
    return found


def _headline(text: str, width: int = 90) -> str:
    for line in text.splitlines():
        line = line.strip().strip("\"'#").strip()
        if line and not line.startswith(("!", "-*-", "coding", "Copyright", "SPDX")):
            return line[:width]
    return ""


def scores_by_id(out_dir: str | os.PathLike) -> dict[str, float]:
    """Score of every document of a finished filter run (for audits and benchmarks)."""
    folder = Path(out_dir) / "scored"
    return {r[0]: r[1] for r in _read_scores(folder, len(list(folder.glob("*.jsonl"))))}
