"""phi-1-base at a kept step: ``pretrain.log.keep_steps`` keeps a mid-schedule checkpoint,
``pipeline.base_step`` makes finetuning start from it and ``eval_base`` score it, and the
paper-scale recipes say so for step 24,000 of 36,000."""

from __future__ import annotations

import json
import re
import shutil
import threading

import pytest
from pipeline_helpers import REPO, cheap_recipe, manifest, write_recipe
from safetensors.torch import load_file

from phi1.llm.base import Completion
from phi1.llm.testserver import serve
from phi1.pipeline import load_recipe, stage_named
from phi1.pipeline.stages import Context, PipelineSettings

EXERCISE = '''```python
def {name}(values: list) -> int:
    """Return the sum of the numbers in values that are multiples of {m}.

    >>> {name}([{m}, 1, {m2}])
    {m3}
    """
    total = 0
    for v in values:
        if v % {m} == 0:
            total += v
    return total
```
'''


class Teacher:
    """Scripted answers over real HTTP: a valid exercise per function name asked for, each
    with its own modulus (so none is a duplicate of another)."""

    def __init__(self):
        self.moduli: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, request) -> Completion:
        name = re.search(r"named `(\w+)`", request.messages[-1]["content"]).group(1)
        with self.lock:
            m = self.moduli.setdefault(name, 2 + len(self.moduli))
        text = EXERCISE.format(name=name, m=m, m2=2 * m, m3=3 * m)
        return Completion([text], ["stop"], 50, 80)


def _recipe(url: str, base_step: int) -> dict:
    recipe = cheap_recipe(steps=6, save_interval=100)
    recipe["pretrain"]["log"]["keep_steps"] = [3]  # mid-schedule; keep_last 1 would drop it
    finetune = json.loads(json.dumps(recipe["pretrain"]))
    del finetune["model"], finetune["log"]["keep_steps"]
    finetune["train"].update(steps=2, lr=1e-3)
    recipe.update(
        synth={"exercises": {"llm": {"model": url},
                             # one scripted exercise per name, checked by its examples
                             "exercise": {"n": 8, "examples": 1, "check": "examples",
                                          "difficulties": ["easy"]},
                             "runner": {"progress": False}}},
        finetune=finetune,
        eval={"humaneval": {"sampling": {"n": 1, "max_tokens": 8},
                            "scoring": {"limit": 2, "k": "1", "workers": 1}}},
        pipeline={"eval_base": True, "base_step": base_step, "report": False},
    )  # fmt: skip
    return recipe


@pytest.mark.slow  # corpus, exercises, pack, two trainings, two HumanEval runs
def test_finetune_starts_from_and_eval_base_scores_the_kept_step(tmp_path, run_phi1):
    run = tmp_path / "run"
    with serve(Teacher()) as server:
        path = write_recipe(tmp_path / "r.yaml", _recipe(server.url, base_step=3))
        rc, out, err = run_phi1("run", "--recipe", path, "--out", run)
    assert rc == 0, err + out[-3000:]
    pretrain = run / "pretrain"
    kept = pretrain / "kept" / "step-000003"
    # keep_steps outlived keep_last: 1, and its model was copied out (no training state)
    assert sorted(p.name for p in (pretrain / "checkpoints").glob("step-*")) == [
        "step-000003",
        "step-000006",
    ]
    assert sorted(p.name for p in kept.iterdir()) == sorted(
        p.name
        for p in (pretrain / "final").iterdir()  # the same files as the final model
    )
    step3, final = (
        load_file(kept / "model.safetensors"),
        load_file(pretrain / "final" / "model.safetensors"),
    )
    assert any(not step3[k].equal(final[k]) for k in final)  # mid-schedule, not the end
    # the pretrain stage's digest covers the kept model that finetuning reads
    assert "kept/step-000003/model.safetensors" in manifest(run, "pretrain")["artifacts"]

    # finetuning started from step 3's model...
    assert manifest(run, "finetune")["args"][0]["init"] == str(kept)
    assert json.loads((run / "finetune" / "run.json").read_text())["init"] == str(kept)
    # ...and HumanEval scored it as phi-1-base, beside phi-1
    calls = {a["out"]: a["llm"]["model"] for a in manifest(run, "humaneval")["args"]}
    assert calls == {
        str(run / "humaneval" / "finetune"): str(run / "finetune" / "final"),
        str(run / "humaneval" / "pretrain"): str(kept),
    }
    for model in ("finetune", "pretrain"):
        assert (run / "humaneval" / model / "results.json").exists()

    # the kept model gone (deleted by hand): one clear error, not the final model in its place
    shutil.rmtree(kept)
    with serve(Teacher()) as server:
        rc, out, err = run_phi1("run", "--recipe", path, "--out", run)
    assert rc == 1
    assert "pipeline.base_step 3: pretrain kept no model at that step" in err
    assert "pretrain.log.keep_steps" in err


def test_a_base_step_pretraining_does_not_keep_fails_before_any_stage_runs(tmp_path, run_phi1):
    path = write_recipe(tmp_path / "r.yaml", _recipe("http://127.0.0.1:9/v1", base_step=4))
    rc, out, err = run_phi1("run", "--recipe", path, "--out", tmp_path / "run")
    assert rc == 1
    assert "pipeline.base_step 4 is not one of pretrain.log.keep_steps [3]" in err
    assert not (tmp_path / "run" / "corpus").exists()


def test_the_wiring_reads_the_kept_step_or_the_final_model(tmp_path):
    ran = {"pack", "pretrain", "finetune"}
    based = Context(tmp_path, ran, PipelineSettings(eval_base=True, base_step=24000), planning=True)
    kept = str(tmp_path / "pretrain" / "kept" / "step-024000")
    assert stage_named("finetune").wire(based)[0]["init"] == kept
    models = [a["llm"]["model"] for a in stage_named("humaneval").wire(based)]
    assert models == [str(tmp_path / "finetune" / "final"), kept]
    # without base_step: as before (the pretrain run folder, its final model)
    plain = Context(tmp_path, ran, PipelineSettings(eval_base=True), planning=True)
    assert stage_named("finetune").wire(plain)[0]["init"] == str(tmp_path / "pretrain")
    models = [a["llm"]["model"] for a in stage_named("humaneval").wire(plain)]
    assert models == [str(tmp_path / "finetune" / "final"), str(tmp_path / "pretrain" / "final")]


@pytest.mark.parametrize("name", ["phi-1", "phi-1-small"])
def test_paper_recipes_keep_step_24000_as_phi_1_base_and_compile(name):
    recipe = load_recipe(REPO / "recipes" / f"{name}.yaml")
    assert recipe["pipeline"]["base_step"] == 24000 and recipe["pipeline"]["eval_base"]
    assert recipe["pretrain"]["log"]["keep_steps"] == [24000]
    assert recipe["pretrain"]["train"]["steps"] == 36000
    assert recipe["pretrain"]["train"]["compile"] and recipe["finetune"]["train"]["compile"]
