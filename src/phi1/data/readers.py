"""Corpus readers: source files on disk, The Stack (Parquet / JSONL), StackOverflow dumps,
Hugging Face datasets; each yields records ``{"id", "text", "meta"}``.

A source is named by a spec string (``read_corpus(["stdlib", "site-packages"])``):

==========================  ============================================================
``stdlib``                  the running Python's standard library (.py), without its
                            site-packages
``site-packages``           the installed third-party packages (.py)
``PATH`` / ``dir:PATH``     a directory of source files, chosen by extension
``FILE.jsonl[.gz]``         JSON lines: phi1 records pass through; otherwise a text column
``FILE.parquet``            Parquet with a text column (The Stack: ``content``,
                            ``max_stars_repo_path``, ``max_stars_repo_name``, ``lang``...)
``jsonl:DIR``               every ``*.jsonl[.gz]`` under DIR (``parquet:DIR`` likewise)
``FILE.xml`` / ``so:FILE``  a StackOverflow ``Posts.xml``: one document per question with
                            its accepted and best answers, code blocks kept
``hf:NAME``                 a Hugging Face dataset, streamed (needs ``datasets`` and a
                            network; optional)
==========================  ============================================================

Prefix ``NAME=`` to set the source name recorded in ``meta.source`` (``mine=dir:src``);
annotation samples are stratified by it.

Bad input never stops a read: binary, non-UTF-8, oversized and empty documents, malformed
JSON lines, Parquet files and XML rows are counted in :class:`ReadStats` with the reason and
skipped. Reads are deterministic (sorted walks, file order) and can be sharded across
workers (``rank``/``world_size``): a worker only opens its own files.

:func:`read_paths` is the strict mode, for inputs that are another stage's output named by
path (``phi1 pack``): the same records, but a malformed line, a row without its text field
or an unreadable file is an error naming the file and line.
"""

from __future__ import annotations

import gzip
import html
import itertools
import json
import os
import sys
import sysconfig
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.io import read_jsonl

DEFAULT_SOURCES = ("stdlib", "site-packages")
DEFAULT_EXTENSIONS = (".py",)
DEFAULT_MAX_BYTES = 1_000_000
# Where The Stack, plain exports and phi1's own records keep the document text.
TEXT_COLUMNS = ("text", "content", "code", "body")
# Directories that hold tooling, caches or vendored environments rather than sources.
_SKIP_DIRS = {"__pycache__", ".git", ".hg", ".svn", ".tox", ".venv", "node_modules"}
_EXAMPLES_PER_REASON = 5


@dataclass
class ReadStats:
    """What a read yielded and what it skipped, by reason, with a few examples of each."""

    read: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        seen = self.examples.setdefault(reason, [])
        if len(seen) < _EXAMPLES_PER_REASON:
            seen.append(where)

    def merge(self, other: ReadStats) -> None:
        self.read += other.read
        self.skipped.update(other.skipped)
        for reason, where in other.examples.items():
            mine = self.examples.setdefault(reason, [])
            mine.extend(where[: _EXAMPLES_PER_REASON - len(mine)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_total": sum(self.skipped.values()),
            "examples": self.examples,
        }

    def summary(self) -> str:
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(self.skipped.items())) or "none"
        return f"read {self.read} documents; skipped {sum(self.skipped.values())} ({reasons})"


