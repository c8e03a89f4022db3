"""The report's sections about the models: loss curves, the early-signal loss on benchmark
solutions, HumanEval, contamination (the paper's Table 3 from this run's results), graded
understanding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.report.markup import counts_line, esc, not_run, num, pct, table
from phi1.report.plots import grades, loss_curves
from phi1.report.run import Run, rows
from phi1.report.sections import Section, prune_tau, section
from phi1.train.metrics import benchmark_curves


def _metrics(paths: list[Path]) -> tuple[list, list, dict[str, list]]:
    """Training loss, validation loss and the benchmarks' early-signal loss, (step, value)."""
    train, val = [], []
    every = list(rows(paths))
    for row in every:
        step = row.get("step")
        if isinstance(row.get("loss"), (int, float)):
            train.append((step, row["loss"]))
        if isinstance(row.get("val_loss"), (int, float)):
            val.append((step, row["val_loss"]))
    return train, val, benchmark_curves(every)


@section("training", "Loss curves")
def training(run: Run, s: Section) -> None:
    curves = {}
    for name in ("pretrain", "finetune"):
        if run.ran(name):
            curves[name] = _metrics(run.outputs(name, "metrics"))
        else:
            s.add(not_run(run.why_not(name)))
    s.summary = {
        k: {"steps": t[-1][0] if t else 0, "loss": t[-1][1] if t else None,
            "val_loss": v[-1][1] if v else None}
        for k, (t, v, _) in curves.items()
    }  # fmt: skip
    if curves:
        s.add(loss_curves(curves))


# the models the early-signal table shows: (name, training stage, which of its measurements)
EARLY_MODELS = (("initial model", "pretrain", 0), ("phi-1-base", "pretrain", -1),
                ("phi-1", "finetune", -1))  # fmt: skip


@section("early_signal", "Early-signal loss")
def early_signal(run: Run, s: Section) -> None:
    """log.benchmarks' loss of each model on the benchmark's reference solutions, beside
    the model's pass@1 where it was evaluated."""
    found = {st: _metrics(run.outputs(st, "metrics"))[2] for st in ("pretrain", "finetune")
             if run.ran(st)}  # fmt: skip
    names = list(dict.fromkeys(n for curves in found.values() for n in curves))
    if not names:
        s.add("<p>Not measured: name benchmarks in the training sections' "
              "<code>log: {benchmarks: [humaneval]}</code>.</p>")  # fmt: skip
        return
    passk = {
        k: (v.get("pass@k") or {}).get("pass@1") for k, v in run.summaries("humaneval").items()
    }
    out: dict[str, Any] = {}
    for name in names:
        body, out[name] = [], {}
        for model, stage, which in EARLY_MODELS:
            points = found.get(stage, {}).get(name)
            if not points:
                continue
            step, loss = points[which]
            bpb = _bpb(run, stage, name, step)
            p1 = passk.get(stage) if which == -1 else None
            out[name][model] = {"step": step, "loss": loss, "bpb": bpb, "pass@1": p1}
            cells = [f"{loss:.4f}", "-" if bpb is None else f"{bpb:.4f}",
                     "not evaluated" if p1 is None else f"{100 * p1:.1f}%"]  # fmt: skip
            body.append([model, f"{stage} step {step}", *cells])
        s.add(
            f"<h3>{esc(name)}</h3>",
            table(["model", "measured at", "loss (nats/token)", "bits/byte", "pass@1"], body),
        )
    s.add("<p>The negative log-likelihood of each problem's reference solution given its prompt "
          "(mean over the problems), measured while training (<code>log.benchmarks</code>; "
          "<code>phi1 eval loss</code> gives the same number for a checkpoint). It moves while "
          "pass@1 is still 0: the signal data ablations compare. phi-1-base's pass@1 is "
          "evaluated with <code>pipeline: {eval_base: true}</code>.</p>")  # fmt: skip
    s.summary = out


def _bpb(run: Run, stage: str, name: str, step: int) -> float | None:
    for row in rows(run.outputs(stage, "metrics")):
        if row.get("step") == step and f"val_bpb/{name}" in row:
            return row[f"val_bpb/{name}"]
    return None


@section("humaneval", "HumanEval", needs="humaneval")
def humaneval(run: Run, s: Section) -> None:
    out: dict[str, Any] = {}
    per_model: dict[str, dict[str, dict]] = {}
    body = []
    for model, r in run.summaries("humaneval").items():
        out[model] = {"pass@k": r.get("pass@k"), "problems": r.get("problems_attempted"),
                      "status_counts": r.get("status_counts")}  # fmt: skip
        per_model[model] = r.get("per_problem") or {}
        passk = r.get("pass@k") or {}
        body.append([model, str(r.get("problems_attempted", "?")), str(r.get("n_samples", "?")),
                     *[f"{100 * v:.1f}%" for v in passk.values()],
                     counts_line(r.get("status_counts") or {})])  # fmt: skip
        head = list(passk)
    s.summary = out
    if not body:
        s.add("<p>No results.json under humaneval/.</p>")
        return
    s.add(table(["model", "problems", "samples", *head, "sample outcomes"], body))
    for model, per in per_model.items():
        s.add(f"<h3>{esc(model)}: every problem</h3>", *_problem_grid(per))


def _problem_grid(per_problem: dict[str, dict]) -> tuple[str, str]:
    """A cell per problem: all samples pass, some do, none does."""
    cells = []
    for task_id, p in per_problem.items():
        c, n = p.get("c", 0), p.get("n", 0)
        frac = c / n if n else 0.0
        cls = "pass" if frac == 1 else "some" if frac > 0 else "fail"
        cells.append(f'<span class="cell {cls}" title="{esc(task_id)}: {c}/{n} passed">'
                     f"{esc(task_id.rsplit('/', 1)[-1])}</span>")  # fmt: skip
    return (
        '<div class="grid">' + "".join(cells) + "</div>",
        '<p class="legend"><span class="cell pass">n</span> all samples pass '
        '<span class="cell some">n</span> some <span class="cell fail">n</span> none</p>',
    )


