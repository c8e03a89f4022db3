"""Exact and MinHash near-duplicate detection: normalisation, estimates, LSH parameters,
batching, settings."""

from __future__ import annotations

import random
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phi1.errors import Phi1Error
from phi1.text.minhash import (
    DedupSettings,
    MinHasher,
    dedup_texts,
    exact_key,
    find_duplicates,
    fmix64,
    jaccard,
    optimal_bands,
)


@pytest.fixture(scope="module")
def stdlib_docs() -> list[str]:
    """Long modules of the running Python's standard library: real code on every machine."""
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[:120]
    docs = [f.read_text(encoding="utf-8").removeprefix("\ufeff") for f in files]
    return [d for d in docs if len(d.split()) > 200][:40]


def _perturb(text: str, fraction: float, rng: random.Random) -> str:
    lines = text.splitlines()
    for _ in range(int(len(lines) * fraction)):
        lines[rng.randrange(len(lines))] = f"changed = {rng.random()}"
    return "\n".join(lines)


def test_exact_duplicates_after_normalisation():
    a = "def f(x):\n    return x\n"
    variants = [a.replace("\n", "\r\n"), "def f(x):   \n\n\n    return x", a + "\n\n"]
    assert len({exact_key(t) for t in [a, *variants]}) == 1
    assert exact_key(a) != exact_key(a.replace("x", "y"))
    results = find_duplicates([a, "other = 1\n", *variants], DedupSettings(near=False))
    assert results[:2] == [None, None]
    assert results[2:] == [("exact-duplicate", 0)] * 3


def test_signature_agreement_estimates_jaccard(stdlib_docs):
    rng = random.Random(0)
    hasher = MinHasher(num_perm=128, ngram=5, seed=0)
    errors = []
    for doc in stdlib_docs:
        other = _perturb(doc, rng.choice([0.05, 0.2, 0.5]), rng)
        sig = hasher.signatures([doc, other])
        errors.append(float((sig[0] == sig[1]).mean()) - jaccard(doc, other))
    errors = np.abs(errors)
    # The estimate's standard deviation is sqrt(J(1-J)/128) <= 0.044.
    assert errors.mean() < 0.05 and errors.max() < 0.2


def test_near_duplicates_found_and_first_one_kept(stdlib_docs):
    rng = random.Random(1)
    near = [_perturb(d, 0.03, rng) for d in stdlib_docs[:10]]
    far = [_perturb(d, 0.6, rng) for d in stdlib_docs[10:20]]
    texts = stdlib_docs[:20] + near + far
    results = find_duplicates(texts, DedupSettings(exact=False), batch=7)
    for i, r in enumerate(results[:20]):
        assert r is None, texts[i][:80]
    found = [r for r in results[20:30] if r is not None]
    assert len(found) >= 9  # J ~ 0.85-0.95 pairs: LSH at 0.8 catches nearly all
    assert all(reason == "near-duplicate" and 0 <= idx < 10 for reason, idx in found)
    assert sum(r is not None for r in results[30:]) <= 1  # J ~ 0.2: kept
    assert dedup_texts(texts, DedupSettings(exact=False)) == [
        i for i, r in enumerate(results) if r is None
    ]


@settings(max_examples=40, deadline=None)
@given(
    texts=st.lists(
        st.text(alphabet=st.sampled_from("ab cd\u00e9\u4e2d_\n.\x00"), max_size=60),
        min_size=1,
        max_size=8,
    ),
    data=st.data(),
)
def test_signatures_do_not_depend_on_the_batch(texts, data):
    hasher = MinHasher(num_perm=16, ngram=3, seed=3)
    together = hasher.signatures(texts)
    alone = np.stack([hasher.signatures([t])[0] for t in texts])
    np.testing.assert_array_equal(together, alone)
    order = data.draw(st.permutations(range(len(texts))))
    shuffled = hasher.signatures([texts[i] for i in order])
    np.testing.assert_array_equal(shuffled, together[list(order)])
    for t, row in zip(texts, together, strict=True):
        if not any(ch.isalnum() or ch == "_" or ord(ch) > 127 for ch in t):
            assert (row == 0xFFFFFFFF).all()  # no words: the empty signature


def test_case_and_punctuation_do_not_matter_but_words_do():
    hasher = MinHasher(num_perm=64, ngram=2)
    a, b, c = hasher.signatures(["Hello, World: foo(bar)", "hello world foo bar", "hello there"])
    assert (a == b).all() and not (a == c).all()
    short = hasher.signatures(["one"])[0]  # fewer words than ngram: one shingle
    assert (short != 0xFFFFFFFF).all()


def test_seed_changes_the_hash_functions():
    text = ["the quick brown fox jumps over the lazy dog again and again"]
    assert not (MinHasher(seed=0).signatures(text) == MinHasher(seed=1).signatures(text)).all()


@pytest.mark.parametrize("threshold, num_perm", [(0.5, 64), (0.8, 128), (0.9, 256)])
def test_lsh_parameters_match_datasketch(threshold, num_perm):
    from datasketch.lsh import _optimal_param

    b, r = optimal_bands(threshold, num_perm)
    assert b * r <= num_perm
    assert (b, r) == _optimal_param(threshold, num_perm, 0.5, 0.5)


def test_bad_settings_raise():
    for bad in ({"threshold": 0}, {"num_perm": 1}, {"ngram": 0}, {"bands": 4},
                {"bands": 20, "rows": 10}):  # fmt: skip
        with pytest.raises(Phi1Error):
            DedupSettings(**bad)


def test_fmix64_is_murmur3s_finaliser():
    """The one finaliser the MinHash shingles and the hash embedder both use."""

    def reference(x: int) -> int:
        m = (1 << 64) - 1
        x ^= x >> 33
        x = (x * 0xFF51AFD7ED558CCD) & m
        x ^= x >> 33
        x = (x * 0xC4CEB9FE1A85EC53) & m
        return x ^ (x >> 33)

    values = [0, 1, 2, 12345, (1 << 64) - 1, 0x9E3779B97F4A7C15]
    with np.errstate(over="ignore"):
        got = fmix64(np.array(values, dtype=np.uint64))
    assert got.tolist() == [reference(v) for v in values]
