"""Helpers for the training tests: packed datasets with known token values."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from phi1.model.tokens import write_index, write_tokens

IDENTITY = {"name": "synthetic", "sha256": "0" * 64, "vocab_size": 50295}


def _make_dataset(path: Path, tokens: np.ndarray, shard_sizes: list[int] | None = None) -> Path:
    """A packed dataset holding exactly ``tokens``, cut into shards of ``shard_sizes``."""
    path.mkdir(parents=True, exist_ok=True)
    sizes = shard_sizes or [len(tokens)]
    assert sum(sizes) == len(tokens)
    start = 0
    for i, n in enumerate(sizes):
        write_tokens(
            path,
            f"shard-{i:05d}",
            tokens[start : start + n],
            documents=1,
            sources={"synthetic": {"documents": 1, "tokens": n}},
            input_sha256=str(i),
            tokenizer=IDENTITY,
            eot_id=50256,
        )
        start += n
    write_index(path)
    return path


@pytest.fixture
def make_dataset():
    """``make_dataset(path, tokens, shard_sizes=None) -> path``."""
    return _make_dataset


@pytest.fixture(scope="module")
def random_tokens(tmp_path_factory) -> Path:
    """A packed dataset of 80 32-token sequences of seeded random ids below 2000 (the
    distributed tests' data: nothing to learn, every step's arithmetic the same)."""
    rng = random.Random(0)
    tokens = np.array([rng.randrange(2000) for _ in range(32 * 80 + 1)], dtype=np.uint16)
    return _make_dataset(tmp_path_factory.mktemp("packed"), tokens)
