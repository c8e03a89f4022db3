"""The shipped recipes: every section binds to its stage's function, and every stage runs."""

from __future__ import annotations

import pytest
from pipeline_helpers import REPO

from phi1.pipeline import STAGE_NAMES, check_recipe, load_recipe
from phi1.pipeline.ablate import Ablation

ALL = sorted((REPO / "recipes").glob("*.yaml"))
ABLATIONS = [p for p in ALL if "ablate" in load_recipe(p)]  # phi1 ablate's: checked below
RECIPES = [p for p in ALL if p not in ABLATIONS]


def test_the_four_recipes_are_there():
    assert {p.stem for p in RECIPES} >= {"smoke", "tiny", "phi-1-small", "phi-1"}
    assert {p.stem for p in ABLATIONS} >= {"ablation-tiny"}


@pytest.mark.parametrize("path", ABLATIONS, ids=[p.stem for p in ABLATIONS])
def test_ablation_recipe_checks_out(path, tmp_path):
    ablation = Ablation.load(path, tmp_path / "out")  # every variant's every section
    assert ablation.steps >= 1 and len(ablation.settings.seeds) >= 2
    assert {"raw", "top", "bottom", "random", "top+textbooks"} <= set(ablation.settings.variants)
    assert not (tmp_path / "out").exists()  # checking runs nothing


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_checks_out_and_runs_every_stage(path, tmp_path):
    skipped = check_recipe(path, tmp_path / "run")
    assert list(skipped) == list(STAGE_NAMES)
    assert {k: v for k, v in skipped.items() if v} == {}
    assert not (tmp_path / "run").exists()  # checking runs nothing


def test_paper_scale_recipes_hand_heavy_stages_to_the_engines():
    for name in ("phi-1-small", "phi-1"):
        recipe = load_recipe(REPO / "recipes" / f"{name}.yaml")
        assert recipe["pipeline"]["launch"]["pretrain"].startswith("torchrun")
        assert recipe["pipeline"]["launch"]["finetune"].startswith("torchrun")
        assert recipe["filter"]["filter"]["executor"] in ("slurm", "ray")
        for llm in (recipe["annotate"]["llm"], recipe["synth"]["textbooks"]["llm"]):
            assert llm["model"].startswith("http") and "," in llm["model"]  # a fleet of servers
