"""``phi1 dedup`` over a corpus: kept and rejected records, the summary, resume, errors.

The matching itself is tested in tests/text/test_minhash.py."""

from __future__ import annotations

import itertools
import json

import pytest

from phi1.data.dedup import DedupSettings, run_dedup
from phi1.data.readers import read_source
from phi1.errors import Phi1Error


@pytest.fixture(scope="module")
def stdlib_docs() -> list[str]:
    docs = [r["text"] for r in itertools.islice(read_source("stdlib"), 120)]
    return [d for d in docs if len(d.split()) > 200][:8]


def _edit_every_50th_line(text: str) -> str:
    """A near copy: 2% of the lines changed."""
    lines = text.splitlines()
    return "\n".join(f"changed = {i}" if i % 50 == 25 else s for i, s in enumerate(lines))


def test_dedup_command_writes_kept_rejects_and_summary(tmp_path, stdlib_docs):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, doc in enumerate(stdlib_docs[:6]):
        (corpus / f"m{i}.py").write_text(doc)
    (corpus / "z_copy.py").write_text(stdlib_docs[0] + "\n\n")  # exact after normalising
    (corpus / "z_near.py").write_text(_edit_every_50th_line(stdlib_docs[1]))
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
