"""The scoring core of decontamination, shared by ``phi1 decontam run`` and the datatrove step.

- :class:`DecontamSettings`: what is compared and when a record is removed;
- :class:`BenchmarkIndex`: the benchmark's problems as texts, AST strings and n-gram tables;
- :func:`score_text`: one record's n-gram overlaps with every problem and AST match rates
  with its candidate problems; :func:`judge`: the reasons to remove it at each tau;
- :class:`NeighbourSearch`: streaming nearest neighbours in both directions (each record's
  nearest problems, each problem's nearest records) by chunked matrix products over
  unit-length embeddings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from phi1.data.decontam.features import (
    ast_units,
    docstrings,
    match_rates,
    ngrams,
    normalize_words,
    parse_code,
    text_ngrams,
)
from phi1.errors import Phi1Error

EPS = 1e-9  # a match rate of exactly tau counts as >= tau despite float rounding


@dataclass
class DecontamSettings:
    """How records are compared with the benchmark and when one is removed; ``phi1 decontam
    run`` takes it as ``decontam:``."""

    benchmark: str = "humaneval"
    """Problems to check against: ``humaneval``, ``mbpp:PATH`` (MBPP, full or sanitized) or
    the path of a HumanEval-format problems file (.jsonl or .jsonl.gz)."""
    embedder: str = "hash"
    """Embedder spec: ``hash`` (a hashed bag of code tokens: no model, thousands of records
    per second on a CPU), minilm, hf:PATH (the paper's CodeGen), phi1:DIR, gguf:PATH, or
    ``none``: no embeddings (the AST is then compared with every problem)."""
    embed_max_tokens: int | None = 256
    """Tokens of each record the embedder reads (its window); None: the model's own."""
    embed_max_chunks: int = 1
    """Windows embedded per record (spread over a long one and averaged)."""
    ngram_n: int = 13
    """Words per n-gram."""
    ngram_rule: Literal["docstring", "text", "any", "off"] = "docstring"
    """Which n-gram overlap removes a record: shared docstring n-grams, shared n-grams of the
    whole texts, either, or none (overlaps are still reported)."""
    ngram_min_shared: int = 1
    """Shared n-grams with one problem that trigger the n-gram rule."""
    embedding_threshold: float | None = None
    """Remove records whose embedding lies within this L2 distance of a problem (at every
    tau); None: off. Distances depend on the embedder: read neighbours.jsonl first."""
    taus: list[float] = field(default_factory=lambda: [0.95, 0.9, 0.85, 0.8])
    """AST match-rate thresholds: a record matching a problem at >= tau is removed at tau;
    one pruned dataset is written per tau."""
    ast_scope: Literal["candidates", "all"] = "candidates"
    """Which problems a record's AST is compared with: its embedding ``candidates`` and the
    problems it is among the nearest records of (the paper's method), or ``all`` of them
    (exhaustive; pairs below a match rate of 0.5 are not kept)."""
    candidates: int = 10
    """Nearest problems (by embedding) each record is AST-compared with."""
    neighbours: int = 10
    """Records listed per problem: the nearest by embedding and the best AST matches."""
    max_units: int = 64
    """Most code units (a module, its top-level functions) compared per record."""
    chunk: int = 4096
    """Records embedded per step (and per cache file)."""
    batch_size: int = 64
    """Embedding batch size."""
    workers: int = 0
    """Processes for the n-gram and AST work; 0: one per usable core."""

    @property
    def uses_embeddings(self) -> bool:
        return self.embedder.strip().lower() not in ("none", "")

    def check(self) -> None:
        """Raise naming the first field with an impossible value."""
        if not self.taus or any(not 0.0 < t <= 1.0 for t in self.taus):
            raise Phi1Error(f"decontam.taus must be values in (0, 1], got {self.taus}")
        for name in ("ngram_n", "ngram_min_shared", "candidates", "neighbours", "chunk"):
            if getattr(self, name) < 1:
                raise Phi1Error(f"decontam.{name} must be >= 1, got {getattr(self, name)}")
        if self.ngram_rule not in ("docstring", "text", "any", "off"):
            raise Phi1Error(
                f"decontam.ngram_rule must be docstring, text, any or off, got {self.ngram_rule!r}"
            )
        if self.ast_scope not in ("candidates", "all"):
            raise Phi1Error(f"decontam.ast_scope must be candidates or all: {self.ast_scope!r}")
        if self.embedding_threshold is not None and not self.uses_embeddings:
            raise Phi1Error("decontam.embedding_threshold needs an embedder (not 'none')")
        if self.embedding_threshold is not None and self.embedding_threshold < 0:
            raise Phi1Error(
                f"decontam.embedding_threshold must be >= 0: {self.embedding_threshold}"
            )


# --- the benchmark --------------------------------------------------------------------------


def load_benchmark(spec: str) -> list[Any]:
    """Problems (``phi1.sandbox.problems.Problem``) that ``spec`` names, in file order."""
    from phi1.sandbox.problems import load_humaneval, load_mbpp, load_problems

    if spec == "humaneval":
        problems = load_humaneval()
    elif spec.startswith("mbpp:"):
        problems = load_mbpp(spec[len("mbpp:") :])
    else:
        problems = load_problems(spec)
    return list(problems.values())


@dataclass
class BenchmarkIndex:
    """The benchmark seen the way records are: texts, AST strings, n-gram tables."""

    task_ids: list[str]
    texts: list[str]
    """What is embedded and n-grammed as a whole: prompt + canonical solution."""
    units: list[str]
    """Encoded normalized AST of each problem's code ('' when it does not parse)."""
    doc_index: dict[tuple[str, ...], tuple[int, ...]]
    text_index: dict[tuple[str, ...], tuple[int, ...]]
    doc_grams: list[int]
    text_grams: list[int]
    n: int

    @classmethod
    def build(cls, problems: Sequence[Any], n: int) -> BenchmarkIndex:
        texts, units, doc_sets, text_sets = [], [], [], []
        for p in problems:
            text = p.prompt + p.canonical_solution
            parsed = parse_code(text)
            if not parsed.trees:  # MBPP: the prompt is prose; the solution alone is code
                parsed = parse_code(p.canonical_solution)
            found = ast_units(parsed, max_units=1)
            prompt_parsed = parse_code(p.prompt)
            docs = docstrings(prompt_parsed, p.prompt) if prompt_parsed.trees else [p.prompt]
            texts.append(text)
            units.append(found[0] if found else "")
            doc_sets.append(text_ngrams(docs, n))
            text_sets.append(ngrams(normalize_words(text), n))
        return cls(
            task_ids=[p.task_id for p in problems],
            texts=texts,
            units=units,
            doc_index=_invert(doc_sets),
            text_index=_invert(text_sets),
            doc_grams=[len(s) for s in doc_sets],
            text_grams=[len(s) for s in text_sets],
            n=n,
        )

    def __len__(self) -> int:
        return len(self.task_ids)


def _invert(sets: list[set]) -> dict[tuple[str, ...], tuple[int, ...]]:
    index: dict[tuple[str, ...], list[int]] = {}
    for i, grams in enumerate(sets):
        for g in grams:
            index.setdefault(g, []).append(i)
    return {g: tuple(v) for g, v in index.items()}


def _shared(grams: set, index: dict[tuple[str, ...], tuple[int, ...]]) -> dict[int, int]:
    hits: Counter = Counter()
    for g in grams & index.keys():
        hits.update(index[g])
    return dict(hits)


# --- scoring one record ---------------------------------------------------------------------


@dataclass
class RecordScore:
    """A record's scores against the problems it was compared with (problem index keys)."""

    ast: dict[int, float]
    ngram_doc: dict[int, int]
    ngram_text: dict[int, int]
    note: str | None = None
    """Why part of the record could not be scored (code that does not parse)."""
    text_only: bool = False
    """No code unit parsed: only the n-gram and embedding scores apply."""


AST_FLOOR = 0.5
"""With ``ast_scope: all``, match rates below this are dropped (they are most pairs)."""


def score_text(
    index: BenchmarkIndex, text: str, candidates: Sequence[int] | None, *, max_units: int = 64
) -> RecordScore:
    """n-gram overlaps with every problem; AST match rates with the ``candidates`` (None:
    every problem, keeping rates >= :data:`AST_FLOOR`)."""
    parsed = parse_code(text)
    units = ast_units(parsed, max_units=max_units)
    rates: dict[int, float] = {}
    if units:
        if candidates is None:
            best = match_rates(index.units, units, cutoff=AST_FLOOR)
            rates = {int(p): float(best[p]) for p in np.flatnonzero(best)}
        else:
            cands = [p for p in candidates if index.units[p]]
            best = match_rates([index.units[p] for p in cands], units)
            rates = {p: float(r) for p, r in zip(cands, best, strict=True)}
    return RecordScore(
        ast=rates,
        ngram_doc=_shared(text_ngrams(docstrings(parsed, text), index.n), index.doc_index),
        ngram_text=_shared(ngrams(normalize_words(text), index.n), index.text_index),
        note=parsed.problem,
        text_only=not units,
    )


def embed_input(text: str, settings: DecontamSettings) -> str:
    """What the embedder reads of a text. With one window per record only its start
    counts, so a huge text (a whole source file) is cut before tokenization; 16 characters
    per token leave the window full for any real text."""
    if settings.embed_max_chunks == 1 and settings.embed_max_tokens:
        return text[: 16 * settings.embed_max_tokens]
    return text


def record_text(row: dict) -> tuple[str | None, str | None]:
    """The text to score and, when the record lacks the expected field, why."""
    text = row.get("text")
    if isinstance(text, str):
        return text, None
    prompt, completion = row.get("prompt"), row.get("completion")
    if isinstance(prompt, str) and isinstance(completion, str):
        return prompt + completion, "no 'text' field: scored prompt + completion"
    return None, "no 'text' field (nor prompt + completion): kept unscored"


def judge(
    score: RecordScore,
    nearest: tuple[int, float] | None,
    settings: DecontamSettings,
    task_ids: Sequence[str],
) -> dict[float, list[str]]:
    """The reasons to remove a record at each tau (an empty list: keep it there)."""
    always = []
    if nearest is not None and settings.embedding_threshold is not None:
        p, dist = nearest
        if dist <= settings.embedding_threshold + EPS:
            always.append(
                f"embedding distance {dist:.3f} <= {settings.embedding_threshold} to {task_ids[p]}"
            )
    n, k = settings.ngram_n, settings.ngram_min_shared
    for kind, hits in (("docstring", score.ngram_doc), ("text", score.ngram_text)):
        if settings.ngram_rule in (kind, "any") and hits:
            p, shared = max(hits.items(), key=lambda kv: (kv[1], -kv[0]))
            if shared >= k:
                always.append(f"{shared} shared {kind} {n}-grams with {task_ids[p]}")
    best = max(score.ast.items(), key=lambda kv: (kv[1], -kv[0]), default=None)
    out = {}
    for tau in settings.taus:
        reasons = list(always)
        if best is not None and best[1] + EPS >= tau:
            reasons.insert(0, f"AST match {best[1]:.3f} >= {tau} with {task_ids[best[0]]}")
        out[tau] = reasons
    return out


# --- nearest neighbours ---------------------------------------------------------------------


@dataclass
class Neighbours:
    """Embedding candidates: each record's nearest problems, each problem's nearest records."""

    rec_problems: np.ndarray  # (N, m) int32, nearest first
    rec_sims: np.ndarray  # (N, m) float32 cosine similarities
    prob_records: np.ndarray  # (P, k) int64, nearest first (-1: none)
    prob_sims: np.ndarray  # (P, k) float32


class NeighbourSearch:
    """Streaming top-k in both directions over chunks of record embeddings."""

    def __init__(self, problem_emb: np.ndarray, m: int, k: int) -> None:
        self.p = problem_emb.astype(np.float32)  # (P, d)
        self.m = max(1, min(m, len(self.p)))
        self.k = max(1, k)
        self.rec_problems: list[np.ndarray] = []
        self.rec_sims: list[np.ndarray] = []
        self.top_idx = np.full((len(self.p), 0), -1, dtype=np.int64)
        self.top_sim = np.zeros((len(self.p), 0), dtype=np.float32)
        self.seen = 0

    def add(self, emb: np.ndarray, valid: np.ndarray) -> None:
        """Fold in a chunk (c, d) of record embeddings; invalid rows are never neighbours."""
        sims = emb.astype(np.float32) @ self.p.T  # (c, P)
        sims[~valid] = -np.inf
        part = np.argpartition(-sims, self.m - 1, axis=1)[:, : self.m]  # (c, m)
        psims = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-psims, axis=1, kind="stable")
        self.rec_problems.append(np.take_along_axis(part, order, axis=1).astype(np.int32))
        self.rec_sims.append(np.take_along_axis(psims, order, axis=1))
        ids = np.arange(self.seen, self.seen + len(emb), dtype=np.int64)
        cand_sim = np.concatenate([self.top_sim, sims.T], axis=1)  # (P, k + c)
        cand_idx = np.concatenate([self.top_idx, np.broadcast_to(ids, sims.T.shape)], axis=1)
        keep = min(self.k, cand_sim.shape[1])
        top = np.argpartition(-cand_sim, keep - 1, axis=1)[:, :keep]
        self.top_sim = np.take_along_axis(cand_sim, top, axis=1)
        self.top_idx = np.take_along_axis(cand_idx, top, axis=1)
        self.seen += len(emb)

    def result(self) -> Neighbours:
        order = np.lexsort((self.top_idx, -self.top_sim), axis=1)  # nearest, then first seen
        sims = np.take_along_axis(self.top_sim, order, axis=1)
        idx = np.take_along_axis(self.top_idx, order, axis=1)
        idx[~np.isfinite(sims)] = -1
        m = self.m
        return Neighbours(
            rec_problems=np.concatenate(self.rec_problems or [np.zeros((0, m), np.int32)]),
            rec_sims=np.concatenate(self.rec_sims or [np.zeros((0, m), np.float32)]),
            prob_records=idx,
            prob_sims=sims,
        )


def distance(sim: float | np.ndarray) -> Any:
    """L2 distance between unit vectors from their cosine similarity."""
    return np.sqrt(np.maximum(0.0, 2.0 - 2.0 * np.asarray(sim, dtype=np.float64)))
