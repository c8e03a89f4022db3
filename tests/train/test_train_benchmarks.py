"""log.benchmarks: the early-signal loss on reference solutions in a training run, from the
initial model (step 0) to the last validation, equal to ``phi1 eval loss`` on the same
weights; a finetune's step 0 is its init model; a bad spec stops the run before it trains."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from phi1.cli import main
from phi1.train.metrics import benchmark_curves

TINY = Path(__file__).parents[1] / "assets" / "eval" / "tiny_humaneval.jsonl"
KEYS = ("val_loss/tiny_humaneval", "val_bpb/tiny_humaneval")
ARGS = [
    "--data.block_size", "32",
    "--train.global_batch", "4",
    "--train.warmup_steps", "1",
    "--train.lr", "3e-3",
    "--log.log_interval", "1",
    "--log.eval_interval", "2",
    "--log.eval_sequences", "2",
    "--log.tensorboard", "false",
    "--log.progress", "false",
    "--log.benchmarks", f"[{TINY}]",
]  # fmt: skip


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _eval_loss(model: Path, out: Path) -> dict:
    args = ["eval", "loss", "--llm.model", str(model), "--benchmark", str(TINY)]
    assert main([*args, "--out", str(out)]) == 0
    return json.loads((out / "results.json").read_text())


def test_benchmark_losses_from_step_0_to_the_end(make_dataset, tmp_path):
    rng = random.Random(0)
    tokens = np.array([rng.randrange(2000) for _ in range(32 * 40 + 1)], dtype=np.uint16)
    data = make_dataset(tmp_path / "data", tokens)
    run, ft = tmp_path / "pretrain", tmp_path / "finetune"
    common = ["--data.paths", f"[{data}]", "--data.val_fraction", "0.1", *ARGS]
    assert (
        main(["pretrain", "--model", "debug", "--out", str(run), "--train.steps", "4", *common])
        == 0
    )
    rows = _rows(run)
    bench = [r for r in rows if KEYS[0] in r]
    assert [r["step"] for r in bench] == [0, 2, 4] and all(KEYS[1] in r for r in bench)
    assert set(bench[0]) == {"step", *KEYS}  # the initial model: no held-out loss yet
    assert all("val_loss" in r for r in bench[1:])
    assert len({r[KEYS[0]] for r in bench}) == 3  # it moves as the model trains
    # the last validation measured the final model: the number phi1 eval loss gives for it
    final = _eval_loss(run / "final", tmp_path / "eval-final")
    assert abs(final["loss"]["mean"] - bench[-1][KEYS[0]]) <= 1e-6 * bench[-1][KEYS[0]]
    assert abs(final["bpb"]["mean"] - bench[-1][KEYS[1]]) <= 1e-6 * bench[-1][KEYS[1]]
    summary = json.loads((run / "summary.json").read_text())
    assert summary[KEYS[0]] == bench[-1][KEYS[0]]
    assert benchmark_curves(rows) == {"tiny_humaneval": [(r["step"], r[KEYS[0]]) for r in bench]}
    assert (run / "loss.png").stat().st_size > 0
    # a finetune's step 0 is its init model, phi-1-base
    assert (
        main(["finetune", "--init", str(run), "--out", str(ft), "--train.steps", "2", *common]) == 0
    )
    first = next(r for r in _rows(ft) if KEYS[0] in r)
    assert first["step"] == 0
    assert abs(first[KEYS[0]] - bench[-1][KEYS[0]]) <= 1e-6 * bench[-1][KEYS[0]]


def test_a_bad_benchmark_stops_the_run_before_it_trains(make_dataset, tmp_path, capsys):
    data = make_dataset(tmp_path / "data", np.arange(32 * 10 + 1, dtype=np.uint16))
    out = tmp_path / "run"
    args = ["pretrain", "--model", "debug", "--out", str(out), "--data.paths", f"[{data}]"]
    assert main([*args, "--data.block_size", "32", "--log.benchmarks", "[humaneval+]"]) == 1
    assert "unknown benchmark 'humaneval+'" in capsys.readouterr().err
    assert not (out / "metrics.jsonl").exists()
