"""The ``run_phi1`` fixture: the ``phi1`` CLI in this process, its output captured."""

from __future__ import annotations

import pytest

from phi1.cli import main


@pytest.fixture
def run_phi1(capsys):
    """``run_phi1(*args) -> (exit status, stdout, stderr)``."""

    def call(*args: object) -> tuple[int, str, str]:
        rc = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return rc, out, err

    return call
