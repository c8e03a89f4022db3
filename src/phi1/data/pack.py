"""Packing: documents -> uint16 token shards + ``index.json``, the format the trainer reads.

Each document is tokenized with the tokenizer's fast batch path and followed by exactly one
``<|endoftext|>`` (50256); documents are concatenated in input order (the paper joins files
with ``<|endoftext|>`` and slices the stream into 2048-token sequences; the slicing happens
in :mod:`phi1.train.loader`). The on-disk format (shards, their records, ``index.json``) is
:mod:`phi1.model.tokens`; inputs are read by the strict mode of :mod:`phi1.data.readers`.

Work is cut into shards by input text size, which is known before tokenizing, so shards are
tokenized in parallel processes, the output does not depend on the worker count, and a
re-run skips every shard whose record matches its input fingerprint (resumable per shard
after a kill). Memory stays bounded: the reader keeps at most ``2 x workers`` shards of text
in flight, and a worker converts token lists to arrays a batch at a time.

:class:`PackTokens` is the same shard writer as a datatrove pipeline step, so packing also
runs on datatrove's local, Slurm and Ray executors; :func:`write_index` then joins the shards
of all tasks into one dataset.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import itertools
import json
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from datatrove.pipeline.base import PipelineStep

from phi1.data.readers import ReadStats, read_paths
from phi1.errors import Phi1Error
from phi1.io import read_json
from phi1.model.tokens import DTYPE, shard_is_complete, write_index, write_tokens

ENCODE_BATCH = 256  # documents per encode_batch call inside a shard

Doc = tuple[str, str]  # (text, source)


@dataclass(frozen=True)
class PackSettings:
    """How documents are read and cut into shards; ``phi1 pack`` takes it as ``pack:``."""

    text_field: str = "text"
    """The field (JSONL) or column (Parquet) that holds the text."""
    glob: str | None = None
    """In directories, take the files matching this pattern instead of JSONL/Parquet; files
    that are not JSONL/Parquet are one document each (``*.py`` packs source files)."""
    shard_mb: float = 32.0
    """Megabytes of input text per shard (the unit of parallelism and resume)."""
    workers: int | None = None
    """Tokenizer processes (default: one per CPU core)."""

    def __post_init__(self) -> None:
        if self.shard_mb <= 0:
            raise Phi1Error(f"pack: shard_mb must be positive, got {self.shard_mb}")


# -- reading documents -------------------------------------------------------------------


def read_documents(
    inputs: Iterable[str], settings: PackSettings, stats: ReadStats
) -> Iterator[Doc]:
    """``(text, source)`` of every non-empty document (:func:`phi1.data.readers.read_paths`)."""
    s = settings
    for record in read_paths(inputs, text_field=s.text_field, glob=s.glob, stats=stats):
        yield record["text"], record["meta"]["source"]


def chunk_documents(docs: Iterable[Doc], shard_chars: int) -> Iterator[list[Doc]]:
    """Group documents in order into lists of about ``shard_chars`` characters of text."""
    chunk: list[Doc] = []
    size = 0
    for doc in docs:
        chunk.append(doc)
        size += len(doc[0])
        if size >= shard_chars:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


# -- writing shards ----------------------------------------------------------------------

_TOKENIZER = None


def _tokenizer():
    """The tokenizer, loaded once per process (workers load their own)."""
    global _TOKENIZER
    if _TOKENIZER is None:
        from phi1.model.tokenizer import get_tokenizer

        _TOKENIZER = get_tokenizer()
    return _TOKENIZER


def fingerprint(docs: list[Doc], tokenizer_identity: dict) -> str:
    """What a shard is made from: its texts, their sources and the tokenizer."""
    h = hashlib.sha256(json.dumps(tokenizer_identity, sort_keys=True).encode())
    for text, source in docs:
        data = text.encode("utf-8", "surrogatepass")
        h.update(f"{len(data)}:{source}\0".encode())
        h.update(data)
    return h.hexdigest()


def encode_documents(
    tokenizer: Any, texts: list[str], threads: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Tokenize ``texts`` with the fast path: (ids, each followed by one EOT; per-doc lengths).

    A document whose own ids contain the EOT id would put a false boundary in the stream;
    that is a tokenizer bug and raises.
    """
    eot = tokenizer.eot_id
    seqs = tokenizer.encode_batch(texts, num_threads=threads)
    lengths = np.fromiter((len(s) + 1 for s in seqs), dtype=np.int64, count=len(seqs))
    out = np.empty(int(lengths.sum()), dtype=DTYPE)
    ends = np.cumsum(lengths)
    start = 0
    for seq, end in zip(seqs, ends, strict=True):
        out[start : end - 1] = seq
        out[end - 1] = eot
        start = end
    if int(np.count_nonzero(out == eot)) != len(seqs):
        for text, seq in zip(texts, seqs, strict=True):
            if eot in seq:
                raise Phi1Error(
                    f"the tokenizer encoded a document's own text to the <|endoftext|> id "
                    f"{eot} (text starts {text[:60]!r}); packing needs ordinary encoding"
                )
    return out, lengths


