"""benchmarks/gpu/run.sh --dry-run: the GPU benchmark's whole path on a CPU (the debug
preset through the trainer's step, one process per model), so the script is known to work
before a GPU runs it; the table it prints has a row per model and every column filled."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu" / "run.sh"


@pytest.mark.slow  # two trainer processes
def test_gpu_benchmark_dry_run_prints_the_table():
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([str(RUN), "--dry-run"], capture_output=True, text=True, env=env,
                          timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("machine: ") and "dry run" in lines[1]
    assert "command: benchmarks/gpu/run.sh --dry-run" in lines
    header = lines.index(next(x for x in lines if x.startswith("| model |")))
    columns = [c.strip() for c in lines[header].strip("|").split("|")]
    assert {"tokens/s", "tokens/s per GPU", "MFU", "peak memory (GiB)"} <= set(columns)
    rows = [[c.strip() for c in x.strip("|").split("|")] for x in lines[header + 2 :]]
    assert [r[0] for r in rows] == ["phi-1-small", "phi-1"]
    for row in rows:
        assert len(row) == len(columns), row
        cell = dict(zip(columns, row, strict=True))
        assert float(cell["tokens/s"].replace(",", "")) > 0
        assert cell["MFU"].endswith("%") and float(cell["peak memory (GiB)"]) > 0
        assert cell["micro-batch x accum x seq"] == "2 x 2 x 64"