@section("contamination", "Contamination", needs="decontam")
def contamination(run: Run, s: Section) -> None:
    r = run.summary("decontam")
    if r is None:
        raise Phi1Error(f"{run.dir('decontam')}: no summary")
    taus = [str(t) for t in (r.get("settings") or {}).get("taus", [])]
    body = [[t, f"{r['records']:,}", f"{(r.get('removed') or {}).get(t, 0):,}",
             f"{(r.get('kept') or {}).get(t, 0):,}",
             f"{(r.get('similar_problems') or {}).get(t, 0)} of {r['benchmark']['problems']}"]
            for t in taus]  # fmt: skip
    s.add(f"<p>The exercises against {esc(r['benchmark'].get('spec', '?'))}: n-gram overlap, "
          f"embedding distance ({esc((r.get('embedder') or {}).get('name', '?'))}) and AST "
          f"match rate, as in the paper's section 5. The exercises pruned at tau "
          f"{prune_tau(run, r)} are what finetuning used.</p>",
          table(["tau", "records", "removed", "kept", "similar problems"], body))  # fmt: skip
    out: dict[str, Any] = {"removed": r.get("removed"), "similar_problems":
                           r.get("similar_problems"), "records": r.get("records")}  # fmt: skip
    results = run.outputs("humaneval", "results") if run.ran("humaneval") else []
    if results and taus:
        out["table3"] = _table3(run, s, results)
    pairs = []
    for row in rows(run.outputs("decontam", "neighbours")):
        best = max(row.get("nearest") or [{}], key=lambda n: n.get("ast") or -1)
        pairs.append((row.get("max_ast") or 0.0, row["task_id"], best))
    pairs.sort(key=lambda p: -p[0])
    top = [[tid, num(ast), esc(str(b.get("id", "-"))), num(b.get("distance"))]
           for ast, tid, b in pairs[:10] if b]  # fmt: skip
    if top:
        s.add(
            "<h3>The closest problem / exercise pairs</h3>",
            table(["problem", "AST match", "nearest record", "embedding distance"], top),
        )
    s.summary = out


def _table3(run: Run, s: Section, results: list[Path]) -> dict:
    """HumanEval solved, split by similarity to the exercises (the paper's Table 3)."""
    from phi1.data.decontam.table import similarity_table

    found = similarity_table(str(run.dir("decontam")), [str(p) for p in results])
    # one column per evaluated model (results files are all named results.jsonl)
    cols = [p.parent.name for p in results]
    for splits in found["taus"].values():
        for row in splits.values():
            row["solved"] = dict(zip(cols, row["solved"].values(), strict=True))
    body = []
    for tau, splits in found["taus"].items():
        for split, row in splits.items():
            solved = [pct(row["solved"].get(c)) for c in cols]
            body.append([tau if split == "similar" else "", split, str(row["problems"]),
                         *solved])  # fmt: skip
    s.add(
        "<h3>HumanEval solved, split by similarity (the paper's Table 3)</h3>",
        table(["tau", "split", "problems", *cols], body),
    )
    return found["taus"]


@section("graded", "Graded understanding", needs="graded")
def graded(run: Run, s: Section) -> None:
    out: dict[str, Any] = {}
    grade_files = {p.parent.name: p for p in run.outputs("graded", "grades")}
    for folder, summ in run.summaries("graded").items():
        if not summ:
            continue
        judge = folder.removeprefix("judge-")
        keys = ("score", "judged_right", "pass@1", "correlation", "graded", "unparsed",
                "problems")  # fmt: skip
        out[judge] = {k: summ.get(k) for k in keys}
        s.add(f"<h3>Judge {esc(judge)}</h3>",
              table(["score (0-100)", "judged right (%)", "pass@1 (%)", "correlation", "graded",
                     "unparsed"],
                    [[num(summ.get("score")), num(summ.get("judged_right")),
                      num(summ.get("pass@1")),
                      num(summ.get("correlation")),
                      f"{summ.get('graded')}/{summ.get('problems')}",
                      str(summ.get("unparsed"))]]))  # fmt: skip
        cal = summ.get("calibration")
        if cal:
            out[judge]["calibration"] = {
                k: cal.get(k)
                for k in ("roc_auc", "mean_grade", "correlation", "cut", "below_floor")
            }
            means = ", ".join(f"{k} {num(v)}" for k, v in (cal.get("mean_grade") or {}).items())
            right_at = "-" if cal.get("cut") is None else ">= " + num(cal["cut"])  # older runs
            s.add(table(["calibration", "ROC-AUC reference vs wrong", "right vs wrong",
                         "passed vs failed", "mean grade", "correlation", "right at"],
                        [["below the floor " + num(cal.get("floor")) if cal.get("below_floor")
                          else "ok", num(cal.get("roc_auc")),
                          num(cal.get("roc_auc_right_vs_wrong")),
                          num(cal.get("roc_auc_passed_vs_failed")), means,
                          num(cal.get("correlation")), right_at]]))  # fmt: skip
        by = summ.get("by_difficulty") or {}
        if by:
            s.add(table(["difficulty", "problems", "score", "pass@1 (%)"],
                        [[k, str(v.get("problems")), num(v.get("score")),
                          num(v.get("pass@1"))] for k, v in by.items()]))  # fmt: skip
        graded_rows = list(rows([grade_files[folder]])) if folder in grade_files else []
        if graded_rows:
            s.add(grades(graded_rows))
    s.summary = out
