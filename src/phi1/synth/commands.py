"""``phi1 synth textbooks``, ``phi1 synth exercises`` and ``phi1 synth stats DIR``.

Recipe sections: ``synth: {textbooks: {out, llm: {...}, textbook: {...}, runner: {...}},
exercises: {out, llm: {...}, solver: {...}, exercise: {...}, runner: {...}}}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from phi1.errors import Phi1Error
from phi1.llm import LLMSettings
from phi1.llm.runner import RunnerSettings
from phi1.synth.exercises import ExerciseSettings
from phi1.synth.textbooks import TextbookSettings


def _print_summary(kind: str, summary: dict) -> None:
    reasons = ", ".join(f"{k} {v}" for k, v in summary["reasons"].items()) or "none"
    usage = summary["usage_this_run"]
    cost = f", cost {usage['cost']:.4f}" if usage.get("cost") is not None else ""
    print(
        f"{kind}: {summary['kept']} kept of {summary['asked']} asked; rejected "
        f"{summary['rejected']} ({reasons}); this run: {usage.get('requests', 0)} requests, "
        f"{usage.get('completion_tokens', 0)} tokens, {usage.get('retries', 0)} retries{cost}; "
        f"{summary['file']}"
    )


def _generate(
    kind: str,
    generate: Callable[..., dict],
    out: str | None,
    llm: LLMSettings,
    settings: Any,
    runner: RunnerSettings,
    **others: LLMSettings | None,
) -> None:
    """Load the model (and any ``others`` given), run ``generate(model, out, settings,
    runner, **others)``, print its summary."""
    if out is None:
        raise Phi1Error(f"synth {kind}: --out DIR is required")
    loaded: dict = {}
    model = llm.load()
    try:
        for key, spec in others.items():
            loaded[key] = None if spec is None or spec == llm else spec.load()
        _print_summary(kind, generate(model, out, settings, runner, **loaded))
    finally:
        for other in loaded.values():
            if other is not None:
                other.close()
        model.close()


def textbooks(
    out: str | None = None,
    llm: LLMSettings = LLMSettings(),  # noqa: B008 (jsonargparse reads the default)
    textbook: TextbookSettings = TextbookSettings(),  # noqa: B008
    runner: RunnerSettings = RunnerSettings(),  # noqa: B008
) -> None:
    """Generate synthetic textbook sections (topic x audience x style), checked and deduplicated.

    Resumable: re-run the same command after an interruption and finished sections are kept.

    Args:
        out: Output directory (textbooks.jsonl, rejects, summary.json, generated/).
        llm: The model that writes.
        textbook: What to generate and what to keep.
        runner: Sharding, flushing, progress, worker split.
    """
    from phi1.synth.textbooks import generate_textbooks

    _generate("textbooks", generate_textbooks, out, llm, textbook, runner)


DEFAULT_TEACHER = LLMSettings(model="qwen2.5-coder-1.5b-instruct")
"""The model that writes the exercises by default. Its prose is right more often than the
0.5B model's: of the same 80 names, with the 1.5B as solver and the other defaults, it had
49 kept at 84-88% correct (two readers), the 0.5B 37 at 76% at the same m of 4 and 50 at
74-78% at 3 (examples/synth/README.md). On 40 other names the share fell to 66-76% (the
0.5B's at 3 of 5: 77-82%, 55% kept against 72%); over all 120 the 1.5B keeps 65% at 77-83%,
the 0.5B 60% at 75-79%. One model is loaded: the default solver is the same
settings. About 13% slower than the 0.5B teacher per exercise asked."""

DEFAULT_SOLVER = LLMSettings(model="qwen2.5-coder-1.5b-instruct")
"""The model of the candidates and the test inputs by default: the stronger of the two code
models phi1 runs locally (with the 0.5B teacher, a 0.5B solver kept 47 of 80 at 70% correct,
the 1.5B 50 at 74-78%; examples/synth/README.md)."""


def exercises(
    out: str | None = None,
    llm: LLMSettings = DEFAULT_TEACHER,
    solver: LLMSettings = DEFAULT_SOLVER,
    exercise: ExerciseSettings = ExerciseSettings(),  # noqa: B008
    runner: RunnerSettings = RunnerSettings(),  # noqa: B008
) -> None:
    """Generate CodeExercises (signature + docstring -> body), validated in the sandbox.

    Resumable: re-run the same command after an interruption and finished exercises are kept.

    Args:
        out: Output directory (exercises.jsonl, rejects, summary.json, generated/).
        llm: The teacher: the model that writes each exercise (signature, docstring, its
            own body); default: Qwen2.5-Coder-1.5B-Instruct, run locally.
        solver: The model that writes the other candidate solutions and the test inputs
            of the agreement check (default: Qwen2.5-Coder-1.5B-Instruct, run locally).
            Settings equal to the teacher's use the loaded teacher (so the defaults load
            one model); with a served teacher, point it at a server too. Not loaded unless
            ``exercise.check`` is ``agreement``.
        exercise: What to generate and what to keep.
        runner: Sharding, flushing, progress, worker split.
    """
    from phi1.synth.exercises import generate_exercises

    asked = solver if exercise.check == "agreement" else None  # the other checks ask none
    _generate("exercises", generate_exercises, out, llm, exercise, runner, solver=asked)


def stats(directory: str, embed: bool = True, sample: int = 2000, seed: int = 0) -> None:
    """Diversity report of a synthetic dataset; writes stats.json and stats.md into it.

    Args:
        directory: A ``synth textbooks``/``synth exercises`` output directory (or any
            runner directory with part-*.jsonl).
        embed: Compute the embedding-similarity distribution (all-MiniLM-L6-v2).
        sample: Most records embedded (a seeded sample beyond that).
        seed: Seed of that sample.
    """
    from phi1.synth.stats import render_markdown, write_stats

    print(render_markdown(write_stats(directory, embed=embed, sample=sample, seed=seed)), end="")
