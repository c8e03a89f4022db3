"""Recipes: one YAML file for the whole pipeline, a section per command, checked before use.

A recipe's section for ``phi1 synth textbooks`` is ``synth: {textbooks: {...}}``; it fills
that command's function exactly as ``--config`` would (jsonargparse). ``phi1 run`` reads
every section (:func:`load_recipe`), ``phi1 <command> --recipe FILE`` one
(:func:`command_section`); both check a section's keys against the function
(:func:`check_keys`) before anything runs, and so does the command line
(:func:`check_flags`).

Keys that changed spelling are an error naming the new spelling, never a silent default:

- :data:`RENAMED` maps ``"<section>.<old dotted key>"`` to ``"<section>.<new dotted key>"``,
  the section being the command's words (``"eval.graded.n_ctx": "eval.graded.judge.n_ctx"``).
  To add a rename, add one line there; the recipe check, ``--recipe`` and the flags all read
  it. An entry fires only where the command no longer takes the old key.
- One rule covers every model setting: where a parameter is an ``LLMSettings`` section
  (``llm``, ``judge``, ``solver``: a section with a ``model`` field) and a recipe gives a
  bare string, the error says to write ``<key>: {model: VALUE}`` (on the command line,
  ``--<key>.model VALUE``).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.io import read_yaml
from phi1.pipeline.stages import STAGE_NAMES, STAGES, PipelineSettings, Stage

# "<section>.<old dotted key>" -> "<section>.<new dotted key>"; the section is the command's
# words ("eval.graded"). Read by check_keys (recipes) and check_flags (the command line).
RENAMED: dict[str, str] = {
    "annotate.allocation": "annotate.annotate.allocation",
    "annotate.max_chars": "annotate.annotate.max_chars",
    "annotate.max_tokens": "annotate.annotate.max_tokens",
    "annotate.method": "annotate.annotate.method",
    "annotate.n": "annotate.annotate.n",
    "annotate.seed": "annotate.annotate.seed",
    "annotate.template": "annotate.annotate.template",
    "classifier.train.embedder": "classifier.train.classifier.embedder",
    "classifier.train.label_rule": "classifier.train.classifier.label_rule",
    "classifier.train.max_chunks": "classifier.train.classifier.max_chunks",
    "classifier.train.n_estimators": "classifier.train.classifier.n_estimators",
    "classifier.train.seed": "classifier.train.classifier.seed",
    "classifier.train.test_size": "classifier.train.classifier.test_size",
    "decontam.run.settings": "decontam.run.decontam",
    "dedup.exact": "dedup.dedup.exact",
    "dedup.near": "dedup.dedup.near",
    "dedup.ngram": "dedup.dedup.ngram",
    "dedup.num_perm": "dedup.dedup.num_perm",
    "dedup.seed": "dedup.dedup.seed",
    "dedup.threshold": "dedup.dedup.threshold",
    "filter.batch_size": "filter.filter.batch_size",
    "filter.embed_cache": "filter.filter.embed_cache",
    "filter.executor": "filter.filter.executor",
    "filter.report_examples": "filter.filter.report_examples",
    "filter.slurm": "filter.filter.slurm",
    "filter.tasks": "filter.filter.tasks",
    "filter.threshold": "filter.filter.threshold",
    "filter.top_fraction": "filter.filter.top_fraction",
    "filter.workers": "filter.filter.workers",
    "pack.glob": "pack.pack.glob",
    "pack.shard_mb": "pack.pack.shard_mb",
    "pack.text_field": "pack.pack.text_field",
    "pack.workers": "pack.pack.workers",
    "eval.graded.judge_max_tokens": "eval.graded.judging.max_tokens",
    "eval.graded.judge_retries": "eval.graded.judging.retries",
    "eval.graded.limit": "eval.graded.grading.limit",
    "eval.graded.max_new_tokens": "eval.graded.grading.max_tokens",
    "eval.graded.model": "eval.graded.solver.model",
    "eval.graded.n_ctx": "eval.graded.judge.n_ctx",
    "eval.graded.progress": "eval.graded.grading.progress",
    "eval.graded.templates": "eval.graded.judging.templates",
    "eval.graded.timeout": "eval.graded.grading.timeout",
    "eval.graded.workers": "eval.graded.grading.workers",
    "eval.humaneval.batch_size": "eval.humaneval.sampling.batch_size",
    "eval.humaneval.chat": "eval.humaneval.sampling.chat",
    "eval.humaneval.k": "eval.humaneval.scoring.k",
    "eval.humaneval.limit": "eval.humaneval.scoring.limit",
    "eval.humaneval.max_new_tokens": "eval.humaneval.sampling.max_tokens",
    "eval.humaneval.model": "eval.humaneval.llm.model",
    "eval.humaneval.n": "eval.humaneval.sampling.n",
    "eval.humaneval.seed": "eval.humaneval.sampling.seed",
    "eval.humaneval.temperature": "eval.humaneval.sampling.temperature",
    "eval.humaneval.timeout": "eval.humaneval.scoring.timeout",
    "eval.humaneval.top_p": "eval.humaneval.sampling.top_p",
    "eval.humaneval.workers": "eval.humaneval.scoring.workers",
    "eval.mbpp.batch_size": "eval.mbpp.sampling.batch_size",
    "eval.mbpp.chat": "eval.mbpp.sampling.chat",
    "eval.mbpp.k": "eval.mbpp.scoring.k",
    "eval.mbpp.limit": "eval.mbpp.scoring.limit",
    "eval.mbpp.max_new_tokens": "eval.mbpp.sampling.max_tokens",
    "eval.mbpp.model": "eval.mbpp.llm.model",
    "eval.mbpp.n": "eval.mbpp.sampling.n",
    "eval.mbpp.seed": "eval.mbpp.sampling.seed",
    "eval.mbpp.temperature": "eval.mbpp.sampling.temperature",
    "eval.mbpp.timeout": "eval.mbpp.scoring.timeout",
    "eval.mbpp.top_p": "eval.mbpp.sampling.top_p",
    "eval.mbpp.workers": "eval.mbpp.scoring.workers",
    # issue 17: exercises are kept by agreement of candidate solutions; the old rules are
    # exercise.check: examples (require_examples: true) or lenient (require_examples: false)
    "synth.exercises.exercise.require_examples": "synth.exercises.exercise.check",
}


# --- reading recipes --------------------------------------------------------------------------


def _read(path: str | os.PathLike) -> dict[str, Any]:
    recipe = read_yaml(path) or {}
    if not isinstance(recipe, dict):
        raise Phi1Error(f"{path}: a recipe is a mapping of sections, got {type(recipe).__name__}")
    return recipe


def load_recipe(path: str | os.PathLike) -> dict[str, Any]:
    """The recipe as a mapping; unknown top-level keys and sub-keys are errors naming them."""
    recipe = _read(path)
    check_sections(recipe, str(path))
    return recipe


# Sections that are not a stage's: how ``phi1 run`` runs, and ``phi1 ablate``'s own (which
# that command checks; ``phi1 run`` leaves it alone).
OWN_SECTIONS = ("pipeline", "ablate")


def check_sections(recipe: dict[str, Any], path: str) -> None:
    """Raise naming the first top-level key or sub-key that is no stage's section."""
    known: dict[str, set[str]] = {k: set() for k in OWN_SECTIONS}
    for stage in STAGES:
        known.setdefault(stage.section[0], set())
        if len(stage.section) > 1:
            known[stage.section[0]].add(stage.section[1])
    known["synth"].add("stats")  # a command of its own, not a stage: allowed, not run
    for key, value in recipe.items():
        if key not in known:
            raise Phi1Error(
                f"{path}: unknown section {key!r}; sections: {', '.join(sorted(known))}"
            )
        if value is not None and not isinstance(value, dict):
            raise Phi1Error(f"{path}: section {key!r} must be a mapping")
        for sub in value or {}:
            if known[key] and sub not in known[key]:
                raise Phi1Error(
                    f"{path}: unknown section {key}.{sub}; {key} has: "
                    f"{', '.join(sorted(known[key]))}"
                )


