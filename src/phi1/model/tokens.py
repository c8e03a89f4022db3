"""The packed token format: what ``phi1 pack`` writes and the trainer reads.

It sits beside the tokenizer whose ids it stores (uint16 because the tokenizer's 50295 ids
fit, and ``index.json`` records the tokenizer's identity), below both stages that use it:
:mod:`phi1.data.pack` writes it, :mod:`phi1.train.loader` reads it. Layout of a packed
directory::

    shard-00000.bin    raw little-endian uint16 token ids (``DTYPE``), whole documents only
    shard-00000.json   that shard's record: file, documents, tokens, sources, sha256 of the
                       bytes, the fingerprint of its input, the tokenizer, the EOT id
    index.json         the dataset: ``format`` (``FORMAT``), ``version``, ``dtype``,
                       ``eot_id``, ``tokenizer``, totals, tokens per source, the shards in
                       stream order (file, documents, tokens, sha256) and a content hash

A shard's ``.bin`` is written before its ``.json`` (both atomically), so a record always
describes a complete shard; ``index.json`` is written last and marks a finished dataset.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from phi1.errors import Phi1Error
from phi1.io import atomic_write_bytes, atomic_write_json, read_json, sha256_json

FORMAT = "phi1-tokens"
VERSION = 1
DTYPE = np.dtype("<u2")  # little-endian uint16: the tokenizer's 50295 ids fit
DTYPE_NAME = "uint16"
INDEX = "index.json"


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
        "tokens": len(blob) // DTYPE.itemsize,
        "sources": sources,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "input_sha256": input_sha256,
        "tokenizer": tokenizer,
        "eot_id": eot_id,
    }
    atomic_write_bytes(out_dir / meta["file"], blob)
    atomic_write_json(out_dir / f"{name}.json", meta)
    return meta


def shard_is_complete(bin_path: Path, meta: dict) -> bool:
    """Whether a shard file holds exactly the tokens its record says."""
    return bin_path.stat().st_size == DTYPE.itemsize * meta.get("tokens", -1)


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
    index = {
        "format": FORMAT,
        "version": VERSION,
        "dtype": DTYPE_NAME,
        "eot_id": metas[0]["eot_id"],
        "tokenizer": metas[0]["tokenizer"],
        "documents": documents,
        "tokens": sum(m["tokens"] for m in metas),
        "sources": dict(sorted(sources.items())),
        "shards": [{k: m[k] for k in ("file", "documents", "tokens", "sha256")} for m in metas],
        "content_sha256": sha256_json([m["sha256"] for m in metas]),
        **extra,
    }
    atomic_write_json(out_dir / INDEX, index)
    return index


class PackedDataset:
    """The token stream of one packed directory; reads any span across its shards."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        index_path = self.path / INDEX
        if not index_path.exists():
            raise Phi1Error(f"{self.path}: not a packed dataset (no {INDEX}); run phi1 pack")
        index = read_json(index_path)
        if index.get("format") != FORMAT or index.get("dtype") != DTYPE_NAME:
            raise Phi1Error(f"{index_path}: not a phi1 token index")
        self.index = index
        self.files: list[Path] = []
        sizes = []
        for shard in index["shards"]:
            file = self.path / shard["file"]
            if not file.exists():
                raise Phi1Error(f"{file}: shard missing")
            if not shard_is_complete(file, shard):
                size, expected = file.stat().st_size, DTYPE.itemsize * shard["tokens"]
                raise Phi1Error(
                    f"{file}: truncated or damaged: {size} bytes, the index says "
                    f"{shard['tokens']} tokens ({expected} bytes); re-run phi1 pack"
                )
            self.files.append(file)
            sizes.append(shard["tokens"])
        self.starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        self.tokens = int(self.starts[-1])
        if self.tokens == 0:
            raise Phi1Error(f"{self.path}: the dataset holds no tokens")

    @property
    def content_sha256(self) -> str:
        return self.index["content_sha256"]

    @property
    def tokenizer(self) -> dict:
        return self.index["tokenizer"]

    def read(self, start: int, n: int) -> np.ndarray:
        """Tokens ``[start, start + n)`` of the stream, as int64."""
        out = np.empty(n, dtype=np.int64)
        i = int(np.searchsorted(self.starts, start, side="right")) - 1
        pos, done = start, 0
        while done < n:
            offset = pos - int(self.starts[i])
            take = min(n - done, int(self.starts[i + 1]) - pos)
            out[done : done + take] = np.fromfile(
                self.files[i], dtype=DTYPE, count=take, offset=DTYPE.itemsize * offset
            )
            done += take
            pos += take
            i += 1
        return out
