"""Exact and MinHash near-duplicate removal: estimates, LSH parameters, streaming, command."""

from __future__ import annotations

import itertools
import json
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phi1.data.dedup import (
    DedupSettings,
    MinHasher,
    dedup_texts,
    exact_key,
    find_duplicates,
    jaccard,
    optimal_bands,
    run_dedup,
)
from phi1.data.readers import read_source
from phi1.errors import Phi1Error


@pytest.fixture(scope="module")
def stdlib_docs() -> list[str]:
    docs = [r["text"] for r in itertools.islice(read_source("stdlib"), 120)]
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


def test_dedup_command_writes_kept_rejects_and_summary(tmp_path, stdlib_docs):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rng = random.Random(2)
    for i, doc in enumerate(stdlib_docs[:6]):
        (corpus / f"m{i}.py").write_text(doc)
    (corpus / "z_copy.py").write_text(stdlib_docs[0] + "\n\n")  # exact after normalising
    (corpus / "z_near.py").write_text(_perturb(stdlib_docs[1], 0.02, rng))
    (corpus / "z_bin.py").write_bytes(b"\x00\x01")
    out = tmp_path / "out"
    summary = run_dedup([f"c=dir:{corpus}"], out, DedupSettings())
    kept = [json.loads(line) for line in (out / "kept.jsonl").read_text().splitlines()]
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert [r["id"] for r in kept] == [f"c/m{i}.py" for i in range(6)]
    assert {(r["id"], r["reason"], r["duplicate_of"]) for r in rejects} == {
        ("c/z_copy.py", "exact-duplicate", "c/m0.py"),
        ("c/z_near.py", "near-duplicate", "c/m1.py"),
    }
    assert rejects[0]["record"]["text"]
    assert summary["documents"] == 8 and summary["kept"] == 6
    assert summary["reader"]["skipped"] == {"binary": 1}
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["dropped"] == {"exact-duplicate": 1, "near-duplicate": 1}
    again = run_dedup([f"c=dir:{corpus}"], out, DedupSettings())
    assert again["text"].startswith("dedup: already done")
    assert not list(out.glob(".*.tmp"))


def test_dedup_of_an_empty_corpus_is_one_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(Phi1Error, match="corpus is empty"):
        run_dedup([f"dir:{tmp_path / 'empty'}"], tmp_path / "out")
