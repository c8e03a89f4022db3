"""Decontamination as a datatrove filter, for runs spread over a cluster.

:class:`DecontamFilter` scores each document with the same core as ``phi1 decontam run``
(:mod:`phi1.data.decontam.score`): n-gram overlaps with every problem, the nearest problems
by embedding, the AST match rate with those (or with every problem). It drops a document
flagged at ``tau`` (the reason, ``ast``, ``embedding`` or ``ngram``, is counted in the step's
stats and written by the exclusion writer) and records its scores in
``doc.metadata["decontam"]`` either way; with ``tau=None`` it only annotates.

Each rank sees only its own documents, so this step gives per-record verdicts, not the
per-problem report (each problem's nearest records), which needs the whole dataset: run
``phi1 decontam run`` for that, or collect the annotated metadata afterwards.

Example::

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from phi1.data.decontam.steps import DecontamFilter

    LocalPipelineExecutor(
        pipeline=[
            JsonlReader("exercises/"),
            DecontamFilter(tau=0.9, exclusion_writer=JsonlWriter("decontam/removed")),
            JsonlWriter("decontam/kept"),
        ],
        tasks=8,
    ).run()

The benchmark index and the embedder load on the first batch of each task, not when the
step is built or pickled.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from phi1.data.decontam.score import (
    BenchmarkIndex,
    DecontamSettings,
    distance,
    embed_input,
    judge,
    load_benchmark,
    score_text,
)


class DecontamFilter(BaseFilter):
    """Drop documents too close to a benchmark; annotate every document with its scores."""

    name = "🧪 Decontamination (n-gram, embedding, AST)"
    type = "🦠 - DECONT"

    def __init__(
        self,
        settings: DecontamSettings | None = None,
        tau: float | None = 0.9,
        exclusion_writer: DiskWriter | None = None,
        batch_size: int = 256,
    ) -> None:
        """
        Args:
            settings: What to compare and when to remove (``phi1 decontam run``'s).
            tau: Remove documents flagged at this AST match rate (and by the embedding and
                n-gram rules); None: annotate only.
            exclusion_writer: Writes the removed documents, with ``filter_reason``.
            batch_size: Documents embedded and scored together.
        """
        super().__init__(exclusion_writer, batch_size)
        settings = settings or DecontamSettings()
        if tau is not None:
            settings = replace(settings, taus=[tau])
        settings.check()
        self.settings = settings
        self.tau = tau
        self._state: dict[str, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_state"] = None  # loads again, lazily, wherever the step runs
        return state

    def _load(self) -> dict[str, Any]:
        if self._state is None:
            s = self.settings
            index = BenchmarkIndex.build(load_benchmark(s.benchmark), s.ngram_n)
            state: dict[str, Any] = {"index": index, "embedder": None, "problems": None}
            if s.uses_embeddings:
                from phi1.llm.embed import load_embedder

                embedder = load_embedder(
                    s.embedder, max_tokens=s.embed_max_tokens, max_chunks=s.embed_max_chunks
                )
                state["embedder"] = embedder
                texts = [embed_input(t, s) for t in index.texts]
                state["problems"] = embedder.embed(texts, s.batch_size)  # (P, d)
            self._state = state
        return self._state

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        state, s = self._load(), self.settings
        index = state["index"]
        texts = [doc.text if isinstance(doc.text, str) else "" for doc in batch]
        nearest: list[np.ndarray | None] = [None] * len(batch)
        sims = None
        if state["embedder"] is not None:
            emb = state["embedder"].embed([embed_input(t, s) for t in texts], s.batch_size)
            sims = emb @ state["problems"].T  # (B, P)
            m = min(s.candidates, len(index))
            nearest = list(np.argsort(-sims, axis=1, kind="stable")[:, :m])
        out: list[bool | tuple[bool, str]] = []
        for b, (doc, text) in enumerate(zip(batch, texts, strict=True)):
            cands = None
            if nearest[b] is not None and s.ast_scope == "candidates":
                cands = nearest[b].tolist()
            score = score_text(index, text, cands, max_units=s.max_units)
            near = None
            if sims is not None:
                p0 = int(nearest[b][0])
                near = (p0, float(distance(sims[b, p0])))
            verdict = judge(score, near, s, index.task_ids)
            best = max(score.ast.items(), key=lambda kv: (kv[1], -kv[0]), default=None)
            reasons = verdict[self.tau] if self.tau is not None else []
            doc.metadata["decontam"] = {
                "nearest": None if near is None else index.task_ids[near[0]],
                "distance": None if near is None else round(near[1], 4),
                "ast": None if best is None else round(best[1], 4),
                "ast_task": None if best is None else index.task_ids[best[0]],
                "ngram_doc": max(score.ngram_doc.values(), default=0),
                "ngram_text": max(score.ngram_text.values(), default=0),
                "reasons": reasons,
                "note": score.note,
            }
            if reasons:
                out.append((False, _kind(reasons[0])))
            else:
                out.append(True)
        return out


def _kind(reason: str) -> str:
    """A short stats label for a reason (the detail stays in the metadata)."""
    if reason.startswith("AST"):
        return "ast"
    if reason.startswith("embedding"):
        return "embedding"
    return "ngram"