def write_shard(
    out_dir: str | os.PathLike, name: str, docs: list[Doc], *, threads: int | None = None
) -> dict:
    """Tokenize ``docs`` into ``out_dir/name.bin`` and record it in ``name.json``.

    If the record exists and was made from the same input (fingerprint) with a shard file of
    the recorded size, nothing is redone: that is how a killed pack resumes. Both files are
    written atomically, the record last, so a record always describes a complete shard.
    """
    out_dir = Path(out_dir)
    tok = _tokenizer()
    identity = tok.identity()
    fp = fingerprint(docs, identity)
    meta_path, bin_path = out_dir / f"{name}.json", out_dir / f"{name}.bin"
    if meta_path.exists() and bin_path.exists():
        old = read_json(meta_path)
        if old.get("input_sha256") == fp and shard_is_complete(bin_path, old):
            return {**old, "resumed": True}
    pieces, sources = [], {}
    for i in range(0, len(docs), ENCODE_BATCH):
        batch = docs[i : i + ENCODE_BATCH]
        ids, lengths = encode_documents(tok, [text for text, _ in batch], threads)
        pieces.append(ids)
        for (_, source), n in zip(batch, lengths.tolist(), strict=True):
            entry = sources.setdefault(source, {"documents": 0, "tokens": 0})
            entry["documents"] += 1
            entry["tokens"] += n
    data = np.concatenate(pieces) if pieces else np.empty(0, dtype=DTYPE)
    meta = write_tokens(
        out_dir,
        name,
        data,
        documents=len(docs),
        sources=sources,
        input_sha256=fp,
        tokenizer=identity,
        eot_id=tok.eot_id,
    )
    return {**meta, "resumed": False}


def _write_shard_task(out_dir: str, name: str, docs: list[Doc]) -> dict:
    return write_shard(out_dir, name, docs, threads=1)  # one process per core already


# -- packing ---------------------------------------------------------------------------


