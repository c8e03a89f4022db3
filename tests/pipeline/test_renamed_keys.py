"""Keys that changed spelling: an old recipe key or flag is one error naming the new one,
from ``phi1 run --recipe``, ``phi1 <command> --recipe`` and the command line alike; a model
given as a bare string where a command now takes an LLMSettings section names ``.model``."""

from __future__ import annotations

import pytest
from pipeline_helpers import cheap_recipe, write_recipe

from phi1.errors import Phi1Error
from phi1.llm import LLMSettings
from phi1.pipeline import recipe
from phi1.pipeline.recipe import RENAMED, check_flags, check_keys, function_parser, resolve
from phi1.pipeline.stages import stage_named

# Stand-ins shaped as the commands are after issue 14 (one LLMSettings shape), so that the
# rule is tested on the keys that really changed whatever this checkout's commands take.


def graded(
    out: str | None = None,
    solver: LLMSettings = LLMSettings(),  # noqa: B008
    judge: LLMSettings = LLMSettings(),  # noqa: B008
    limit: int | None = None,
) -> None:
    """Args: out: o. solver: s. judge: j. limit: l."""


def annotate(
    inputs: list[str] | None = None,
    out: str | None = None,
    llm: LLMSettings = LLMSettings(),  # noqa: B008
    n: int = 300,
) -> None:
    """Args: inputs: i. out: o. llm: m. n: n."""


def humaneval(
    out: str | None = None,
    llm: LLMSettings = LLMSettings(),  # noqa: B008
    n: int = 1,
) -> None:
    """Args: out: o. llm: m. n: n."""


def test_an_old_recipe_key_names_its_new_spelling():
    assert RENAMED["eval.graded.n_ctx"] == "eval.graded.judge.n_ctx"
    with pytest.raises(Phi1Error) as e:
        check_keys(["eval", "graded"], graded, {"limit": 5, "n_ctx": 2048}, "r.yaml")
    assert str(e.value) == "r.yaml: eval.graded.n_ctx is now eval.graded.judge.n_ctx"
    check_keys(["eval", "graded"], graded, {"judge": {"model": "q", "n_ctx": 2048}}, "r.yaml")


def test_an_entry_fires_only_where_the_old_key_is_gone():
    def still_old(out: str | None = None, n_ctx: int = 4096) -> None:
        """Args: out: o. n_ctx: c."""

    check_keys(["eval", "graded"], still_old, {"n_ctx": 2048}, "r.yaml")
    check_flags(["eval", "graded"], still_old, ["--n_ctx", "2048"])


@pytest.mark.parametrize(
    ("words", "func", "key"),
    [(["annotate"], annotate, "llm"), (["eval", "graded"], graded, "judge")],
)
def test_a_model_given_as_a_string_names_the_section(words, func, key):
    with pytest.raises(Phi1Error) as e:
        check_keys(words, func, {key: "qwen2.5-coder-0.5b-instruct"}, "r.yaml")
    where = ".".join(words)
    assert str(e.value) == (
        f"r.yaml: {where}.{key} is a section now: write {key}: "
        "{model: qwen2.5-coder-0.5b-instruct}"
    )


def test_an_old_flag_names_its_new_spelling():
    with pytest.raises(Phi1Error, match=r"^--model is now --llm\.model$"):
        check_flags(["eval", "humaneval"], humaneval, ["--out", "x", "--model", "runs/final"])
    with pytest.raises(Phi1Error, match=r"^--n_ctx is now --judge\.n_ctx$"):
        check_flags(["eval", "graded"], graded, ["--n_ctx=2048"])
    with pytest.raises(Phi1Error, match=r"^--judge is a section now: write --judge\.model q$"):
        check_flags(["eval", "graded"], graded, ["--judge", "q"])
    check_flags(["eval", "graded"], graded, ["--judge.model", "q", "--judge", '{"model": "q"}'])


def test_cli_recipe_and_flags_on_a_command_with_an_llm_section(tmp_path, run_phi1):
    path = write_recipe(tmp_path / "r.yaml", {"synth": {"textbooks": {"llm": "qwen"}}})
    rc, _, err = run_phi1("synth", "textbooks", "--recipe", path, "--out", tmp_path / "o")
    assert rc == 1
    assert err.strip() == (
        f"phi1: error: {path}: synth.textbooks.llm is a section now: write llm: {{model: qwen}}"
    )
    rc, _, err = run_phi1("synth", "textbooks", "--out", tmp_path / "o", "--llm", "qwen")
    assert rc == 1
    assert err.strip() == "phi1: error: --llm is a section now: write --llm.model qwen"
    assert not (tmp_path / "o").exists()


