"""Shared fixtures for the model tests: the standard library's source as real text."""

from __future__ import annotations

import sysconfig
import tokenize
from pathlib import Path

import pytest


def stdlib_py_files() -> list[Path]:
    """Every .py file of the running Python's standard library (site-packages excluded)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(
        p
        for p in root.rglob("*.py")
        if "site-packages" not in p.parts and "dist-packages" not in p.parts and p.is_file()
    )


def read_source(path: Path) -> str:
    """A file's text, decoded as Python would (PEP 263 coding cookie); latin-1 if it is not."""
    try:
        with tokenize.open(path) as f:
            return f.read()
    except (SyntaxError, UnicodeDecodeError):
        return path.read_bytes().decode("latin-1")


@pytest.fixture(scope="session")
def stdlib_texts() -> list[str]:
    files = stdlib_py_files()
    assert len(files) > 1000, f"expected the standard library, found {len(files)} .py files"
    return [read_source(p) for p in files]
