"""Decontamination: how close is a training set to a benchmark, and the set pruned of it.

The paper's contamination study (section 5), for any dataset (exercises, textbooks, filtered
code) against any benchmark (HumanEval by default, MBPP, a HumanEval-format file):

1. **n-gram overlap** (13 words by default) between normalized texts, over docstrings only
   and over whole records (:mod:`phi1.data.decontam.features` says what "normalized" is);
2. **embedding distance**: the L2 distance between unit-length embeddings
   (:func:`phi1.llm.embed.load_embedder`), found by a chunked matrix product, giving each
   record its nearest problems and each problem its nearest records;
3. **AST match rate**: the string edit distance between normalized syntax trees, computed
   only on those embedding candidates (each record against its ``candidates`` nearest
   problems, each problem against its ``neighbours`` nearest records).

A neural embedder is by far the slowest part on a CPU: MiniLM takes ~0.07 CPU seconds per
exercise, ~9 hours for 880K exercises on 2 cores. The default embedder, ``hash`` (a hashed
bag of code tokens and code-shape n-grams, :class:`phi1.llm.embed.HashEmbedder`), needs no
model and embeds thousands of records per second; a whole run then costs ~1.6 CPU ms per
exercise, ~12 minutes for 880K on 2 idle cores (benchmarks/bench_decontam.py). It only has to
put the right problems among a record's candidates (renamed, re-documented copies keep their
code shape); the AST comparison decides. ``embedder: minilm`` or ``hf:PATH`` (the paper's
CodeGen) remain available. ``embedder: none`` skips embeddings and compares every record's
AST with every problem instead (``ast_scope: all``, exhaustive, in C), at the price of the
embedding distance and its pruning rule.

:func:`run_decontam` (``phi1 decontam run``) writes, under ``--out``:

- ``neighbours.jsonl``: for every problem, its nearest records by embedding with every
  score, its best AST matches (``top_ast``, ``max_ast``), its best n-gram overlaps, and how
  many records are "similar" to it at each tau;
- ``scores.jsonl``: every record's nearest problem and best scores;
- ``pruned/tau<T>.jsonl``: the dataset without the records flagged at tau ``T`` (AST match
  >= T, or the embedding rule, or the n-gram rule), for each T in ``taus``;
- ``rejects.jsonl``: every removed record with its reasons, its taus and the record itself;
- ``report.json``: counts, settings, the embedder's and benchmark's identities, timings.

Embeddings are cached under ``cache/`` chunk by chunk, so a run that is stopped resumes
without embedding again. ``phi1 decontam table`` prints the paper's Table 3 from a run and
evaluation results (:mod:`phi1.data.decontam.table`). :mod:`phi1.data.decontam.steps` wraps
the same scoring as a datatrove filter for cluster runs.
"""

from __future__ import annotations

import heapq
import itertools
import os
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from phi1.data.decontam.score import (
    EPS,
    BenchmarkIndex,
    DecontamSettings,
    Neighbours,
    NeighbourSearch,
    RecordScore,
    distance,
    embed_input,
    judge,
    load_benchmark,
    record_text,
    score_text,
)
from phi1.errors import Phi1Error
from phi1.io import JsonlWriter, atomic_write_json, read_json, read_jsonl, sha256_json, write_jsonl

__all__ = ["DecontamSettings", "dataset_files", "run_decontam"]

NO_ID = "no 'id' field: named by its position (#N)"
TEXT_ONLY = "no parseable Python: scored by n-grams and embedding only"
PARTLY = "some code blocks do not parse: the others are AST-scored"


def dataset_files(dataset: str | os.PathLike) -> list[Path]:
    """A JSONL file, or the ``*.jsonl`` files of a folder (sorted; rejects files skipped)."""
    path = Path(dataset)
    if path.is_dir():
        files = sorted(f for f in path.glob("*.jsonl") if not f.name.startswith("rejects"))
        if not files:
            raise Phi1Error(f"{path}: no .jsonl files")
        return files
    if not path.is_file():
        raise Phi1Error(f"{path}: no such file or directory")
    return [path]


