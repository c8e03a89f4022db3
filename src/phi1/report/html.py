"""``phi1 report DIR``: one self-contained HTML page about a ``phi1 run`` folder, and a JSON
summary beside it.

``DIR/report.html`` holds every plot inline (matplotlib SVG as ``data:`` images, no external
URL, no script), so it can be mailed or archived as one file; ``DIR/report.json`` holds the
numbers behind it. Sections, in pipeline order:

- the run: each stage's status, time and counts (from ``pipeline.json`` and ``stage.json``);
- corpus and annotation: documents per source, the judge's labels by source, its scores;
- the quality classifier: held-out metrics, the corpus's classifier scores with the threshold;
- kept and dropped by reason: filter, dedup, textbooks, exercises, decontamination;
- synthetic data coverage: topics, audiences and styles of the textbooks; function names,
  topics and difficulties of the exercises;
- tokens per dataset and source (``phi1 pack``);
- loss curves (pretrain, finetune);
- HumanEval: the pass@k table and every problem's outcome;
- contamination: removed per tau, the paper's Table 3, the closest problem/record pairs;
- graded understanding: score, pass@1, correlation, per difficulty and per problem.

A stage that did not run gets a line saying so (and why, when ``pipeline.json`` knows). The
report only reads, through the pipeline's state module (manifests, and each stage's files as
the stage table declares them: ``phi1.pipeline.state.summary``, ``summaries``, ``outputs``);
a section whose files cannot be read says what failed and the rest is still written
(``report.json`` lists those errors). The package: ``run`` (reading a run folder), ``sections``
and ``models`` (the section builders), ``plots``, ``markup``, ``commands`` (``phi1 report``,
``phi1 run``).
"""

from __future__ import annotations

from pathlib import Path

from phi1.errors import Phi1Error
from phi1.io import atomic_write_json, atomic_write_text
from phi1.report import models, sections
from phi1.report.markup import esc
from phi1.report.run import Run
from phi1.report.sections import Section

SECTIONS = [
    sections.stages,
    sections.annotation,
    sections.classifier,
    sections.kept_dropped,
    sections.coverage,
    sections.tokens,
    models.training,
    models.early_signal,
    models.humaneval,
    models.contamination,
    models.graded,
]


def build_report(directory: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.html`` and ``report.json``; return the HTML's path."""
    root = Path(directory)
    if not root.is_dir():
        raise Phi1Error(f"{root}: no such run folder")
    run = Run.load(root)
    built = [build(run) for build in SECTIONS]
    target = Path(out) if out else root / "report.html"
    summary = {
        "folder": str(root.resolve()),
        "recipe": run.state.get("recipe"),
        "status": run.state.get("status"),
        "stages": {name: run.status(name) for name in run.stage_names},
        **{s.key: s.summary for s in built},
        "errors": [f"{s.title}: {s.error}" for s in built if s.error],
    }
    atomic_write_text(target, page(run, built))
    atomic_write_json(target.with_suffix(".json"), summary)
    return target


CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1000px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc;
padding-bottom: 0.2em; margin-top: 2em; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.6em 0; } td, th { border: 1px solid #ddd;
padding: 0.25em 0.6em; text-align: left; vertical-align: top; } th { background: #f4f4f4; }
figure { margin: 1em 0; } img.plot { max-width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: 0.9em; } code { background: #f4f4f4; padding: 0 0.2em; }
.not-run { color: #75507b; font-style: italic; } .error { color: #cc0000; }
.st-done { color: #4e9a06; } .st-failed { color: #cc0000; font-weight: bold; }
.st-skipped, .st-not { color: #75507b; }
.st-running, .st-interrupted, .st-incomplete { color: #c4a000; }
.grid { display: flex; flex-wrap: wrap; gap: 2px; } .cell { display: inline-block;
min-width: 2.2em; text-align: center; font-size: 0.75em; padding: 1px 0; border-radius: 2px; }
.cell.pass { background: #8ae234; } .cell.some { background: #fce94f; }
.cell.fail { background: #eeeeec; color: #777; } nav a { margin-right: 0.8em; }
"""


def page(run: Run, built: list[Section]) -> str:
    nav = " ".join(f'<a href="#{s.key}">{esc(s.title)}</a>' for s in built)
    body = "\n".join(
        f'<section id="{s.key}"><h2>{esc(s.title)}</h2>\n' + "\n".join(s.body) + "</section>"
        for s in built
    )
    title = f"phi1 run: {run.root.name}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{esc(title)}</h1><p>{esc(run.root.resolve())}</p><nav>{nav}</nav>\n"
        f"{body}\n</body></html>\n"
    )
