"""From the command line on real code (the standard library): pack, pretrain with a recipe,
finetune from the pretrained model; losses fall and the result loads in transformers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from jsonargparse import ArgumentParser

from phi1.cli import main
from phi1.train.commands import finetune, pretrain

RECIPES = Path(__file__).parents[2] / "recipes"
STDLIB = Path(json.__file__).parents[1]


def losses(out: Path) -> list[float]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r]


@pytest.mark.slow
def test_pack_pretrain_finetune_on_the_standard_library(tmp_path):
    code, exercises = tmp_path / "tokens" / "code", tmp_path / "tokens" / "exercises"
    assert main(["pack", str(STDLIB / "email"), "--pack.glob", "*.py", "--out", str(code)]) == 0
    assert main(["pack", str(STDLIB / "json"), "--pack.glob", "*.py", "--out", str(exercises)]) == 0

    smoke = ["--recipe", str(RECIPES / "smoke.yaml")]
    pre = tmp_path / "pretrain"
    assert main(["pretrain", *smoke, "--out", str(pre), "--data.paths", f"[{code}]"]) == 0
    pre_losses = losses(pre)
    assert len(pre_losses) == 8 and pre_losses[-1] < pre_losses[0] - 0.5
    for name in ("loss.png", "summary.json", "run.json", "final/config.json"):
        assert (pre / name).stat().st_size > 0

    fine = tmp_path / "finetune"
    args = ["--out", str(fine), "--init", str(pre), "--data.paths", f"[{exercises}]"]
    assert main(["finetune", *smoke, *args]) == 0
    fine_losses = losses(fine)
    assert len(fine_losses) == 4
    assert fine_losses[0] < pre_losses[0] - 0.5  # it starts from the pretrained weights
    run = json.loads((fine / "run.json").read_text())
    # finetuning's own defaults fill what the recipe leaves out (the paper's 0.01)
    assert run["stage"] == "finetune" and run["train"]["weight_decay"] == 0.01

    from transformers import AutoModelForCausalLM

    from phi1.model.checkpoint import load_checkpoint

    hf = AutoModelForCausalLM.from_pretrained(fine / "final").eval()
    ours = load_checkpoint(fine / "final")
    idx = torch.tensor([[1, 2, 3, 50256, 7]])
    with torch.no_grad():
        assert torch.allclose(hf(idx).logits, ours(idx), atol=1e-4)


@pytest.mark.parametrize("recipe", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.stem)
def test_recipe_sections_are_exactly_what_the_commands_accept(recipe):
    data = yaml.safe_load(recipe.read_text())
    assert "pretrain" in data, recipe
    for name, command in (("pretrain", pretrain), ("finetune", finetune)):
        if name not in data:  # an ablation recipe pretrains only (its variants may finetune)
            continue
        parser = ArgumentParser(exit_on_error=False)
        parser.add_function_arguments(command)
        parser.parse_object(data[name])  # raises on an unknown key or a wrong type


def test_phi1_recipe_has_the_papers_values():
    data = yaml.safe_load((RECIPES / "phi-1.yaml").read_text())
    pre, fine = data["pretrain"], data["finetune"]
    assert pre["model"] == "phi-1" and pre["data"]["block_size"] == 2048
    got = {k: pre["train"][k] for k in ("global_batch", "lr", "warmup_steps", "weight_decay")}
    assert got == {"global_batch": 1024, "lr": 1e-3, "warmup_steps": 750, "weight_decay": 0.1}
    assert pre["train"]["steps"] == 36000 and pre["train"]["dropout"] == 0.1
    got = {k: fine["train"][k] for k in ("global_batch", "lr", "warmup_steps", "weight_decay")}
    assert got == {"global_batch": 256, "lr": 1e-4, "warmup_steps": 50, "weight_decay": 0.01}
    assert fine["train"]["steps"] == 6000 and fine["data"]["block_size"] == 2048