def _rows(files: Sequence[Path]) -> Iterator[dict]:
    """The dataset's rows as they are (plain JSONL; a bad line raises naming ``file:line``)."""
    return itertools.chain.from_iterable(read_jsonl(f) for f in files)


# --- pass 1: embeddings and nearest neighbours ----------------------------------------------


def _embed_pass(
    files: Sequence[Path],
    embedder: Any,
    search: NeighbourSearch,
    settings: DecontamSettings,
    cache: Path,
) -> np.ndarray:
    """Embed every record chunk by chunk (or load the chunk's cache) into ``search``; return
    the mask of records that have a text."""
    manifest = {
        "embedder": embedder.identity(),
        "files": [[str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns] for f in files],
        "chunk": settings.chunk,
        "input_chars": len(embed_input("x" * 10**6, settings)),  # how much of a text is read
    }
    manifest_path = cache / "manifest.json"
    if not manifest_path.exists() or read_json(manifest_path) != manifest:
        cache.mkdir(parents=True, exist_ok=True)
        for stale in cache.glob("emb_*.npy"):
            stale.unlink()
        atomic_write_json(manifest_path, manifest)
    masks: list[np.ndarray] = []
    texts: list[str] = []

    def flush() -> None:
        path = cache / f"emb_{len(masks):06d}.npy"
        mask = np.asarray([t is not None for t in texts], dtype=bool)
        emb = np.load(path) if path.exists() else None
        if emb is None or emb.shape != (len(texts), embedder.dim):
            emb = np.zeros((len(texts), embedder.dim), dtype=np.float32)
            if mask.any():
                emb[mask] = embedder.embed([t for t in texts if t is not None], settings.batch_size)
            tmp = path.with_name(f".{path.name}.tmp")
            with open(tmp, "wb") as f:
                np.save(f, emb)
            os.replace(tmp, path)
        search.add(emb, mask)
        masks.append(mask)
        texts.clear()

    for row in _rows(files):
        text = record_text(row)[0]
        texts.append(None if text is None else embed_input(text, settings))
        if len(texts) == settings.chunk:
            flush()
    if texts:
        flush()
    return np.concatenate(masks) if masks else np.zeros(0, dtype=bool)


# --- pass 2: n-grams and AST, in worker processes ----------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(index: BenchmarkIndex, max_units: int) -> None:
    _WORKER["index"], _WORKER["max_units"] = index, max_units


def _score_batch(work: list[tuple[str, list[int] | None]]) -> list[RecordScore]:
    index, max_units = _WORKER["index"], _WORKER["max_units"]
    return [score_text(index, text, cands, max_units=max_units) for text, cands in work]


# record index, record, text, candidate problems (None: all)
Item = tuple[int, dict, "str | None", "list[int] | None"]


def _scored(
    items: Iterator[Item], index: BenchmarkIndex, workers: int, max_units: int, batch: int = 256
) -> Iterator[tuple[int, dict, RecordScore | None]]:
    """Score records in order, in ``workers`` processes with a bounded number in flight
    (records without a text pass through with no score)."""

    def batches() -> Iterator[list[Item]]:
        buf: list[Item] = []
        for item in items:
            buf.append(item)
            if len(buf) == batch:
                yield buf
                buf = []
        if buf:
            yield buf

    def work(buf: list[Item]) -> list[tuple[str, list[int] | None]]:
        return [(text, cands) for _, _, text, cands in buf if text is not None]

    def merge(buf: list[Item], scores: list[RecordScore]) -> Iterator:
        it = iter(scores)
        for i, row, text, _ in buf:
            yield i, row, (next(it) if text is not None else None)

    stream = batches()
    first = list(itertools.islice(stream, workers))
    if workers <= 1 or len(first) < 2:  # a small dataset is not worth starting processes
        _init_worker(index, max_units)
        for buf in itertools.chain(first, stream):
            yield from merge(buf, _score_batch(work(buf)))
        return
    import multiprocessing as mp

    # spawn: the parent has run torch threads; a forked child could inherit a held lock.
    with mp.get_context("spawn").Pool(workers, _init_worker, (index, max_units)) as pool:
        pending: deque = deque()
        for buf in itertools.chain(first, stream):
            pending.append((buf, pool.apply_async(_score_batch, (work(buf),))))
            while len(pending) > 2 * workers:
                done, res = pending.popleft()
                yield from merge(done, res.get())
        while pending:
            done, res = pending.popleft()
            yield from merge(done, res.get())


