"""Helpers for the ablation tests: a cheap ablation recipe (two corpora, the debug model on
32-token blocks, no LLM) and reading its record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline_helpers import REPO

SANITY = REPO / "tests" / "assets" / "quality_sanity"


def ablation_recipe(tokens: int = 1024, save_interval: int = 2, eval_interval: int = 2,
                    **ablate: Any) -> dict:  # fmt: skip
    """Two variants (the sanity set's educational files, its boilerplate), two seeds, the
    held-out loss as the signal: seconds per run on a CPU."""
    return {
        "corpus": {"inputs": [f"edu={SANITY / 'educational'}"]},
        "pack": {"pack": {"workers": 1}},
        "pretrain": {
            "data": {"block_size": 32, "val_fraction": 0.1},
            "train": {"global_batch": 4, "micro_batch": 4, "lr": 3e-3, "warmup_steps": 1,
                      "precision": "fp32", "device": "cpu"},
            "log": {"log_interval": 1, "eval_interval": eval_interval, "eval_sequences": 2,
                    "save_interval": save_interval, "keep_last": 1, "tensorboard": False,
                    "progress": False},
        },
        "ablate": {
            "model": "debug", "tokens": tokens, "seeds": [0, 1], "benchmarks": [],
            "variants": {
                "edu": None,
                "boiler": {"corpus": {"inputs": [f"boiler={SANITY / 'boilerplate'}"]}},
            },
            **ablate,
        },
    }  # fmt: skip


def record(out: Path) -> dict:
    return json.loads((out / "ablation.json").read_text())


def finals(out: Path) -> dict[str, dict[str, float]]:
    """variant -> seed -> the final value of the compared metric."""
    r = record(out)
    key = r["settings"]["metric"]
    return {v: {s: run["final"][key] for s, run in e["runs"].items()}
            for v, e in r["variants"].items()}  # fmt: skip
