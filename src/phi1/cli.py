"""The ``phi1`` command: one entry point, each subcommand a typed function elsewhere.

Commands are exposed with jsonargparse, so every flag has help text, dataclass arguments
become dotted flags (``--train.lr 3e-4``) and ``--config recipe.yaml`` fills any of them.
A :class:`~phi1.errors.Phi1Error` raised anywhere ends the process with one clear line.
"""

from __future__ import annotations

import json
import keyword
import sys
from collections.abc import Callable
from typing import Any

from phi1.errors import Phi1Error
from phi1.pipeline.recipe import bare_switches, check_flags, check_keys, command_section, resolve

# name -> "module:function", or a nested table for command groups (``phi1 synth textbooks``).
COMMANDS: dict[str, Any] = {
    "info": "phi1.model.commands:info",
    "init": "phi1.model.commands:init",
    "convert": "phi1.model.commands:convert",
    "generate": "phi1.model.commands:generate",
    "export": {"gguf": "phi1.model.commands:export_gguf"},
    "models": {
        "list": "phi1.llm.commands:models_list",
        "fetch": "phi1.llm.commands:models_fetch",
    },
    "synth": {
        "textbooks": "phi1.synth.commands:textbooks",
        "exercises": "phi1.synth.commands:exercises",
        "stats": "phi1.synth.commands:stats",
    },
    "annotate": "phi1.data.commands:annotate",
    "classifier": {"train": "phi1.data.commands:classifier_train"},
    "filter": "phi1.data.commands:filter_corpus",
    "dedup": "phi1.data.commands:dedup",
    "decontam": {
        "run": "phi1.data.commands:decontam_run",
        "table": "phi1.data.commands:decontam_table",
    },
    "pack": "phi1.data.commands:pack",
    "pretrain": "phi1.train.commands:pretrain",
    "finetune": "phi1.train.commands:finetune",
    "eval": {
        "humaneval": "phi1.eval.commands:humaneval",
        "mbpp": "phi1.eval.commands:mbpp",
        "graded": "phi1.eval.commands:graded",
        "plus-tests": "phi1.eval.commands:plus_tests",
        "loss": "phi1.eval.commands:eval_loss",
    },
    "run": "phi1.report.commands:run",
    "report": "phi1.report.commands:report",
}


def _load(table: dict[str, Any], only: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, spec in table.items():
        if only is not None and name != only:
            continue
        value = _load(spec) if isinstance(spec, dict) else resolve(spec)
        if value:
            out[name] = value
    return out


def _command_path(argv: list[str]) -> list[str]:
    """The leading words of argv that name a command (``["synth", "textbooks"]``)."""
    path, table = [], COMMANDS
    for word in argv:
        if not isinstance(table, dict) or word not in table:
            break
        path.append(word)
        table = table[word]
    return path


def _command(path: list[str]) -> Callable | None:
    """The function of the command ``path`` names (None for a group or a missing module)."""
    spec: Any = COMMANDS
    for word in path:
        spec = spec[word]
    return resolve(spec) if isinstance(spec, str) else None


def _apply_recipe(argv: list[str], path: list[str]) -> list[str]:
    """Turn ``--recipe FILE`` into ``--config <the FILE's section for this command>``.

    A recipe is one YAML file for the whole pipeline; the section for ``phi1 synth
    textbooks`` is ``synth: {textbooks: {...}}``. Flags after it still override it. ``phi1
    run`` reads the whole recipe itself.
    """
    if path == ["run"] or "--recipe" not in argv:
        return argv
    i = argv.index("--recipe")
    if i + 1 >= len(argv):
        raise Phi1Error("--recipe needs a file")
    recipe = argv[i + 1]
    section = command_section(recipe, path)
    func = _command(path)
    if func is not None:
        check_keys(path, func, section, recipe)
    rest = argv[:i] + argv[i + 2 :]
    n = len(path)
    return rest[:n] + ["--config", json.dumps(section)] + rest[n:]


def _underscore_flags(argv: list[str]) -> list[str]:
    """``--max-new-tokens 8`` -> ``--max_new_tokens 8``: jsonargparse names flags after the
    parameters; the dashed spelling is the shell's habit, so accept both. A flag that is a
    Python keyword names the parameter with a trailing underscore (``--from`` -> ``from_``)."""
    out = []
    for arg in argv:
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg[2:].partition("=")
            name = name.replace("-", "_")
            if keyword.iskeyword(name):  # ``--from STAGE`` is the parameter ``from_``
                name += "_"
            arg = "--" + name + eq + value
        out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    from jsonargparse import CLI, set_parsing_settings

    set_parsing_settings(docstring_parse_attribute_docstrings=True)
    argv = sys.argv[1:] if argv is None else argv
    path = _command_path(argv)
    try:
        argv = _apply_recipe(_underscore_flags(argv), path)
        func = _command(path) if path else None
        if func is not None:
            check_flags(path, func, argv[len(path) :])
            argv = argv[: len(path)] + bare_switches(func, argv[len(path) :])
        # Importing every stage (torch, transformers, sklearn) costs seconds; when the
        # command is named, import only its module.
        components = _load(COMMANDS, only=path[0] if path else None)
        CLI(components, args=argv, prog="phi1", as_positional=True)
    except Phi1Error as e:
        print(f"phi1: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("phi1: interrupted; finished work is kept, re-run to resume", file=sys.stderr)
        return 130
    finally:
        sys.stdout.flush()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