@dataclass(frozen=True)
class ReaderSettings:
    """How sources are read."""

    extensions: tuple[str, ...] = DEFAULT_EXTENSIONS
    """File suffixes taken from directories (``.py``)."""
    max_bytes: int = DEFAULT_MAX_BYTES
    """Documents larger than this (UTF-8 bytes) are skipped as ``oversized``."""
    text_column: str | None = None
    """Column holding the text in JSONL/Parquet/HF rows; by default the first of
    text, content, code, body."""
    so_max_answers: int = 2
    """StackOverflow: answers kept per question (the accepted one first, then by score)."""
    so_tags: tuple[str, ...] = ()
    """StackOverflow: keep only questions with one of these tags (empty: all)."""
    hf_split: str = "train"
    """Hugging Face datasets: the split to stream."""
    hf_data_dir: str | None = None
    """Hugging Face datasets: ``data_dir`` (The Stack: ``data/python``)."""

    def __post_init__(self) -> None:
        exts = tuple(e if e.startswith(".") else f".{e}" for e in self.extensions)
        object.__setattr__(self, "extensions", exts)
        object.__setattr__(self, "so_tags", tuple(self.so_tags))
        if self.max_bytes < 1:
            raise Phi1Error(f"max_bytes must be >= 1, got {self.max_bytes}")
        if self.so_max_answers < 0:
            raise Phi1Error(f"so_max_answers must be >= 0, got {self.so_max_answers}")


@dataclass(frozen=True)
class Source:
    """A parsed source spec: what kind of reader, where, and the name it records."""

    kind: str  # files | jsonl | parquet | stackoverflow | hf
    location: str
    name: str

    @property
    def spec(self) -> str:
        """A spec string that parses back to this source."""
        prefix = {"files": "dir", "stackoverflow": "so"}.get(self.kind, self.kind)
        return f"{self.name}={prefix}:{self.location}"


def parse_source(spec: str) -> Source:
    """Turn a spec string (see the module docstring) into a :class:`Source`."""
    if not isinstance(spec, str) or not spec.strip():
        raise Phi1Error("empty corpus source; use stdlib, site-packages, a directory or a file")
    spec = spec.strip()
    name = None
    head, eq, tail = spec.partition("=")
    if eq and head and "/" not in head and ":" not in head:
        name, spec = head, tail
    if spec == "stdlib":
        return Source("files", _stdlib_dir(), name or "stdlib")
    if spec == "site-packages":
        return Source("files", _site_packages_dir(), name or "site-packages")
    kind, colon, rest = spec.partition(":")
    if colon and kind in ("dir", "jsonl", "parquet", "so", "hf") and rest:
        kind = {"dir": "files", "so": "stackoverflow"}.get(kind, kind)
        if kind == "hf":
            return Source("hf", rest, name or rest.rstrip("/").split("/")[-1])
        _must_exist(rest)
        return Source(kind, rest, name or _default_name(kind, rest))
    path = Path(spec)
    _must_exist(spec)
    if path.is_dir():
        return Source("files", spec, name or path.resolve().name)
    lower = path.name.lower()
    if lower.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        kind = "jsonl"
    elif lower.endswith(".parquet"):
        kind = "parquet"
    elif lower.endswith(".xml"):
        kind = "stackoverflow"
    else:
        raise Phi1Error(
            f"{spec}: cannot tell its format; use a directory, .jsonl, .parquet, .xml "
            f"(Posts.xml) or a prefix (dir:, jsonl:, parquet:, so:, hf:)"
        )
    return Source(kind, spec, name or _default_name(kind, spec))