def pack(
    inputs: str | os.PathLike | Iterable[str | os.PathLike],
    out: str | os.PathLike,
    settings: PackSettings | None = None,
    *,
    progress: bool = True,
) -> dict:
    """Pack documents into token shards under ``out``; return the index (also ``index.json``)."""
    s = settings or PackSettings()
    inputs = [str(inputs)] if isinstance(inputs, (str, os.PathLike)) else list(map(str, inputs))
    if not inputs:
        raise Phi1Error("pack: no inputs given")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    workers = max(1, s.workers or os.cpu_count() or 1)
    # index.json marks a finished pack; a run that stops half way leaves none.
    (out / "index.json").unlink(missing_ok=True)
    stats = ReadStats()
    chunks = chunk_documents(read_documents(inputs, s, stats), int(s.shard_mb * 1e6))
    start = time.perf_counter()
    metas: list[dict] = []
    bar = _progress(progress)
    try:
        for meta in _run_shards(str(out), chunks, workers):
            metas.append(meta)
            bar.update(meta["documents"])
            tokens = sum(m["tokens"] for m in metas)
            rate = tokens / max(time.perf_counter() - start, 1e-9)
            bar.set_postfix_str(f"{len(metas)} shards, {tokens:,} tokens, {rate:,.0f} tok/s")
    finally:
        bar.close()
    keep = {m["file"] for m in metas} | {m["file"][:-4] + ".json" for m in metas}
    for stale in out.glob("shard-*"):
        if stale.name not in keep:
            stale.unlink()
    index = write_index(
        out,
        metas,
        inputs=inputs,
        text_field=s.text_field,
        skipped=dict(sorted(stats.skipped.items())),
    )
    index["resumed_shards"] = sum(m["resumed"] for m in metas)
    index["seconds"] = round(time.perf_counter() - start, 3)
    return index


def _run_shards(out: str, chunks: Iterator[list[Doc]], workers: int) -> Iterator[dict]:
    """Write each chunk as ``shard-NNNNN``, in order; at most 2 x workers chunks in flight.

    One process encodes on all cores through the tokenizer's threads; several processes
    (one thread each) also spread the reading, hashing and array work, which pays once there
    are several shards. A single shard never starts a pool.
    """
    names = (f"shard-{i:05d}" for i in range(10**9))
    first = next(chunks, None)
    second = next(chunks, None) if first is not None else None
    chunks = itertools.chain([c for c in (first, second) if c is not None], chunks)
    if workers == 1 or second is None:
        for name, docs in zip(names, chunks, strict=False):
            yield write_shard(out, name, docs)
        return
    # spawn, not fork: the parent may already hold tokenizer threads.
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending: deque[cf.Future] = deque()
        for name, docs in zip(names, chunks, strict=False):
            pending.append(pool.submit(_write_shard_task, out, name, docs))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _progress(enabled: bool):
    from tqdm import tqdm

    return tqdm(desc="pack", unit=" docs", disable=not enabled, dynamic_ncols=True, delay=1.0)


# -- datatrove ---------------------------------------------------------------------------


class PackTokens(PipelineStep):
    """datatrove step: pack the documents of each task into ``shard-rRRRRR-NNNNN`` shards.

    Consumes documents and yields none (it ends a pipeline). After every task finished, call
    :func:`write_index` on the folder. The tokenizer loads lazily in the worker, so the step
    pickles cheaply; a re-run of a task skips its shards that are already complete.
    """

    name = "phi1 pack"
    type = "🔢 - TOKENIZER"

    def __init__(self, output_folder: str, shard_mb: float = 32.0):
        super().__init__()
        self.output_folder = str(output_folder)
        self.shard_chars = int(shard_mb * 1e6)

    def run(self, data, rank: int = 0, world_size: int = 1):
        Path(self.output_folder).mkdir(parents=True, exist_ok=True)
        docs = ((d.text, _datatrove_source(d.metadata)) for d in data if d.text)
        for k, chunk in enumerate(chunk_documents(docs, self.shard_chars)):
            with self.track_time(unit="shard"):
                meta = write_shard(self.output_folder, f"shard-r{rank:05d}-{k:05d}", chunk)
            self.stat_update("documents", value=meta["documents"])
            self.stat_update("tokens", value=meta["tokens"])
        return
        yield  # a generator that yields nothing: the pipeline ends here


def _datatrove_source(metadata: dict) -> str:
    """A document's source: ``source``, or ``meta.source`` as phi1's JSONL records carry it."""
    meta = metadata.get("meta")
    src = metadata.get("source") or (meta.get("source") if isinstance(meta, dict) else None)
    return str(src or "datatrove")