def test_cli_renamed_key_in_a_recipe_and_a_flag(tmp_path, run_phi1, monkeypatch):
    monkeypatch.setitem(recipe.RENAMED, "info.preset", "info.model")
    path = write_recipe(tmp_path / "r.yaml", {"info": {"preset": "debug"}})
    rc, _, err = run_phi1("info", "--recipe", path)
    assert rc == 1 and err.strip() == f"phi1: error: {path}: info.preset is now info.model"
    rc, _, err = run_phi1("info", "--preset", "debug")
    assert rc == 1 and err.strip() == "phi1: error: --preset is now --model"


def test_run_names_an_old_key_before_any_stage_runs(tmp_path, run_phi1, monkeypatch):
    monkeypatch.setitem(recipe.RENAMED, "pack.shard_mbs", "pack.shard_mb")
    path = write_recipe(tmp_path / "r.yaml", cheap_recipe(pack={"shard_mbs": 1}))
    rc, _, err = run_phi1("run", "--recipe", path, "--out", tmp_path / "run")
    assert rc == 1 and f"{path}: pack.shard_mbs is now pack.shard_mb" in err
    textbooks = {"synth": {"textbooks": {"llm": "qwen"}}}
    path = write_recipe(tmp_path / "r.yaml", cheap_recipe(**textbooks))
    rc, _, err = run_phi1("run", "--recipe", path, "--out", tmp_path / "run")
    assert rc == 1 and "synth.textbooks.llm is a section now: write llm: {model: qwen}" in err
    assert not (tmp_path / "run" / "corpus").exists()


# The same on the real commands, once they take LLMSettings sections (parts C and G of
# issue 14; the stage table's functions are the commands' own).


def _takes_section(stage: str, key: str):
    func = resolve(stage_named(stage).func)
    dests = {a.dest for a in function_parser(func)._actions} if func else set()
    return func if f"{key}.model" in dests else None


@pytest.mark.skipif(not _takes_section("graded", "judge"), reason="graded: judge is a string")
def test_real_graded_recipe_keys(tmp_path, run_phi1):
    for section, message in [
        ({"n_ctx": 2048}, "eval.graded.n_ctx is now eval.graded.judge.n_ctx"),
        ({"judge": "q"}, "eval.graded.judge is a section now: write judge: {model: q}"),
    ]:
        path = write_recipe(tmp_path / "r.yaml", {"eval": {"graded": section}})
        rc, _, err = run_phi1("eval", "graded", "--recipe", path, "--out", tmp_path / "o")
        assert rc == 1 and message in err


@pytest.mark.skipif(not _takes_section("annotate", "llm"), reason="annotate: llm is a string")
def test_real_annotate_llm_string(tmp_path, run_phi1):
    path = write_recipe(tmp_path / "r.yaml", cheap_recipe(annotate={"llm": "q"}))
    rc, _, err = run_phi1("run", "--recipe", path, "--out", tmp_path / "run")
    assert rc == 1 and "annotate.llm is a section now: write llm: {model: q}" in err


def test_a_renamed_section_renames_every_key_below_it():
    """``decontam.run.settings`` became ``decontam.run.decontam``: any key under it names its
    new spelling, in a recipe and as a flag; a flattened field names its section."""
    decontam_run = resolve(stage_named("decontam").func)
    with pytest.raises(Phi1Error) as e:
        check_keys(["decontam", "run"], decontam_run, {"settings": {"taus": [0.9]}}, "r.yaml")
    assert str(e.value) == "r.yaml: decontam.run.settings is now decontam.run.decontam"
    with pytest.raises(Phi1Error, match=r"^--settings\.taus is now --decontam\.taus$"):
        check_flags(["decontam", "run"], decontam_run, ["--settings.taus", "[0.9]"])
    annotate_command = resolve(stage_named("annotate").func)
    with pytest.raises(Phi1Error, match=r"^--n is now --annotate\.n$"):
        check_flags(["annotate"], annotate_command, ["--n", "40"])
    check_flags(["annotate"], annotate_command, ["--annotate.n", "40"])