def read_corpus(
    specs: Iterable[str | Source] = DEFAULT_SOURCES,
    *,
    settings: ReaderSettings | None = None,
    stats: ReadStats | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> Iterator[dict]:
    """Yield the records of every source in turn; skips are counted in ``stats``."""
    sources = [s if isinstance(s, Source) else parse_source(s) for s in specs]
    if not sources:
        raise Phi1Error("no corpus sources given")
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise Phi1Error(f"two sources share the name {dup[0]!r}; name them with NAME=SPEC")
    for source in sources:
        yield from read_source(
            source, settings=settings, stats=stats, rank=rank, world_size=world_size
        )


def read_source(
    source: str | Source,
    *,
    settings: ReaderSettings | None = None,
    stats: ReadStats | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> Iterator[dict]:
    """Yield the records of one source (this worker's share of them)."""
    source = source if isinstance(source, Source) else parse_source(source)
    settings = settings or ReaderSettings()
    stats = stats if stats is not None else ReadStats()
    if not 0 <= rank < world_size:
        raise Phi1Error(f"rank {rank} is outside world_size {world_size}")
    reader = {
        "files": _read_files,
        "jsonl": _read_jsonl_source,
        "parquet": _read_parquet_source,
        "stackoverflow": _read_posts_xml,
        "hf": _read_hf,
    }[source.kind]
    for record in reader(source, settings, stats, rank, world_size):
        stats.read += 1
        yield record


def check_text(text: Any, settings: ReaderSettings) -> str | None:
    """Why ``text`` cannot be a document (``None`` when it can)."""
    if not isinstance(text, str):
        return "no-text" if text is None else "text-not-a-string"
    if len(text) > settings.max_bytes or len(text.encode("utf-8", "surrogatepass")) > (
        settings.max_bytes
    ):
        return "oversized"
    if "\x00" in text:
        return "binary"
    if not text.strip():
        return "empty"
    return None


# -- files on disk ------------------------------------------------------------------------


def _read_files(
    source: Source, settings: ReaderSettings, stats: ReadStats, rank: int, world_size: int
) -> Iterator[dict]:
    root = Path(source.location)
    for i, path in enumerate(_walk(root, settings.extensions, _excluded_dirs(source))):
        if i % world_size != rank:
            continue
        rel = path.relative_to(root).as_posix()
        where = f"{source.name}/{rel}"
        try:
            size = path.stat().st_size
            if size > settings.max_bytes:
                stats.skip("oversized", where)
                continue
            data = path.read_bytes()
        except OSError as e:
            stats.skip("unreadable", f"{where} ({e.strerror})")
            continue
        if b"\x00" in data[:8192]:
            stats.skip("binary", where)
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            stats.skip("non-utf8", where)
            continue
        if text.startswith("\ufeff"):
            text = text[1:]
        if reason := check_text(text, settings):
            stats.skip(reason, where)
            continue
        yield {
            "id": where,
            "text": text,
            "meta": {
                "source": source.name,
                "reader": "files",
                "path": rel,
                "root": str(root),
                "bytes": len(data),
            },
        }


def _walk(root: Path, extensions: tuple[str, ...], excluded: set[Path]) -> Iterator[Path]:
    """Files under ``root`` with one of ``extensions``, in sorted order, no symlinked dirs."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in _SKIP_DIRS and not d.startswith(".") and (here / d) not in excluded
        )
        for name in sorted(filenames):
            if name.endswith(extensions):
                yield here / name


def _excluded_dirs(source: Source) -> set[Path]:
    if source.location != _stdlib_dir():
        return set()
    root = Path(source.location)
    # The standard library's own site-packages/dist-packages are third-party code.
    return {root / "site-packages", root / "dist-packages"}


def _stdlib_dir() -> str:
    return sysconfig.get_paths()["stdlib"]


def _site_packages_dir() -> str:
    return sysconfig.get_paths()["purelib"]


def _must_exist(path: str) -> None:
    if not Path(path).exists():
        raise Phi1Error(f"{path}: no such file or directory")


def _default_name(kind: str, location: str) -> str:
    if kind == "files":
        return Path(location).resolve().name
    return {"stackoverflow": "stackoverflow", "parquet": "parquet", "jsonl": "jsonl"}[kind]


def _files_of(location: str, suffixes: tuple[str, ...]) -> list[Path]:
    path = Path(location)
    if path.is_file():
        return [path]
    return [p for p in _walk(path, suffixes, set())]


# -- rows: JSONL, Parquet, Hugging Face ------------------------------------------------------


def row_to_record(
    row: dict, *, source: Source, where: str, settings: ReaderSettings, stats: ReadStats
) -> dict | None:
    """Map one table row (The Stack's schema, a phi1 record, or any text column) to a record.

    Returns ``None`` (and counts the reason) when the row cannot be a document.
    """
    if isinstance(row.get("meta"), dict) and isinstance(row.get("id"), str) and "text" in row:
        text, meta = row["text"], dict(row["meta"])  # a phi1 record: keep its id and meta
        doc_id = row["id"]
    else:
        column = settings.text_column or next((c for c in TEXT_COLUMNS if c in row), None)
        if column is None or column not in row:
            stats.skip("no-text-column", where)
            return None
        text = row[column]
        path = row.get("max_stars_repo_path") or row.get("path")
        repo = row.get("max_stars_repo_name") or row.get("repo_name") or row.get("repository_name")
        meta = {"source": source.name, "reader": source.kind, "path": path or where}
        for key, value in (
            ("repo", repo),
            ("lang", row.get("lang") or row.get("language")),
            ("stars", row.get("max_stars_count")),
            ("license", _first(row.get("max_stars_repo_licenses"))),
        ):
            if value is not None:
                meta[key] = value
        ident = row.get("id")
        doc_id = f"{source.name}/{ident}" if isinstance(ident, (str, int)) else where
        meta.setdefault("row", where)
    if reason := check_text(text, settings):
        stats.skip(reason, where)
        return None
    meta.setdefault("source", source.name)
    return {"id": doc_id, "text": text, "meta": meta}


def _first(value: Any) -> Any:
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ndarray":
        return value[0] if len(value) else None
    return value


def _read_jsonl_source(
    source: Source, settings: ReaderSettings, stats: ReadStats, rank: int, world_size: int
) -> Iterator[dict]:
    counter = itertools.count()
    for path in _files_of(source.location, (".jsonl", ".jsonl.gz", ".ndjson")):
        opener = gzip.open if path.name.endswith(".gz") else open
        try:
            with opener(path, "rb") as f:
                for lineno, raw in enumerate(f, 1):
                    if not raw.strip() or next(counter) % world_size != rank:
                        continue
                    where = f"{path}:{lineno}"
                    try:
                        row = json.loads(raw)
                    except (json.JSONDecodeError, UnicodeDecodeError):
                        stats.skip("malformed-json", where)
                        continue
                    if not isinstance(row, dict):
                        stats.skip("malformed-json", where)
                        continue
                    record = row_to_record(
                        row, source=source, where=where, settings=settings, stats=stats
                    )
                    if record is not None:
                        yield record
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            stats.skip("unreadable", f"{path} ({e})")


def _read_parquet_source(
    source: Source, settings: ReaderSettings, stats: ReadStats, rank: int, world_size: int
) -> Iterator[dict]:
    import pyarrow.parquet as pq

    counter = itertools.count()
    for path in _files_of(source.location, (".parquet",)):
        try:
            pf = pq.ParquetFile(path)
        except Exception as e:  # pyarrow raises several types for a damaged file
            stats.skip("unreadable-parquet", f"{path} ({e})")
            continue
        names = pf.schema_arrow.names
        column = settings.text_column or next((c for c in TEXT_COLUMNS if c in names), None)
        if column is None or column not in names:
            raise Phi1Error(
                f"{path}: no text column (looked for {settings.text_column or TEXT_COLUMNS}; "
                f"it has {', '.join(names)}); set --reader.text_column"
            )
        wanted = [c for c in names if c == column or c in _STACK_META_COLUMNS]
        row_index = 0
        try:
            for batch in pf.iter_batches(batch_size=256, columns=wanted):
                for row in batch.to_pylist():
                    where = f"{path}:{row_index}"
                    row_index += 1
                    if next(counter) % world_size != rank:
                        continue
                    record = row_to_record(
                        row, source=source, where=where, settings=settings, stats=stats
                    )
                    if record is not None:
                        yield record
        except Exception as e:  # a corrupt row group: keep what was read, count the rest
            stats.skip("unreadable-parquet", f"{path} after row {row_index} ({e})")


_STACK_META_COLUMNS = {
    "id",
    "path",
    "max_stars_repo_path",
    "max_stars_repo_name",
    "repo_name",
    "repository_name",
    "lang",
    "language",
    "max_stars_count",
    "max_stars_repo_licenses",
}


def _read_hf(
    source: Source, settings: ReaderSettings, stats: ReadStats, rank: int, world_size: int
) -> Iterator[dict]:
    try:
        import datasets
    except ImportError:
        raise Phi1Error(
            f"source {source.spec}: streaming from the Hugging Face Hub needs the 'datasets' "
            f"package and a network (pip install datasets)"
        ) from None
    try:
        stream = datasets.load_dataset(
            source.location, split=settings.hf_split, streaming=True, data_dir=settings.hf_data_dir
        )
    except Exception as e:  # network, auth, unknown dataset: one clear line
        raise Phi1Error(f"source {source.spec}: cannot stream ({e})") from None
    for i, row in enumerate(stream):
        if i % world_size != rank:
            continue
        record = row_to_record(
            dict(row), source=source, where=f"{source.location}:{i}", settings=settings, stats=stats
        )
        if record is not None:
            yield record


# -- strict mode: another stage's output, named by path ----------------------------------------

RECORD_SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")


def read_paths(
    paths: Iterable[str | os.PathLike],
    *,
    text_field: str = "text",
    glob: str | None = None,
    stats: ReadStats | None = None,
) -> Iterator[dict]:
    """Strict mode: the records of files named by path (``phi1 pack`` reads its inputs so).

    A path is a JSONL (``.jsonl``, ``.jsonl.gz``) or Parquet file, any other file (one
    document: its whole text), or a directory: its JSONL and Parquet files, or the files
    matching ``glob``, recursively, in sorted order. Records are ``{"id", "text", "meta":
    {"source"}}``: the source is the row's ``meta.source`` when it has one, else the path as
    given; the id is the row's own, else ``PATH:N``.

    Unlike :func:`read_corpus`, what cannot be read is an error naming the file and line
    (a missing path, malformed JSON, a row without ``text_field`` or with a non-string one,
    an unreadable Parquet file): these inputs are a stage's output, never meant to be bad.
    Only empty texts (``empty``) and raw files that are not UTF-8 (``not_utf8``) are skipped
    and counted in ``stats``.
    """
    stats = stats if stats is not None else ReadStats()
    for arg in map(str, paths):
        path = Path(arg)
        if path.is_dir():
            files = _strict_files(path, glob)
            if not files:
                pattern = glob or "*" + ", *".join(RECORD_SUFFIXES)
                raise Phi1Error(f"{path}: no files matching {pattern}")
        elif path.exists():
            files = [path]
        else:
            raise Phi1Error(f"{path}: no such file or directory")
        for file in files:
            for record in _strict_file(file, arg, text_field, stats):
                if record["text"]:
                    stats.read += 1
                    yield record
                else:
                    stats.skip("empty", record["id"])


def _strict_files(path: Path, glob: str | None) -> list[Path]:
    if glob:
        files = path.rglob(glob)
    else:
        files = (p for p in path.rglob("*") if p.name.endswith(RECORD_SUFFIXES))
    return sorted(p for p in files if p.is_file())


def _strict_file(path: Path, source: str, text_field: str, stats: ReadStats) -> Iterator[dict]:
    if path.name.endswith(".parquet"):
        yield from _strict_parquet(path, source, text_field)
    elif path.name.endswith((".jsonl", ".jsonl.gz")):
        for i, row in enumerate(read_jsonl(path), 1):  # .jsonl or .jsonl.gz
            text = row.get(text_field)
            where = f"{path}: record {i}"
            if text is None:
                raise Phi1Error(f"{where}: missing field {text_field!r}")
            if not isinstance(text, str):
                raise Phi1Error(f"{where}: field {text_field!r} is {type(text).__name__}, not str")
            meta, ident = row.get("meta"), row.get("id")
            src = meta.get("source") if isinstance(meta, dict) else None
            yield {
                "id": ident if isinstance(ident, str) else f"{path}:{i}",
                "text": text,
                "meta": {"source": str(src) if src else source},
            }
    else:
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            stats.skip("not_utf8", str(path))
            return
        yield {"id": str(path), "text": text, "meta": {"source": source}}


def _strict_parquet(path: Path, source: str, text_field: str) -> Iterator[dict]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise Phi1Error(f"{path}: not a readable Parquet file ({e})") from None
    names = pf.schema_arrow.names
    if text_field not in names:
        raise Phi1Error(
            f"{path}: no column {text_field!r} (columns: {', '.join(names)}); "
            "choose one with --pack.text_field"
        )
    row = 0
    for batch in pf.iter_batches(batch_size=1024, columns=[text_field]):
        for text in batch.column(0).to_pylist():
            yield {"id": f"{path}:{row}", "text": text or "", "meta": {"source": source}}
            row += 1


# -- StackOverflow Posts.xml -------------------------------------------------------------


def _read_posts_xml(
    source: Source, settings: ReaderSettings, stats: ReadStats, rank: int, world_size: int
) -> Iterator[dict]:
    """Two streaming passes: find each question's answers to keep, then assemble documents.

    The dump has one ``<row .../>`` per line; each row is parsed on its own, so a malformed
    row is counted and skipped instead of ending the read (a whole-file XML parser cannot
    resume after an error). Answers always follow their question (ids increase), so a
    question is emitted as soon as its last kept answer has been seen.
    """
    path = Path(source.location)
    wanted = {t.lower() for t in settings.so_tags}
    # Pass 1: question id -> answer ids to keep (accepted first, then best-scored).
    accepted: dict[str, str | None] = {}
    scored: dict[str, list[tuple[int, int, str]]] = {}
    for _, row in _posts_rows(path, stats, count=False):
        kind, post_id = row.get("PostTypeId"), row.get("Id")
        if kind == "1" and post_id:
            if wanted and not wanted & set(_tags(row.get("Tags", ""))):
                continue
            accepted[post_id] = row.get("AcceptedAnswerId")
            scored[post_id] = []
        elif kind == "2" and row.get("ParentId") in scored and post_id:
            scored[row["ParentId"]].append((-_int(row.get("Score")), _int(post_id), post_id))
    keep: dict[str, list[str]] = {}
    for qid, answers in scored.items():
        order = [accepted[qid]] if accepted[qid] else []
        order += [a for _, _, a in sorted(answers) if a != accepted[qid]]
        available = {a for _, _, a in answers}
        keep[qid] = [a for a in order if a in available][: settings.so_max_answers]
    del scored
    needed = {a: q for q, answers in keep.items() for a in answers}
    # Pass 2: assemble; a question waits only for the answers it keeps.
    pending: dict[str, dict] = {}
    n_question = itertools.count()
    for lineno, row in _posts_rows(path, stats, count=True):
        post_id, kind = row.get("Id"), row.get("PostTypeId")
        if kind == "1" and post_id in keep:
            if next(n_question) % world_size != rank:
                keep.pop(post_id)
                continue
            doc = {"question": row, "answers": {}, "line": lineno}
            if not keep[post_id]:
                yield from _so_record(source, path, doc, keep.pop(post_id), settings, stats)
            else:
                pending[post_id] = doc
        elif kind == "2" and post_id in needed:
            qid = needed.pop(post_id)
            if qid in pending:
                pending[qid]["answers"][post_id] = row
                if len(pending[qid]["answers"]) == len(keep[qid]):
                    yield from _so_record(
                        source, path, pending.pop(qid), keep.pop(qid), settings, stats
                    )
    for qid, doc in pending.items():  # answers that vanished between passes
        yield from _so_record(source, path, doc, keep[qid], settings, stats)


def _posts_rows(path: Path, stats: ReadStats, *, count: bool) -> Iterator[tuple[int, dict]]:
    """``(line, attributes)`` for each ``<row>`` element; bad rows counted when ``count``."""
    try:
        f = path.open("rb")
    except OSError as e:
        raise Phi1Error(f"{path}: {e.strerror}") from None
    with f:
        buf: list[bytes] = []
        start = 0
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not buf:
                if not line.startswith(b"<row"):
                    continue
                start = lineno
            buf.append(line)
            if not line.endswith(b"/>") and not line.endswith(b"</row>"):
                if len(buf) < 10_000:
                    continue
            chunk, buf = b" ".join(buf), []
            try:
                element = ET.fromstring(chunk.decode("utf-8"))
            except UnicodeDecodeError:
                if count:
                    stats.skip("non-utf8", f"{path}:{start}")
                continue
            except ET.ParseError:
                if count:
                    stats.skip("malformed-xml", f"{path}:{start}")
                continue
            if element.tag == "row":
                yield start, dict(element.attrib)
        if buf and count:
            stats.skip("malformed-xml", f"{path}:{start}")


def _so_record(
    source: Source,
    path: Path,
    doc: dict,
    answer_ids: list[str],
    settings: ReaderSettings,
    stats: ReadStats,
) -> Iterator[dict]:
    q = doc["question"]
    where = f"{path}:{doc['line']}"
    parts = [
        f"Question: {html.unescape(q.get('Title', '')).strip()}",
        html_to_text(q.get("Body", "")),
    ]
    answers = [doc["answers"][a] for a in answer_ids if a in doc["answers"]]
    for a in answers:
        label = "Accepted answer" if a.get("Id") == q.get("AcceptedAnswerId") else "Answer"
        parts.append(f"{label}:\n\n{html_to_text(a.get('Body', ''))}")
    text = "\n\n".join(p.strip() for p in parts if p.strip()) + "\n"
    if reason := check_text(text, settings):
        stats.skip(reason, where)
        return
    yield {
        "id": f"{source.name}/{q['Id']}",
        "text": text,
        "meta": {
            "source": source.name,
            "reader": "stackoverflow",
            "path": f"questions/{q['Id']}",
            "tags": _tags(q.get("Tags", "")),
            "score": _int(q.get("Score")),
            "answers": [a.get("Id") for a in answers],
        },
    }


def _tags(raw: str) -> list[str]:
    raw = html.unescape(raw or "")
    if "|" in raw:  # newer dumps: |python|list|
        return [t for t in raw.split("|") if t]
    return [t for t in raw.replace(">", " ").replace("<", " ").split() if t]


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class _PostHTML(HTMLParser):
    """StackOverflow post HTML -> plain text; ``<pre>`` blocks become fenced code blocks."""

    _BLOCKS = {
        "p",
        "div",
        "blockquote",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "table",
        "tr",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.pre = 0
        self.code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "pre":
            self.pre += 1
            self.out.append("\n\n```\n")
        elif tag == "code" and not self.pre:
            self.code += 1
            self.out.append("`")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag == "br":
            self.out.append("\n")
        elif tag in self._BLOCKS:
            self.out.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre" and self.pre:
            self.pre -= 1
            if self.out and not self.out[-1].endswith("\n"):
                self.out.append("\n")
            self.out.append("```\n\n")
        elif tag == "code" and self.code and not self.pre:
            self.code -= 1
            self.out.append("`")
        elif tag in self._BLOCKS:
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self.pre:
            self.out.append(data)
        elif data.strip():
            # Outside code, HTML whitespace (newlines included) is one space.
            lead = " " if data[0].isspace() else ""
            tail = " " if data[-1].isspace() else ""
            self.out.append(lead + " ".join(data.split()) + tail)
        elif data:
            self.out.append(" ")

    def text(self) -> str:
        raw = "".join(self.out)
        lines, blank, fenced = [], 0, False
        for line in raw.split("\n"):
            if line.strip() == "```":
                fenced = not fenced
            if not fenced and not line.strip():
                blank += 1
                if blank > 1:
                    continue
            else:
                blank = 0
            lines.append(line if fenced else line.strip())
        return "\n".join(lines).strip()


def html_to_text(body: str) -> str:
    """A post body as text: paragraphs, list items, inline code in backticks, code blocks
    fenced with their whitespace intact."""
    parser = _PostHTML()
    parser.feed(body or "")
    parser.close()
    return parser.text()


def default_corpus_description() -> str:
    """One line naming the default corpus on this machine (for reports)."""
    return (
        f"Python {sys.version.split()[0]} stdlib ({_stdlib_dir()}) + site-packages "
        f"({_site_packages_dir()})"
    )
