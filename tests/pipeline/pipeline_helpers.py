"""Helpers for the pipeline tests: a cheap recipe (corpus, pack, a few steps of the debug
model; no LLM), running ``phi1`` as a separate process, reading manifests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
EDUCATIONAL = REPO / "tests" / "assets" / "quality_sanity" / "educational"


def cheap_recipe(steps: int = 4, save_interval: int = 2, **sections: dict) -> dict:
    """corpus -> pack -> pretrain (debug model, 32-token blocks): seconds on a CPU."""
    recipe = {
        "corpus": {"inputs": [f"educational={EDUCATIONAL}"]},
        "pack": {"pack": {"workers": 1}},
        "pretrain": {
            "model": "debug",
            "data": {"block_size": 32, "val_fraction": 0.1},
            "train": {"steps": steps, "global_batch": 4, "micro_batch": 4, "lr": 3e-3,
                      "warmup_steps": 1, "precision": "fp32", "device": "cpu"},
            "log": {"log_interval": 1, "eval_interval": 0, "eval_sequences": 2,
                    "save_interval": save_interval, "keep_last": 1, "tensorboard": False,
                    "progress": False},
        },
    }  # fmt: skip
    recipe.update(sections)
    return recipe


def write_recipe(path: Path, recipe: dict) -> Path:
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def _default_sigint() -> None:
    # A shell starts background jobs with SIGINT ignored (`make test &`, nohup), and the
    # child would inherit that: Python then never raises KeyboardInterrupt, and a test of
    # what ^C does would see the run finish instead.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(*args: str, log: Path) -> subprocess.Popen:
    """``phi1 ARGS`` as its own process group (so a signal reaches it and its workers),
    with SIGINT's default disposition whatever this process inherited."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("ab") as f:
        return subprocess.Popen(
            [sys.executable, "-m", "phi1.cli", *map(str, args)],
            cwd=REPO,
            stdout=f,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_default_sigint,
        )


def manifest(run: Path, stage: str) -> dict:
    return json.loads((run / stage / "stage.json").read_text())


def state(run: Path) -> dict:
    return json.loads((run / "pipeline.json").read_text())