def command_section(path: str | os.PathLike, words: list[str]) -> dict[str, Any]:
    """The recipe's section for the command ``words`` (``phi1 <words> --recipe FILE``)."""
    section: Any = _read(path)
    name = ".".join(words)
    for key in words:
        section = section.get(key) if isinstance(section, dict) else None
        if section is None:
            raise Phi1Error(f"{path}: no section {name!r} for this command")
    if not isinstance(section, dict):
        raise Phi1Error(f"{path}: section {name!r} must be a mapping")
    return section


def section_of(recipe: dict[str, Any], stage: Stage) -> dict[str, Any] | None:
    """The stage's section, or None when the recipe has none (the stage does not run)."""
    value: Any = recipe
    for key in stage.section:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return dict(value or {})


def pipeline_settings(recipe: dict[str, Any], path: str | os.PathLike) -> PipelineSettings:
    section = recipe.get("pipeline") or {}
    for key in section:
        if key not in PipelineSettings.__dataclass_fields__:
            raise Phi1Error(f"{path}: {_unknown('pipeline', key)}")
    try:
        settings = PipelineSettings(**section)
    except Phi1Error as e:
        raise Phi1Error(f"{path}: {e}") from None
    for name in settings.launch:
        if name not in STAGE_NAMES:
            raise Phi1Error(f"{path}: pipeline.launch names no stage {name!r}")
        if name == "corpus":
            raise Phi1Error(f"{path}: pipeline.launch: corpus runs in-process only")
    return settings