# --- outputs ---------------------------------------------------------------------------------


def _tau_name(tau: float) -> str:
    return f"tau{tau:g}"


def _wanted(nb: Neighbours | None) -> dict[int, list[int]]:
    """Record index -> the problems it is among the nearest records of."""
    wanted: dict[int, list[int]] = {}
    if nb is not None:
        for p, recs in enumerate(nb.prob_records):
            for r in recs[recs >= 0]:
                wanted.setdefault(int(r), []).append(p)
    return wanted


class _Outputs:
    """Writes pruned datasets, rejects and scores as records stream by, and keeps what the
    per-problem report needs. Files are written under ``.partial/`` and moved into place
    only when every record is done, so a stopped run never leaves a truncated dataset."""

    def __init__(
        self, out_dir: Path, index: BenchmarkIndex, nb: Neighbours | None, settings
    ) -> None:
        self.out_dir, self.index, self.nb, self.settings = out_dir, index, nb, settings
        self.taus = list(settings.taus)
        self.tmp = out_dir / ".partial"
        if self.tmp.exists():
            for f in self.tmp.iterdir():
                f.unlink()
        self.pruned = {t: JsonlWriter(self.tmp / f"{_tau_name(t)}.jsonl") for t in self.taus}
        self.rejects = JsonlWriter(self.tmp / "rejects.jsonl")
        self.scores = JsonlWriter(self.tmp / "scores.jsonl")
        self.count = 0
        self.unscored = 0
        self.removed: Counter = Counter()
        self.notes: Counter = Counter()
        n = len(index)
        self.top_ast: list[list[tuple[float, int, str]]] = [[] for _ in range(n)]  # min-heaps
        self.best_doc: list[tuple[int, str | None]] = [(0, None)] * n
        self.best_text: list[tuple[int, str | None]] = [(0, None)] * n
        self.similar = {t: [0] * n for t in self.taus}
        # Each problem's nearest records: the pairs whose scores the report shows.
        self.wanted = _wanted(nb)
        self.pairs: dict[tuple[int, int], tuple[str, float | None, int, int]] = {}

    def add(self, i: int, row: dict, score: RecordScore | None) -> None:
        self.count += 1
        rid = row.get("id")
        rid = str(rid) if isinstance(rid, (str, int)) and not isinstance(rid, bool) else f"#{i}"
        if "id" not in row:
            self.notes[NO_ID] += 1
        text_note = record_text(row)[1]
        if text_note:
            self.notes[text_note] += 1
        if score is None:  # nothing to score: keep it, say so
            self.unscored += 1
            for w in self.pruned.values():
                w.write(row)
            self.scores.write({"id": rid, "note": text_note})
            return
        if score.note:
            self.notes[TEXT_ONLY if score.text_only else PARTLY] += 1
        ids = self.index.task_ids
        k = self.settings.neighbours
        for p, rate in score.ast.items():
            heap = self.top_ast[p]
            if len(heap) < k:
                heapq.heappush(heap, (rate, -i, rid))
            elif (rate, -i) > heap[0][:2]:
                heapq.heapreplace(heap, (rate, -i, rid))
            for t in self.taus:
                self.similar[t][p] += rate + EPS >= t
        for best, hits in ((self.best_doc, score.ngram_doc), (self.best_text, score.ngram_text)):
            for p, k in hits.items():
                if k > best[p][0]:
                    best[p] = (k, rid)
        for p in self.wanted.get(i, ()):
            self.pairs[(p, i)] = (
                rid,
                score.ast.get(p),
                score.ngram_doc.get(p, 0),
                score.ngram_text.get(p, 0),
            )
        nearest = None
        if self.nb is not None:
            nearest = (int(self.nb.rec_problems[i][0]), float(distance(self.nb.rec_sims[i][0])))
        verdict = judge(score, nearest, self.settings, ids)
        for t, reasons in verdict.items():
            if reasons:
                self.removed[t] += 1
            else:
                self.pruned[t].write(row)
        best = max(score.ast.items(), key=lambda kv: (kv[1], -kv[0]), default=None)
        self.scores.write(
            {
                "id": rid,
                "nearest": None if nearest is None else ids[nearest[0]],
                "distance": None if nearest is None else round(nearest[1], 4),
                "ast": None if best is None else round(best[1], 4),
                "ast_task": None if best is None else ids[best[0]],
                "ngram_doc": max(score.ngram_doc.values(), default=0),
                "ngram_text": max(score.ngram_text.values(), default=0),
                "note": " / ".join(n for n in (text_note, score.note) if n) or None,
            }
        )
        out_at = [t for t, reasons in verdict.items() if reasons]
        if out_at:
            reasons = verdict[min(out_at)]  # the lowest tau removes for every reason
            self.rejects.write(
                {"id": rid, "reason": "; ".join(reasons), "taus": out_at, "record": row}
            )

    def close(self) -> None:
        for w in (*self.pruned.values(), self.rejects, self.scores):
            w.close()

    def finish(self) -> dict:
        """Move the finished files into place, write neighbours.jsonl; return the counts."""
        self.close()
        pruned = self.out_dir / "pruned"
        pruned.mkdir(parents=True, exist_ok=True)
        for t in self.taus:
            name = f"{_tau_name(t)}.jsonl"
            os.replace(self.tmp / name, pruned / name)
        for name in ("rejects.jsonl", "scores.jsonl"):
            os.replace(self.tmp / name, self.out_dir / name)
        self.tmp.rmdir()
        write_jsonl(self.out_dir / "neighbours.jsonl", self._neighbour_rows())
        n = len(self.index)
        return {
            "removed": {str(t): self.removed[t] for t in self.taus},
            "similar_problems": {
                str(t): sum(1 for p in range(n) if self._max_ast(p) + EPS >= t) for t in self.taus
            },
            "notes": dict(self.notes),
        }

    def _max_ast(self, p: int) -> float:
        return max(self.top_ast[p])[0] if self.top_ast[p] else -1.0

    def _neighbour_rows(self) -> Iterator[dict]:
        index, nb = self.index, self.nb
        for p, tid in enumerate(index.task_ids):
            nearest = []
            pairs = [] if nb is None else zip(nb.prob_records[p], nb.prob_sims[p], strict=True)
            for r, s in pairs:
                if r < 0:
                    continue
                rid, rate, kd, kt = self.pairs[(p, int(r))]
                nearest.append(
                    {
                        "id": rid,
                        "index": int(r),
                        "distance": round(float(distance(s)), 4),
                        "ast": None if rate is None else round(rate, 4),
                        "ngram_doc": kd,
                        "ngram_text": kt,
                    }
                )
            top = sorted(self.top_ast[p], reverse=True)
            yield {
                "task_id": tid,
                "max_ast": round(top[0][0], 6) if top else None,
                "similar": {str(t): self.similar[t][p] for t in self.taus},
                "ngram_doc": {
                    "shared": self.best_doc[p][0],
                    "of": index.doc_grams[p],
                    "id": self.best_doc[p][1],
                },
                "ngram_text": {
                    "shared": self.best_text[p][0],
                    "of": index.text_grams[p],
                    "id": self.best_text[p][1],
                },
                "nearest": nearest,
                "top_ast": [{"id": rid, "index": -j, "ast": round(r, 4)} for r, j, rid in top],
            }


