"""Whole training runs on the CPU: exact resume after SIGKILL (and from a checkpoint of the
older layout), divergence, golden losses, bad input."""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from phi1.cli import main
from phi1.model.tokens import write_index, write_tokens

GOLDEN = Path(__file__).parents[1] / "assets" / "train" / "golden_loss.json"

BASE = [
    "--model", "debug",
    "--data.block_size", "32",
    "--train.global_batch", "8",
    "--train.micro_batch", "4",
    "--train.warmup_steps", "2",
    "--train.lr", "3e-3",
    "--log.log_interval", "1",
    "--log.tensorboard", "false",
    "--log.progress", "false",
]  # fmt: skip


def patterned(n: int, seed: int) -> np.ndarray:
    """A learnable token stream: short arithmetic runs from a seeded generator."""
    rng = random.Random(seed)
    out: list[int] = []
    while len(out) < n:
        start, step = rng.randrange(1000), rng.randrange(1, 5)
        out += [(start + step * i) % 1000 for i in range(rng.randrange(8, 24))] + [50256]
    return np.array(out[:n], dtype=np.uint16)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("packed")
    write_tokens(
        path, "shard-00000", patterned(32 * 200 + 1, 0), documents=1, sources={},
        input_sha256="x", tokenizer={"name": "synthetic", "vocab_size": 50295}, eot_id=50256,
    )  # fmt: skip
    write_index(path)
    return path


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def step_losses(out: Path) -> list[float]:
    return [r["loss"] for r in rows(out) if "loss" in r]


