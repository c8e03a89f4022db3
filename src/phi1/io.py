"""Small file helpers every stage shares: JSONL in and out, atomic writes, hashes.

Stages read files and write files; these helpers make the writes safe against a kill
(temporary file, fsync, rename) and make read errors name the file and line.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from phi1.errors import Phi1Error


def read_jsonl(
    path: str | os.PathLike, *, required: Iterable[str] = (), torn_tail: bool = False
) -> Iterator[dict]:
    """Yield one dict per non-empty line; a bad line raises naming ``path:line``.

    A ``.gz`` file is read through gzip. A last line cut short by a kill (no trailing
    newline, invalid JSON) is an error too: callers that resume use :func:`repair_jsonl`
    first; readers of a file another process may still be writing (the report) pass
    ``torn_tail=True`` to skip it.
    """
    for _, row in read_jsonl_numbered(path, required=required, torn_tail=torn_tail):
        yield row


def read_jsonl_numbered(
    path: str | os.PathLike, *, required: Iterable[str] = (), torn_tail: bool = False
) -> Iterator[tuple[int, dict]]:
    """:func:`read_jsonl` with each row's line number (1-based, blank lines counted), for
    callers whose own checks of a row name ``path:line`` too."""
    required = tuple(required)
    path = Path(path)
    if not path.exists():
        raise Phi1Error(f"{path}: no such file")
    gz = path.name.endswith(".gz")
    try:
        with gzip.open(path, "rt", encoding="utf-8") if gz else path.open(encoding="utf-8") as f:
            yield from _read_lines(path, f, required, torn_tail)
    except (OSError, EOFError) as e:
        if not gz:
            raise
        raise Phi1Error(f"{path}: unreadable gzip file ({e})") from None
    except UnicodeDecodeError:
        raise Phi1Error(f"{path}:{_first_undecodable_line(path)}: not UTF-8 text") from None


def _read_lines(
    path: Path, f: IO[str], required: tuple[str, ...], torn_tail: bool
) -> Iterator[tuple[int, dict]]:
    for lineno, line in enumerate(f, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            if torn_tail and not line.endswith("\n"):
                return  # the last line, still being written
            raise Phi1Error(f"{path}:{lineno}: invalid JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise Phi1Error(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
        for key in required:
            if key not in row:
                raise Phi1Error(f"{path}:{lineno}: missing field {key!r}")
        yield lineno, row


def _first_undecodable_line(path: Path) -> int | str:
    """The number of the first line that is not UTF-8 (text is decoded in blocks, so the
    error of the fast path does not say which line)."""
    with gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return lineno
    return "?"


def repair_jsonl(path: str | os.PathLike) -> int:
    """Drop a torn last line (a write cut by a kill); return how many bytes were removed."""
    path = Path(path)
    if not path.exists():
        return 0
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return 0
    cut = data.rfind(b"\n") + 1
    with path.open("r+b") as f:
        f.truncate(cut)
        f.flush()
        os.fsync(f.fileno())
    return len(data) - cut


class JsonlWriter:
    """Append-only JSONL writer; :meth:`flush` makes the written rows durable (fsync)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_jsonl(self.path)
        self._f = self.path.open("a", encoding="utf-8")

    def write(self, row: dict) -> None:
        self._f.write(json.dumps(row, ensure_ascii=False) + "\n")

    def write_many(self, rows: Iterable[dict]) -> None:
        for row in rows:
            self.write(row)

    def flush(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        if not self._f.closed:
            self.flush()
            self._f.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> int:
    """Write all rows atomically (temporary file, then rename); return the row count."""
    n = 0

    def lines() -> Iterator[str]:
        nonlocal n
        for row in rows:
            n += 1
            yield json.dumps(row, ensure_ascii=False) + "\n"

    atomic_write_text(path, "".join(lines()))
    return n


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` so that ``path`` holds either the old content or the new, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False, default=str) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Load a JSON file; a missing or malformed file raises naming the path."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Phi1Error(f"{path}: no such file") from None
    except json.JSONDecodeError as e:
        raise Phi1Error(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None


def read_yaml(path: str | os.PathLike) -> Any:
    """Load a YAML file (an empty file is ``None``); a missing or malformed file raises
    naming the path and, for a syntax error, the line."""
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise Phi1Error(f"{path}: {e.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise Phi1Error(f"{where}: invalid YAML ({e})") from None


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256_file(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_json(obj: Any) -> str:
    """Hash of a JSON-serialisable value, independent of key order (config identities)."""
    return sha256_text(json.dumps(obj, sort_keys=True, default=str))
