"""The shipped recipes: every section binds to its stage's function, and every stage runs."""

from __future__ import annotations

import pytest
from pipeline_helpers import REPO

from phi1.pipeline import STAGE_NAMES, check_recipe, load_recipe

RECIPES = sorted((REPO / "recipes").glob("*.yaml"))


def test_the_four_recipes_are_there():
    assert {p.stem for p in RECIPES} >= {"smoke", "tiny", "phi-1-small", "phi-1"}


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