# --- sections against functions ---------------------------------------------------------------


def resolve(spec: str) -> Callable | None:
    """The function ``module:function`` names; None when its module (or a module it
    imports from the same package) is not installed: a stage that has not landed."""
    module_name, func_name = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        # A missing module that is not the spec's own (a real import bug) propagates.
        if e.name and module_name.startswith(e.name):
            return None
        raise
    return getattr(module, func_name)


def function_parser(func: Any) -> Any:
    """A jsonargparse parser of ``func``'s keyword parameters (dataclass sections nested),
    raising instead of exiting."""
    from jsonargparse import ArgumentParser, set_parsing_settings

    set_parsing_settings(docstring_parse_attribute_docstrings=True)
    parser = ArgumentParser(exit_on_error=False)
    # as_group=False: a group named after the function would clash with a section of the
    # same name (phi1 dedup takes a dedup: section).
    parser.add_function_arguments(func, as_positional=False, as_group=False)
    return parser


def merge(section: dict[str, Any], wired: dict[str, Any], where: str) -> dict[str, Any]:
    """The section with the pipeline's paths added; a section may not set them itself."""
    out = dict(section)
    for key, value in wired.items():
        if isinstance(value, dict):
            inner = out.get(key) or {}
            if not isinstance(inner, dict):
                raise Phi1Error(f"{where}.{key} must be a mapping")
            out[key] = merge(inner, value, f"{where}.{key}")
        elif key in out:
            raise Phi1Error(
                f"{where}.{key} is set by phi1 run (it joins the stages: {value}); "
                "remove it from the recipe"
            )
        else:
            out[key] = value
    return out


def bind(func: Callable, args: dict[str, Any], where: str) -> dict[str, Any]:
    """Parse ``args`` against ``func``'s signature as ``--config`` would: keyword arguments
    with dataclass sections built; an unknown or mistyped key raises naming it."""
    import argparse

    parser = function_parser(func)
    try:
        cfg = parser.parse_object(args)
        init = parser.instantiate(cfg)
    except (argparse.ArgumentError, TypeError, ValueError) as e:
        raise Phi1Error(f"{where}: {e}") from None
    return {k: v for k, v in vars(init).items() if k != "__path__"}