# --- the run ---------------------------------------------------------------------------------


def run_decontam(dataset: str, out: str | os.PathLike, settings: DecontamSettings) -> dict:
    """Score ``dataset`` against the benchmark, write the outputs under ``out`` (see the
    module docstring) and return the report (also ``report.json``)."""
    settings.check()
    t0, cpu0 = time.perf_counter(), os.times()
    files = dataset_files(dataset)
    out_dir = Path(out)
    index = BenchmarkIndex.build(load_benchmark(settings.benchmark), settings.ngram_n)
    embedder, nb, n_embedded = None, None, 0
    if settings.uses_embeddings:
        embedder, nb, n_embedded = _neighbours(files, index, settings, out_dir / "cache")
    t_embed = time.perf_counter() - t0
    workers = settings.workers or len(os.sched_getaffinity(0))
    outputs = _Outputs(out_dir, index, nb, settings)
    try:
        items = _items(files, nb, n_embedded, settings, dataset)
        for i, row, score in _scored(items, index, workers, settings.max_units):
            outputs.add(i, row, score)
    finally:
        outputs.close()
    counts = outputs.finish()
    n = outputs.count
    report = {
        "dataset": [str(f) for f in files],
        "records": n,
        "scored": n - outputs.unscored,
        "removed": counts["removed"],
        "kept": {t: n - k for t, k in counts["removed"].items()},
        "similar_problems": counts["similar_problems"],
        "notes": counts["notes"],
        "benchmark": {
            "spec": settings.benchmark,
            "problems": len(index),
            "sha256": sha256_json(index.texts),
            "no_ast": [t for t, u in zip(index.task_ids, index.units, strict=True) if not u],
        },
        "embedder": None if embedder is None else embedder.identity(),
        "settings": asdict(settings),
        **_timings(t0, cpu0, t_embed, n),
    }
    atomic_write_json(out_dir / "report.json", report)
    return report


