"""``phi1 report DIR``, ``phi1 run`` and ``phi1 ablate``: the commands that end in a report.

``phi1 run`` is the pipeline's engine followed by the report. It lives here, above both,
because the layers run pipeline -> report -> cli: the report reads what the pipeline
writes, so the pipeline may not import the report (not even lazily). The engine takes an
``on_end`` hook instead, called when the run ends (done or failed, not interrupted) unless
the recipe says ``pipeline.report: false``; this command passes the report there. Calling
:func:`phi1.pipeline.run` directly runs the stages and draws nothing. ``phi1 ablate`` is
composed the same way: :func:`phi1.pipeline.ablate.run_ablation`, then the ablation's page
(:mod:`phi1.report.ablation`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from phi1 import pipeline
from phi1.report.ablation import build_ablation_report, is_ablation
from phi1.report.html import build_report


def report(directory: str, out: str | None = None) -> None:
    """Write the HTML report and summary JSON of a ``phi1 run`` folder (or the page of a
    ``phi1 ablate`` folder).

    Args:
        directory: The run folder (``phi1 run --out DIR``) or ablation folder (``phi1
            ablate --out DIR``).
        out: Where the HTML goes (default: DIR/report.html); the JSON goes beside it.
    """
    if is_ablation(directory):
        path = build_ablation_report(directory, out)
        print(f"report: {path}")
        return
    path = build_report(directory, out)
    print(f"report: {path}\nsummary: {path.with_suffix('.json')}")


def run(
    recipe: str | None = None,
    out: str | None = None,
    from_: str | None = None,
) -> dict[str, Any]:
    """Run the whole recipe, stage by stage, into one folder per stage under --out.

    A re-run skips the stages whose section and inputs are unchanged and resumes the one
    that was interrupted; see docs/PIPELINE.md. Ends by writing OUT/report.html (unless
    the recipe sets pipeline.report: false).

    Args:
        recipe: The recipe YAML (recipes/smoke.yaml, tiny, phi-1-small, phi-1).
        out: The run directory.
        from_: ``--from STAGE``: redo this stage and every later one (their old folders
            go to OUT/superseded/). Stages: corpus, annotate, classifier, filter, dedup,
            textbooks, exercises, decontam, pack, pretrain, finetune, humaneval, graded.
    """
    return pipeline.run(recipe, out, from_, on_end=_write_report)


def ablate(recipe: str | None = None, out: str | None = None) -> dict[str, Any]:
    """Compare data variants: one small model each, trained alike, on an early-signal loss.

    The recipe's ablate: section names the preset, the token budget, the seeds (two or
    more), the early-signal benchmarks and the variants (overrides of the data stages);
    every variant trains the same preset from the same initial weights on the same tokens.
    See docs/PIPELINE.md.

    Stages that variants share run once; a re-run skips finished runs and resumes the
    interrupted one. Writes OUT/ablation.json and OUT/report.html (the plot, the table,
    each variant against the baseline in words).

    Args:
        recipe: A recipe with an ablate: section (recipes/ablation-tiny.yaml).
        out: The ablation directory.
    """
    from phi1.pipeline.ablate import run_ablation

    return run_ablation(recipe, out, on_end=_write_ablation_report)


def _write_report(root: Path) -> None:
    _drawn(build_report, root)


def _write_ablation_report(root: Path) -> None:
    _drawn(build_ablation_report, root)


def _drawn(build: Any, root: Path) -> None:
    try:
        path = build(root)
    except Exception as e:  # the report must never hide the run's own outcome
        print(f"report: not written ({type(e).__name__}: {e})", flush=True)
        return
    print(f"report: {path}", flush=True)
