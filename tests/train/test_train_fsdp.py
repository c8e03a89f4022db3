"""FSDP2 on 2 CPU processes (gloo), the real trainer observed from outside
(tests/train/fsdp_worker.py): one gradient reduce-scatter per optimizer step with the same
parameters as one per micro-batch; bf16 with compile and activation checkpointing (one
graph, rope in fp32); DDP without buffer broadcasts; a checkpoint write that outlasts the
default timeout; a resume where only rank 0 reads the optimizer state (FSDP2 and DDP)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

WORKER = Path(__file__).with_name("fsdp_worker.py")
DEFAULT_TIMEOUT, SLOW_WRITE = 8, 14  # seconds


def torchrun(scenario: str, data: Path, out: Path, **env: str) -> list[dict]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    cmd += [str(WORKER), scenario, str(data), str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return [json.loads((out / f"{scenario}-{rank}.json").read_text()) for rank in range(2)]


@pytest.fixture(scope="module")
def data(random_tokens) -> Path:
    return random_tokens


@pytest.fixture(scope="module")
def sync(data, tmp_path_factory) -> list[dict]:
    return torchrun("sync", data, tmp_path_factory.mktemp("sync"))


@pytest.fixture(scope="module")
def checkpoint(data, tmp_path_factory) -> list[dict]:
    env = {"DEFAULT_TIMEOUT_SECONDS": str(DEFAULT_TIMEOUT), "SLOW_WRITE_SECONDS": str(SLOW_WRITE)}
    return torchrun("checkpoint", data, tmp_path_factory.mktemp("checkpoint"), **env)


def test_fsdp2_reduce_scatters_once_per_step_and_keeps_the_parameters(sync):
    for seen in sync:
        once, every, groups = seen["once"], seen["every"], seen["groups"]
        assert (once["steps"], once["accum"]) == (3, 4)
        # a reduce-scatter per FSDP2 group (each block, the root) and step, not per micro-batch
        assert once["counts"]["reduce_scatter_single"] == 3 * groups
        assert every["counts"]["reduce_scatter_single"] == 3 * 4 * groups
        # parameters stay gathered from forward to backward and between micro-batches: one
        # all-gather per group and step (and one for the validation at the end)
        assert once["counts"]["all_gather_single"] == 3 * groups + groups
        assert every["counts"]["all_gather_single"] == 3 * 4 * groups + groups
        assert seen["params_max_diff"] < 1e-5  # after 3 AdamW steps at the paper's lr 1e-3
        assert np.allclose(once["losses"], every["losses"], rtol=1e-5, atol=0)


def test_fsdp2_bf16_compiles_checkpointed_blocks_with_rope_in_fp32(sync):
    for seen in sync:
        compiled = seen["compiled"]
        assert compiled["frames"] >= 1 and compiled["graph_breaks"] == 0
        # what a block's forward receives: the residual stream in bf16, the rope table fp32
        assert compiled["block_input_dtypes"] == ["torch.bfloat16", "torch.float32"]
        assert len(compiled["losses"]) == 2 and all(map(math.isfinite, compiled["losses"]))


def test_ddp_broadcasts_no_buffers(sync):
    assert [seen["ddp_broadcast_buffers"] for seen in sync] == [False, False]


def test_a_write_longer_than_the_default_timeout_completes(checkpoint):
    # the default group's timeout is real: a plain barrier gives up after it...
    assert checkpoint[1]["default_barrier"].startswith("RuntimeError after")
    # ...but the ranks waited out rank 0's slow checkpoint write and finished the run
    for seen in checkpoint:
        assert seen["whole_seconds"] > SLOW_WRITE > DEFAULT_TIMEOUT
        assert len(seen["whole"]) == 3


@pytest.mark.parametrize("parallel", ["fsdp", "ddp"])
def test_resume_reads_the_optimizer_on_rank_0_only(checkpoint, parallel):
    runs = [seen["ddp"] if parallel == "ddp" else seen for seen in checkpoint]
    main, other = (seen["loads"] for seen in runs)
    assert ["optimizer.pt", True] in main  # memory-mapped, then broadcast
    assert ["training_state.pt", False] in other
    assert not any(name == "optimizer.pt" for name, _ in other)
    for seen in runs:
        assert seen["kept"] == ["step-000002"]  # log.keep_steps outlived keep_last 1
        assert seen["resumed"] == seen["whole"][2:]  # step 3 from step 2's checkpoint
        assert seen["params_max_diff"] < 1e-6  # the optimizer state came back
