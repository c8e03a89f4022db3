"""The ``phi1`` entry point: recipe sections, dashed flags, one-line errors."""

from __future__ import annotations

import pytest

from phi1.cli import _underscore_flags, main
from phi1.model.config import ModelConfig


def _write(tmp_path, text: str):
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return str(path)


def test_recipe_section_fills_the_command(tmp_path, capsys):
    recipe = _write(tmp_path, "info:\n  model: debug\npack: {}\n")
    assert main(["info", "--recipe", recipe]) == 0
    out = capsys.readouterr().out
    assert f"parameters: {ModelConfig.from_name('debug').num_params():,}" in out


def test_arguments_on_the_command_line_override_the_recipe(tmp_path, capsys):
    recipe = _write(tmp_path, "info:\n  model: debug\n")
    assert main(["info", "--recipe", recipe, "tiny"]) == 0
    out = capsys.readouterr().out
    assert f"parameters: {ModelConfig.from_name('tiny').num_params():,}" in out


def test_unknown_recipe_key_is_named(tmp_path, capsys):
    recipe = _write(tmp_path, "info:\n  model: debug\n  colour: red\n")
    assert main(["info", "--recipe", recipe]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"phi1: error: {recipe}: info: unknown key 'colour'"


def test_missing_section_and_missing_file(tmp_path, capsys):
    recipe = _write(tmp_path, "pack: {}\n")
    assert main(["info", "--recipe", recipe]) == 1
    assert "no section 'info'" in capsys.readouterr().err
    missing = str(tmp_path / "nope.yaml")
    assert main(["info", "--recipe", missing]) == 1
    assert capsys.readouterr().err.startswith(f"phi1: error: {missing}: ")
    bad = _write(tmp_path, "info: [unclosed\n")
    assert main(["info", "--recipe", bad]) == 1
    assert "invalid YAML" in capsys.readouterr().err


def test_dashed_flags_become_parameter_names():
    argv = ["synth", "textbooks", "--max-new-tokens", "8", "--top-p=0.9", "-v", "a-b"]
    assert _underscore_flags(argv) == [
        "synth",
        "textbooks",
        "--max_new_tokens",
        "8",
        "--top_p=0.9",
        "-v",
        "a-b",
    ]
    assert _underscore_flags(["run", "--from", "pack", "--from_=x"]) == [
        "run",
        "--from_",
        "pack",
        "--from_=x",
    ]


def test_unknown_preset_is_one_line(capsys):
    assert main(["info", "no-such-preset"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no-such-preset" in err[0]


@pytest.mark.parametrize("argv", [["--help"], ["info", "--help"]])
def test_help_lists_commands(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert ("info" in out) and ("usage" in out.lower())


def test_a_bool_flag_alone_means_true():
    from phi1.eval.commands import humaneval
    from phi1.pipeline.recipe import bare_switches

    argv = ["--scoring.plus", "--out", "x", "--sampling.chat"]
    assert bare_switches(humaneval, argv) == ["--scoring.plus", "true", "--out", "x",
                                              "--sampling.chat"]  # fmt: skip
    assert bare_switches(humaneval, ["--scoring.plus", "false"]) == ["--scoring.plus", "false"]
    assert bare_switches(humaneval, ["--out", "x", "--scoring.plus"])[-1] == "true"
