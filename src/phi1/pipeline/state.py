"""What a ``phi1 run`` folder records, and how to read it: manifests, digests, summaries.

``DIR/pipeline.json`` (:data:`STATE`) holds the recipe and each stage's outcome in the last
run; ``DIR/<stage>/stage.json`` (:data:`MANIFEST`) holds the stage's section, arguments,
inputs (the digests of the stages it read), the digest of its artifacts, counts from its
own summary, and every attempt. The report reads a run through this module (and the stage
table's declarations of each stage's files), never through the engine.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.io import read_json, sha256_file, sha256_json
from phi1.pipeline.stages import STAGE_NAMES, Stage, stage_named

MANIFEST = "stage.json"
STATE = "pipeline.json"
SUPERSEDED = "superseded"
FORMAT_VERSION = 1


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def artifact_files(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    """The files the patterns match under ``folder`` (a directory matches all its files)."""
    seen: dict[str, Path] = {}
    for pattern in patterns:
        for path in sorted(folder.glob(pattern.removeprefix("?"))):
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for f in files:
                if not f.name.startswith("."):
                    seen.setdefault(f.relative_to(folder).as_posix(), f)
    return [seen[k] for k in sorted(seen)]


def missing_outputs(folder: Path, stage: Stage) -> list[str]:
    """What a finished stage would have written and this folder lacks."""
    patterns = [*stage.done, *(p for p in stage.artifacts if not p.startswith("?"))]
    return [p for p in patterns if not any(folder.glob(p))]


def digest(folder: Path, patterns: tuple[str, ...]) -> tuple[str, dict[str, dict]]:
    """The sha256 over the artifacts' names and contents, and each file's size and hash."""
    files = {
        f.relative_to(folder).as_posix(): {"bytes": f.stat().st_size, "sha256": sha256_file(f)}
        for f in artifact_files(folder, patterns)
    }
    return sha256_json({k: v["sha256"] for k, v in files.items()}), files


def read_manifest(folder: Path) -> dict | None:
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        return read_json(path)
    except Phi1Error:
        return None  # a torn manifest is as good as none: the stage runs again


def stage_manifests(root: str | os.PathLike) -> dict[str, dict | None]:
    """Each stage's manifest (None for a stage that never ran), in pipeline order."""
    return {name: read_manifest(Path(root) / name) for name in STAGE_NAMES}


def read_state(root: str | os.PathLike) -> dict[str, Any]:
    """``DIR/pipeline.json``, or ``{}`` when the folder has none."""
    path = Path(root) / STATE
    return read_json(path) if path.exists() else {}


def counts(stage: Stage, folder: Path) -> dict[str, Any]:
    """The stage's own summary (small numbers only), for the manifest and the report; keyed
    by subfolder for a stage with one summary per subfolder. An unreadable summary is left
    out."""
    out: dict[str, Any] = {}
    for key, path in stage.summary_files(folder):
        try:
            data = read_json(path)
        except Phi1Error:
            continue
        picked = {
            k: v
            for k, v in (data.items() if isinstance(data, dict) else [])
            if isinstance(v, (int, float, str, bool)) or (isinstance(v, dict) and len(v) <= 20)
        }
        if key:
            out[key] = picked
        else:
            out.update(picked)
    return out


# --- reading a stage's declared files (the report's way in) ----------------------------------


def summary(root: str | os.PathLike, stage: str) -> Any:
    """The stage's summary (its ``summary`` file), or None when it has none yet; a malformed
    file raises naming it."""
    files = stage_named(stage).summary_files(Path(root) / stage)
    return read_json(files[0][1]) if files else None


def summaries(root: str | os.PathLike, stage: str) -> dict[str, Any]:
    """Subfolder -> summary, for a stage with one summary per subfolder (``pack``: dataset ->
    ``index.json``; ``humaneval``: model -> ``results.json``; ``graded``: judge folder ->
    ``summary.json``); a malformed file raises naming it."""
    return {
        str(key): read_json(path)
        for key, path in stage_named(stage).summary_files(Path(root) / stage)
    }


def outputs(root: str | os.PathLike, stage: str, name: str) -> list[Path]:
    """The files that the stage's declared output ``name`` (a glob) matches, sorted."""
    folder = Path(root) / stage
    return sorted(folder.glob(stage_named(stage).output(name)))
