"""Packing: documents -> uint16 token shards + ``index.json``, the format the trainer reads.

Each document is tokenized with the tokenizer's fast batch path and followed by exactly one
``<|endoftext|>`` (50256); documents are concatenated in input order (the paper joins files
with ``<|endoftext|>`` and slices the stream into 2048-token sequences; the slicing happens
in :mod:`phi1.train.loader`). Layout of the output directory::

    shard-00000.bin    raw little-endian uint16 token ids, whole documents only
    shard-00000.json   that shard's record: documents, tokens, sources, sha256 of the bytes,
                       and the fingerprint of the input text it was made from
    index.json         the dataset: shards in stream order, totals, tokens per source, the
                       tokenizer's identity and a content hash over the shards

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
from pathlib import Path
from typing import Any

import numpy as np
from datatrove.pipeline.base import PipelineStep

from phi1.errors import Phi1Error
from phi1.io import atomic_write_bytes, atomic_write_json, read_json, read_jsonl, sha256_json

FORMAT = "phi1-tokens"
VERSION = 1
DTYPE = "<u2"  # little-endian uint16: the tokenizer's 50295 ids fit
RECORD_SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")
ENCODE_BATCH = 256  # documents per encode_batch call inside a shard

Doc = tuple[str, str]  # (text, source)


# -- reading documents -------------------------------------------------------------------


class DocumentReader:
    """Stream ``(text, source)`` from JSONL / Parquet files, raw files, or directories of them.

    The source of a document is its record's ``meta.source`` when it has one, else the input
    path as given. Empty texts, and raw files that are not UTF-8, are counted in
    :attr:`skipped` and left out.
    """

    def __init__(self, inputs: Iterable[str], *, text_field: str = "text", glob: str | None = None):
        self.inputs = [str(p) for p in inputs]
        self.text_field = text_field
        self.glob = glob
        self.skipped: dict[str, int] = {}

    def __iter__(self) -> Iterator[Doc]:
        if not self.inputs:
            raise Phi1Error("pack: no inputs given")
        for arg in self.inputs:
            path = Path(arg)
            if path.is_dir():
                files = self._list_dir(path)
                if not files:
                    pattern = self.glob or "*" + ", *".join(RECORD_SUFFIXES)
                    raise Phi1Error(f"{path}: no files matching {pattern}")
                for file in files:
                    yield from self._read_file(file, arg)
            elif path.exists():
                yield from self._read_file(path, arg)
            else:
                raise Phi1Error(f"{path}: no such file or directory")

    def _list_dir(self, path: Path) -> list[Path]:
        if self.glob:
            files = path.rglob(self.glob)
        else:
            files = (p for p in path.rglob("*") if p.name.endswith(RECORD_SUFFIXES))
        return sorted(p for p in files if p.is_file())

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def _read_file(self, path: Path, source: str) -> Iterator[Doc]:
        name = path.name
        if name.endswith(".parquet"):
            rows = self._parquet(path, source)
        elif name.endswith((".jsonl", ".jsonl.gz")):
            rows = self._jsonl(path, source)
        else:
            rows = self._raw(path, source)
        for text, src in rows:
            if text:
                yield text, src
            else:
                self._skip("empty")

    def _raw(self, path: Path, source: str) -> Iterator[Doc]:
        try:
            yield path.read_bytes().decode("utf-8"), source
        except UnicodeDecodeError:
            self._skip("not_utf8")

    def _record(self, row: dict, where: str, source: str) -> Doc:
        text = row.get(self.text_field)
        if text is None:
            raise Phi1Error(f"{where}: missing field {self.text_field!r}")
        if not isinstance(text, str):
            raise Phi1Error(f"{where}: field {self.text_field!r} is {type(text).__name__}, not str")
        meta = row.get("meta")
        src = meta.get("source") if isinstance(meta, dict) else None
        return text, str(src) if src else source

    def _jsonl(self, path: Path, source: str) -> Iterator[Doc]:
        for i, row in enumerate(read_jsonl(path), 1):  # .jsonl or .jsonl.gz
            yield self._record(row, f"{path}: record {i}", source)

    def _parquet(self, path: Path, source: str) -> Iterator[Doc]:
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except Exception as e:  # pyarrow raises several types for a damaged file
            raise Phi1Error(f"{path}: not a readable Parquet file ({e})") from None
        names = pf.schema_arrow.names
        if self.text_field not in names:
            raise Phi1Error(
                f"{path}: no column {self.text_field!r} (columns: {', '.join(names)}); "
                "choose one with --text_field"
            )
        for batch in pf.iter_batches(batch_size=1024, columns=[self.text_field]):
            for text in batch.column(0).to_pylist():
                yield (text or ""), source


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
        if old.get("input_sha256") == fp and bin_path.stat().st_size == 2 * old.get("tokens", -1):
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


def write_tokens(
    out_dir: str | os.PathLike,
    name: str,
    tokens: np.ndarray,
    *,
    documents: int,
    sources: dict[str, dict[str, int]],
    input_sha256: str,
    tokenizer: dict,
    eot_id: int,
) -> dict:
    """Write already-tokenized ids as shard ``name`` (``.bin`` first, then its ``.json``)."""
    out_dir = Path(out_dir)
    blob = np.ascontiguousarray(tokens, dtype=DTYPE).tobytes()
    meta = {
        "file": f"{name}.bin",
        "documents": documents,
        "tokens": len(blob) // 2,
        "sources": sources,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "input_sha256": input_sha256,
        "tokenizer": tokenizer,
        "eot_id": eot_id,
    }
    atomic_write_bytes(out_dir / meta["file"], blob)
    atomic_write_json(out_dir / f"{name}.json", meta)
    return meta


def _write_shard_task(out_dir: str, name: str, docs: list[Doc]) -> dict:
    return write_shard(out_dir, name, docs, threads=1)  # one process per core already


def write_index(out_dir: str | os.PathLike, metas: list[dict] | None = None, **extra: Any) -> dict:
    """Join shard records into ``index.json``; ``metas=None`` takes every ``shard-*.json``.

    The datatrove path calls this once after all tasks finished. An empty dataset raises.
    """
    out_dir = Path(out_dir)
    if metas is None:
        metas = [read_json(p) for p in sorted(out_dir.glob("shard-*.json"))]
    metas = [{k: v for k, v in m.items() if k != "resumed"} for m in metas]
    documents = sum(m["documents"] for m in metas)
    if documents == 0:
        raise Phi1Error(f"{out_dir}: no documents to pack (the inputs hold no non-empty text)")
    identities = {json.dumps(m["tokenizer"], sort_keys=True) for m in metas}
    if len(identities) > 1:
        raise Phi1Error(f"{out_dir}: shards were packed with different tokenizers; re-pack")
    sources: dict[str, dict[str, int]] = {}
    for m in metas:
        for src, c in m["sources"].items():
            entry = sources.setdefault(src, {"documents": 0, "tokens": 0})
            entry["documents"] += c["documents"]
            entry["tokens"] += c["tokens"]
    tok = metas[0]["tokenizer"]
    index = {
        "format": FORMAT,
        "version": VERSION,
        "dtype": "uint16",
        "eot_id": metas[0]["eot_id"],
        "tokenizer": tok,
        "documents": documents,
        "tokens": sum(m["tokens"] for m in metas),
        "sources": dict(sorted(sources.items())),
        "shards": [{k: m[k] for k in ("file", "documents", "tokens", "sha256")} for m in metas],
        "content_sha256": sha256_json([m["sha256"] for m in metas]),
        **extra,
    }
    atomic_write_json(out_dir / "index.json", index)
    return index


# -- the command -------------------------------------------------------------------------


def pack(
    inputs: str | os.PathLike | Iterable[str | os.PathLike],
    out: str | os.PathLike,
    *,
    text_field: str = "text",
    glob: str | None = None,
    shard_mb: float = 32.0,
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Pack documents into token shards under ``out``; return the index (also ``index.json``)."""
    inputs = [str(inputs)] if isinstance(inputs, (str, os.PathLike)) else list(map(str, inputs))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if shard_mb <= 0:
        raise Phi1Error(f"pack: shard_mb must be positive, got {shard_mb}")
    workers = max(1, workers or os.cpu_count() or 1)
    # index.json marks a finished pack; a run that stops half way leaves none.
    (out / "index.json").unlink(missing_ok=True)
    reader = DocumentReader(inputs, text_field=text_field, glob=glob)
    chunks = chunk_documents(reader, int(shard_mb * 1e6))
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
        text_field=text_field,
        skipped=dict(sorted(reader.skipped.items())),
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