def test_resume_after_sigkill_gives_the_same_losses_bitwise(data, tmp_path):
    args = [*BASE, "--data.paths", f"[{data}]", "--train.steps", "10", "--log.save_interval", "4"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same arithmetic in every process
    cli = [sys.executable, "-m", "phi1.cli", "pretrain"]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(cli + ["--out", str(whole), *args], env=env, check=True, capture_output=True)

    proc = subprocess.Popen(cli + ["--out", str(killed), *args], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # kill between checkpoints, mid-run
        metrics = killed / "metrics.jsonl"
        done = metrics.exists() and metrics.read_text().count('"loss"')
        if done and done >= 5:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "summary.json").exists(), "the run ended before it was killed"
    saved = sorted(p.name for p in (killed / "checkpoints").glob("step-*"))
    assert saved and saved[-1] < "step-000010"

    subprocess.run(
        cli + ["--out", str(killed), *args, "--resume", "auto"], env=env, check=True,
        capture_output=True,
    )  # fmt: skip
    assert step_losses(killed) == step_losses(whole)  # bitwise: floats round-trip JSON exactly
    assert [r["step"] for r in rows(killed) if "loss" in r] == list(range(1, 11))
    assert (killed / "loss.png").stat().st_size > 0


def test_divergence_stops_with_the_last_good_checkpoint_intact(data, tmp_path, capsys):
    out = tmp_path / "run"
    args = [*BASE, "--data.paths", f"[{data}]", "--train.steps", "40", "--train.lr", "100"]
    args += ["--train.grad_clip", "0", "--train.warmup_steps", "0", "--log.save_interval", "2"]
    assert main(["pretrain", "--out", str(out), *args]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "diverged" in err
    bad_step = int(err.split("step ")[1].split(":")[0])
    assert 1 < bad_step < 40
    last = sorted((out / "checkpoints").glob("step-*"))[-1]
    assert f"last good checkpoint is {last}" in err
    assert int(last.name.split("-")[1]) < bad_step
    from phi1.train.state import load_model_state, load_state

    _, weights = load_model_state(last)
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert load_state(last)["step"] == int(last.name.split("-")[1])
    assert all(math.isfinite(r["loss"]) for r in rows(out))
    assert not (out / "final").exists()


def golden_run(data: Path, out: Path) -> list[float]:
    args = [*BASE, "--data.paths", f"[{data}]", "--train.steps", "8", "--train.dropout", "0.1"]
    args += ["--train.lr", "1e-2"]
    assert main(["pretrain", "--out", str(out), *args, "--log.save_interval", "100"]) == 0
    return step_losses(out)


def test_golden_losses(data, tmp_path):
    """A fixed tiny run; a change to the model, optimizer, schedule or data order moves
    these numbers. Regenerate deliberately with PHI1_REGEN_GOLDEN=1."""
    losses = golden_run(data, tmp_path / "run")
    if os.environ.get("PHI1_REGEN_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps({"torch": torch.__version__, "losses": losses}, indent=1))
    golden = json.loads(GOLDEN.read_text())["losses"]
    assert losses[-1] < losses[0] - 0.5  # it learns
    # CPUs differ in summation order (threads, SIMD width); 1e-4 covers that, not a change.
    assert np.allclose(losses, golden, rtol=1e-4, atol=0), (losses, golden)


def test_recipe_with_an_unknown_key_is_one_clear_error(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("pretrain:\n  model: debug\n  train:\n    lr: 1e-3\n    lrr: 2\n")
    assert main(["pretrain", "--recipe", str(recipe), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown key 'train.lrr'" in err


def test_existing_run_needs_resume_and_damaged_checkpoint_is_named(data, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--out", str(out), *BASE, "--data.paths", f"[{data}]", "--train.steps", "2"]
    assert main(["pretrain", *args]) == 0
    capsys.readouterr()
    assert main(["pretrain", *args]) == 1
    assert "--resume auto" in capsys.readouterr().err
    state = out / "checkpoints" / "step-000002" / "training_state.pt"
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    assert main(["pretrain", *args, "--train.steps", "4", "--resume", "auto"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "training_state.pt: truncated or damaged" in err


def test_empty_and_too_short_data_are_clear_errors(tmp_path, capsys):
    short = tmp_path / "short"
    write_tokens(
        short, "shard-00000", np.arange(20, dtype=np.uint16), documents=1, sources={},
        input_sha256="x", tokenizer={"name": "synthetic"}, eot_id=50256,
    )  # fmt: skip
    write_index(short)
    args = [*BASE, "--out", str(tmp_path / "o"), "--train.steps", "2"]
    assert main(["pretrain", *args, "--data.paths", f"[{short}]"]) == 1
    assert "20 tokens, fewer than one sequence" in capsys.readouterr().err
    assert main(["pretrain", *args]) == 1
    assert "no training data" in capsys.readouterr().err


@pytest.mark.slow  # two runs
def test_a_checkpoint_with_the_optimizer_inside_the_state_file_still_resumes(data, tmp_path):
    """Checkpoints written before optimizer.pt existed kept the optimizer state inside
    training_state.pt; resuming from one continues the run as from a new one."""
    args = [*BASE, "--data.paths", f"[{data}]", "--train.steps", "4", "--log.save_interval", "2"]
    whole = tmp_path / "whole"
    assert main(["pretrain", "--out", str(whole), *args, "--log.keep_steps", "[2]"]) == 0
    old = tmp_path / "old-layout"
    shutil.copytree(whole / "checkpoints" / "step-000002", old)
    state = torch.load(old / "training_state.pt", weights_only=False)
    state["optimizer"] = torch.load(old / "optimizer.pt", weights_only=True)
    torch.save(state, old / "training_state.pt")
    (old / "optimizer.pt").unlink()
    resumed = tmp_path / "resumed"
    assert main(["pretrain", "--out", str(resumed), *args, "--resume", str(old)]) == 0
    assert step_losses(resumed) == step_losses(whole)[2:]
    from phi1.train.state import load_model_state

    _, a = load_model_state(whole / "final")
    _, b = load_model_state(resumed / "final")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_keep_steps_outside_the_run_is_one_clear_error(data, tmp_path, capsys):
    args = [*BASE, "--data.paths", f"[{data}]", "--train.steps", "4", "--out", str(tmp_path)]
    assert main(["pretrain", *args, "--log.keep_steps", "[24000]"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "log.keep_steps: step 24000 is not in this run's 1..4" in err
