"""torchrun with 2 CPU processes (gloo) gives the per-step losses of 1 process with the same
global batch by accumulation: DDP and FSDP2; and the same log.benchmarks losses, the ranks
sharing the problems."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

ARGS = [
    "--model", "debug",
    "--data.block_size", "32",
    "--data.val_fraction", "0.1",
    "--train.steps", "4",
    "--train.global_batch", "4",
    "--train.micro_batch", "2",
    "--train.warmup_steps", "1",
    "--train.lr", "3e-3",
    "--train.dropout", "0.0",
    "--log.log_interval", "1",
    "--log.eval_interval", "2",
    "--log.eval_sequences", "3",
    "--log.tensorboard", "false",
    "--log.progress", "false",
]  # fmt: skip


def losses(out: Path, key: str = "loss") -> list[float]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r[key] for r in rows if key in r]


def run(cmd: list[str], out: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "final" / "config.json").exists()


@pytest.fixture(scope="module")
def data(random_tokens) -> Path:
    return random_tokens


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> list[str]:
    """log.benchmarks: 40 HumanEval problems (8k tokens, some longer than the debug model's
    256: windows), 3 batches of packed rows, so one rank makes a call it discards."""
    from phi1.sandbox.problems import load_humaneval

    path = tmp_path_factory.mktemp("bench") / "he40.jsonl"
    rows = [p.to_dict() for p in list(load_humaneval().values())[:40]]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return ["--log.benchmarks", f"[{path}]"]


@pytest.fixture(scope="module")
def single(data, bench, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("single")
    cmd = [sys.executable, "-m", "phi1.cli", "pretrain", "--out", str(out)]
    run(cmd + ["--data.paths", f"[{data}]", *ARGS, *bench], out)
    return out


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_processes_match_one_with_accumulation(parallel, data, bench, single, tmp_path):
    out = tmp_path / parallel
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    cmd += ["-m", "phi1.cli", "pretrain", "--out", str(out), "--data.paths", f"[{data}]"]
    run(cmd + [*ARGS, *bench, "--train.parallel", parallel], out)
    one, two = losses(single), losses(out)
    assert len(one) == len(two) == 4
    assert np.allclose(two, one, rtol=1e-5, atol=0), (one, two)
    assert np.allclose(losses(out, "val_loss"), losses(single, "val_loss"), rtol=1e-5, atol=0)
    for key in ("val_loss/he40", "val_bpb/he40"):  # step 0, 2 and 4
        assert len(losses(single, key)) == 3
        assert np.allclose(losses(out, key), losses(single, key), rtol=1e-5, atol=0)
    run_info = json.loads((out / "run.json").read_text())
    assert (run_info["world_size"], run_info["strategy"], run_info["accum"]) == (2, parallel, 1)