# --- keys that changed spelling ---------------------------------------------------------------


def renamed(old: str) -> str | None:
    """The new spelling of an old dotted key, or None: an entry of :data:`RENAMED` for the
    key or for the longest section above it (``decontam.run.settings.taus`` ->
    ``decontam.run.decontam.taus``)."""
    parts = old.split(".")
    for i in range(len(parts), 0, -1):
        new = RENAMED.get(".".join(parts[:i]))
        if new is not None:
            return ".".join([new, *parts[i:]])
    return None


def _unknown(section: str, key: str) -> str:
    """The message for a key the command does not take: its new spelling when it has one."""
    old = f"{section}.{key}"
    new = renamed(old)
    if new is not None:
        return f"{old} is now {new}"
    return f"{section}: unknown key {key!r}"


def _is_llm_section(dests: set[str], key: str) -> bool:
    return f"{key}.model" in dests


def check_keys(words: list[str], func: Callable, section: dict[str, Any], source: str) -> None:
    """Raise naming the first key of a recipe section that ``func`` does not take: a renamed
    key by its new spelling (:data:`RENAMED`), a model given as a bare string by the mapping
    it now is, any other by itself (jsonargparse reports nested errors only as the group's
    name). ``source`` starts the message (the recipe's path)."""
    name = ".".join(words)
    dests = {a.dest for a in function_parser(func)._actions}

    def walk(table: dict[str, Any], prefix: str) -> None:
        for key, value in table.items():
            dotted = prefix + str(key)
            group = any(d.startswith(dotted + ".") for d in dests)
            if isinstance(value, str) and _is_llm_section(dests, dotted):
                raise Phi1Error(
                    f"{source}: {name}.{dotted} is a section now: write {key}: {{model: {value}}}"
                )
            if isinstance(value, dict) and group:
                walk(value, dotted + ".")
            elif dotted not in dests:
                raise Phi1Error(f"{source}: {_unknown(name, dotted)}")

    walk(section, "")


def check_flags(words: list[str], func: Callable, argv: list[str]) -> None:
    """Raise naming the new spelling of a command-line flag that changed: ``phi1 eval
    humaneval --model X`` -> ``--model is now --llm.model``; a model given to a section flag
    (``--judge NAME``) -> ``--judge.model NAME``. Flags already spelled with underscores."""
    parser = function_parser(func)
    options = {o for a in parser._actions for o in a.option_strings}
    dests = {a.dest for a in parser._actions}
    name = ".".join(words)
    for i, arg in enumerate(argv):
        if arg == "--":
            return
        if not arg.startswith("--"):
            continue
        flag, eq, value = arg.partition("=")
        key = flag[2:]
        if not eq:
            value = argv[i + 1] if i + 1 < len(argv) else ""
        new = renamed(f"{name}.{key}")
        if flag not in options and new is not None:
            raise Phi1Error(f"--{key} is now --{new.removeprefix(name + '.')}")
        if flag in options and _is_llm_section(dests, key) and _bare(value):
            raise Phi1Error(f"--{key} is a section now: write --{key}.model {value}")


def bare_switches(func: Callable, argv: list[str]) -> list[str]:
    """``--scoring.plus`` alone means ``--scoring.plus true``: a flag of type ``bool`` given
    with no value (the next word is another flag, or nothing) gets ``true``; jsonargparse
    itself wants the value."""
    switches = {
        o
        for a in function_parser(func)._actions
        if getattr(a, "_typehint", None) is bool
        for o in a.option_strings
    }
    out = []
    for i, arg in enumerate(argv):
        out.append(arg)
        following = argv[i + 1] if i + 1 < len(argv) else None
        if arg in switches and (following is None or following.startswith("--")):
            out.append("true")
    return out


def _bare(value: str) -> bool:
    """A flag value that is neither a mapping nor a config file (a section flag takes one)."""
    text = value.strip()
    return bool(text) and not text.startswith(("{", "--")) and not Path(text).is_file()