def _neighbours(
    files: Sequence[Path], index: BenchmarkIndex, settings: DecontamSettings, cache: Path
) -> tuple[Any, Neighbours, int]:
    """Embed the problems and every record; ``(embedder, nearest neighbours, records)``."""
    from phi1.llm.embed import load_embedder

    embedder = load_embedder(
        settings.embedder,
        max_tokens=settings.embed_max_tokens,
        max_chunks=settings.embed_max_chunks,
    )
    problem_emb = embedder.embed(
        [embed_input(t, settings) for t in index.texts], settings.batch_size
    )
    search = NeighbourSearch(problem_emb, settings.candidates, settings.neighbours)
    n_embedded = len(_embed_pass(files, embedder, search, settings, cache))
    return embedder, search.result(), n_embedded


def _items(
    files: Sequence[Path],
    nb: Neighbours | None,
    n_embedded: int,
    settings: DecontamSettings,
    dataset: str,
) -> Iterator[Item]:
    """Each record with its text and the problems its AST is compared with (None: all)."""
    wanted = _wanted(nb)
    for i, row in enumerate(_rows(files)):
        cands = None
        if nb is not None:
            if i >= n_embedded:
                raise Phi1Error(f"{dataset}: changed while it was being read")
            if settings.ast_scope == "candidates":
                cands = list(dict.fromkeys([*nb.rec_problems[i].tolist(), *wanted.get(i, [])]))
        yield i, row, record_text(row)[0], cands


def _timings(t0: float, cpu0: Any, t_embed: float, n: int) -> dict[str, Any]:
    t_total, cpu1 = time.perf_counter() - t0, os.times()
    cpu = (cpu1.user + cpu1.system + cpu1.children_user + cpu1.children_system) - (
        cpu0.user + cpu0.system + cpu0.children_user + cpu0.children_system
    )
    return {
        "seconds": {
            "embed": round(t_embed, 2),
            "score": round(t_total - t_embed, 2),
            "total": round(t_total, 2),
            "cpu": round(cpu, 2),
        },
        "records_per_s": round(n / t_total, 1) if t_total > 0 else None,
    }