def pack_command(
    inputs: str | list[str],
    out: str | None = None,
    text_field: str = "text",
    glob: str | None = None,
    shard_mb: float = 32.0,
    workers: int | None = None,
) -> None:
    """Tokenize documents into uint16 token shards for training (``index.json`` + ``*.bin``).

    Each document is followed by one <|endoftext|>. A re-run resumes: finished shards are
    kept. Pack each dataset you want to weight separately (filtered code, textbooks).

    Args:
        inputs: A JSONL or Parquet file, a directory of them, or a list ``[a, b]``.
        out: Output directory.
        text_field: The field (JSONL) or column (Parquet) that holds the text.
        glob: In directories, take the files matching this pattern instead of
            JSONL/Parquet; files that are not JSONL/Parquet are one document each
            (``--glob '*.py'`` packs source files directly).
        shard_mb: Megabytes of input text per shard (the unit of parallelism and resume).
        workers: Tokenizer processes (default: one per CPU core).
    """
    if out is None:
        raise Phi1Error("pack: --out DIR is required")
    index = pack(inputs, out, text_field=text_field, glob=glob, shard_mb=shard_mb, workers=workers)
    skipped = ", ".join(f"{n} {why}" for why, n in index["skipped"].items()) or "none"
    print(
        f"packed {index['documents']:,} documents, {index['tokens']:,} tokens into "
        f"{len(index['shards'])} shards in {out} ({index['resumed_shards']} resumed; "
        f"skipped: {skipped}; {index['seconds']:.1f}s)"
    )


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
