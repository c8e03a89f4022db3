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
report only reads; a section whose files cannot be read says what failed and the rest is
still written (``report.json`` lists those errors).
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.io import atomic_write_json, atomic_write_text, read_json

MAX_SCORES = 200_000  # classifier scores read for the histogram (a sample at scale)
PALETTE = ["#3465a4", "#f57900", "#4e9a06", "#cc0000", "#75507b", "#c4a000", "#555753"]
KEEP_COLOR, DROP_COLORS = "#4e9a06", ["#cc0000", "#f57900", "#c4a000", "#75507b", "#555753"]
LABEL_COLORS = {"high": KEEP_COLOR, "low": "#cc0000", "unparseable": "#888a85"}


def report(directory: str, out: str | None = None) -> None:
    """Write the HTML report and summary JSON of a ``phi1 run`` folder.

    Args:
        directory: The run folder (``phi1 run --out DIR``).
        out: Where the HTML goes (default: DIR/report.html); the JSON goes beside it.
    """
    path = build_report(directory, out)
    print(f"report: {path}\nsummary: {path.with_suffix('.json')}")


def build_report(directory: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.html`` and ``report.json``; return the HTML's path."""
    root = Path(directory)
    if not root.is_dir():
        raise Phi1Error(f"{root}: no such run folder")
    run = _Run.load(root)
    sections = [build(run) for build in SECTIONS]
    target = Path(out) if out else root / "report.html"
    summary = {
        "folder": str(root.resolve()),
        "recipe": run.state.get("recipe"),
        "status": run.state.get("status"),
        "stages": {name: run.status(name) for name in run.stage_names},
        **{s.key: s.summary for s in sections},
        "errors": [f"{s.title}: {s.error}" for s in sections if s.error],
    }
    atomic_write_text(target, _page(run, sections))
    atomic_write_json(target.with_suffix(".json"), summary)
    return target


# --- reading a run ---------------------------------------------------------------------------


@dataclass
class _Run:
    root: Path
    state: dict[str, Any]
    manifests: dict[str, dict | None]
    stage_names: list[str]

    @classmethod
    def load(cls, root: Path) -> _Run:
        from phi1.pipeline import STAGE_NAMES, STATE, stage_manifests

        state = read_json(root / STATE) if (root / STATE).exists() else {}
        manifests = stage_manifests(root)
        if not state and not any(manifests.values()):
            raise Phi1Error(f"{root}: not a phi1 run folder (no {STATE}, no stage manifests)")
        return cls(root, state, manifests, list(STAGE_NAMES))

    def status(self, name: str) -> dict[str, Any]:
        """The stage's outcome: done (this run or an earlier one), skipped (why), failed..."""
        entry = dict(self.state.get("stages", {}).get(name) or {})
        manifest = self.manifests.get(name)
        if manifest is not None and entry.get("status") != "skipped":
            last = (manifest.get("attempts") or [{}])[-1]
            entry = {
                "status": manifest.get("status"),
                "seconds": manifest.get("seconds"),
                "ended": last.get("ended"),
                "error": last.get("error"),
                "counts": manifest.get("counts", {}),
            }
        elif not entry:
            entry = {"status": "not run", "reason": "no record of it in this folder"}
        return entry

    def ran(self, name: str) -> bool:
        return self.status(name).get("status") == "done"

    def why_not(self, name: str) -> str:
        s = self.status(name)
        reason = s.get("reason") or s.get("error")
        return f"{name} did not run" + (f": {reason}" if reason else f" ({s.get('status')})")

    def dir(self, name: str) -> Path:
        return self.root / name


def _jsonl(paths: list[Path], limit: int | None = None) -> Iterator[dict]:
    """Rows of JSONL files, tolerating a torn last line (a run may still be writing)."""
    n = 0
    for path in paths:
        with path.open("r", encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                yield row
                n += 1
                if limit is not None and n >= limit:
                    return


def _json(path: Path) -> Any:
    return read_json(path) if path.exists() else None


# --- sections --------------------------------------------------------------------------------


@dataclass
class _Section:
    key: str
    title: str
    body: list[str] = field(default_factory=list)
    summary: Any = None
    error: str | None = None

    def add(self, *parts: str) -> None:
        self.body.extend(parts)


def _section(key: str, title: str) -> Callable:
    """Decorate a section builder: a failure becomes a note in its section, not a crash."""

    def wrap(func: Callable[[_Run, _Section], None]) -> Callable[[_Run], _Section]:
        def build(run: _Run) -> _Section:
            s = _Section(key, title)
            try:
                func(run, s)
            except Exception as e:  # the rest of the report is still worth writing
                s.error = f"{type(e).__name__}: {e}"
                s.add(f'<p class="error">This section could not be drawn: {_e(s.error)}</p>')
            return s

        return build

    return wrap


@_section("run", "The run")
def _stages(run: _Run, s: _Section) -> None:
    rows = []
    total = 0.0
    for name in run.stage_names:
        st = run.status(name)
        status = st.get("status", "?")
        seconds = st.get("seconds")
        total += seconds or 0
        detail = st.get("reason") or st.get("error") or _headline(name, st.get("counts") or {})
        rows.append(
            [name, f'<span class="st-{_e(status.split()[0])}">{_e(status)}</span>',
             _duration(seconds), _e(detail)]
        )  # fmt: skip
    recipe = run.state.get("recipe", "?")
    s.add(
        f"<p>Recipe <code>{_e(recipe)}</code>, status <b>{_e(run.state.get('status', '?'))}</b>"
        f", {_duration(total)} of stage time. Each stage's folder holds its manifest "
        f"(<code>stage.json</code>) and log.</p>",
        _table(["stage", "status", "time", "counts"], rows, raw=True),
    )
    s.summary = {"seconds": round(total, 1)}


# The counts that say most about each stage ("*" stands for each dataset, model or judge).
HEADLINE = {
    "corpus": ["documents"],
    "annotate": ["annotated", "unparseable", "labels"],
    "classifier": ["n_train", "n_test", "label_counts"],
    "filter": ["documents", "kept", "dropped", "threshold"],
    "dedup": ["kept", "exact-duplicate", "near-duplicate"],
    "textbooks": ["asked", "kept", "rejected"],
    "exercises": ["asked", "kept", "rejected"],
    "decontam": ["records", "removed"],
    "pack": ["*.documents", "*.tokens"],
    "pretrain": ["steps", "loss", "val_loss"],
    "finetune": ["steps", "loss", "val_loss"],
    "humaneval": ["*.pass@k"],
    "graded": ["*.score", "*.pass@1"],
}


def _headline(stage: str, counts: dict) -> str:
    picked: dict[str, Any] = {}
    for key in HEADLINE.get(stage, []):
        if key.startswith("*."):
            for outer, inner in counts.items():
                if isinstance(inner, dict) and key[2:] in inner:
                    picked[f"{outer} {key[2:]}"] = inner[key[2:]]
        elif key in counts:
            picked[key] = counts[key]
    return _counts_line(picked) if picked else _counts_line(counts, limit=4)


@_section("corpus", "Corpus and annotation")
def _annotation(run: _Run, s: _Section) -> None:
    out: dict[str, Any] = {}
    corpus = _json(run.dir("corpus") / "corpus.json") if run.ran("corpus") else None
    if corpus:
        by = corpus.get("by_source", {})
        out["documents"] = corpus.get("documents")
        out["by_source"] = by
        s.add(f"<p>{corpus.get('documents', 0):,} documents collected from "
              f"{len(by)} source(s).</p>")  # fmt: skip
    else:
        s.add(_not_run(run.why_not("corpus")))
    if not run.ran("annotate"):
        s.add(_not_run(run.why_not("annotate")))
        s.summary = out
        return
    folder = run.dir("annotate")
    labels: dict[str, Counter] = defaultdict(Counter)
    scores: dict[str, list[float]] = defaultdict(list)
    for row in _jsonl(sorted(folder.glob("part-*.jsonl"))):
        source = (row.get("meta") or {}).get("source", "?")
        labels[source][row.get("label", "?")] += 1
        if isinstance(row.get("score"), (int, float)):
            scores[row.get("label", "?")].append(float(row["score"]))
    for row in _jsonl(sorted(folder.glob("rejects-*.jsonl"))):
        source = ((row.get("record") or {}).get("meta") or {}).get("source", "?")
        labels[source][row.get("reason", "rejected")] += 1
    totals = sum((c for c in labels.values()), Counter())
    out["labels"] = dict(totals)
    out["labels_by_source"] = {k: dict(v) for k, v in labels.items()}
    s.add(f"<p>The judge labelled {sum(totals.values()):,} documents: "
          f"{_counts_line(dict(totals))}.</p>")  # fmt: skip
    if labels:
        s.add(_stacked_barh(labels, "documents", "Judge's labels by source",
                            order=["high", "low"], colors=LABEL_COLORS))  # fmt: skip
    clf = _json(run.dir("classifier") / "classifier.json") if run.ran("classifier") else None
    cut = (clf or {}).get("label_score_cut")
    if scores:
        every = [v for values in scores.values() for v in values]
        bins = [x - 0.5 for x in range(12)] if all(v == int(v) for v in every) else 20
        s.add(_hist({k: scores[k] for k in sorted(scores)}, "judge's score (0-10)",
                    "Judge's scores by label", bins=bins, colors=LABEL_COLORS, vline=cut,
                    vlabel="classifier's label cut"))  # fmt: skip
    if cut is not None:
        out["label_rule"], out["label_score_cut"] = clf.get("label_rule"), cut
        s.add(f"<p>The classifier learns from the judge's scores rather than its labels "
              f"(<code>{_e(clf.get('label_rule'))}</code>): documents scoring at least "
              f"{_num(cut)} count as high.</p>")  # fmt: skip
    s.summary = out


@_section("classifier", "Quality classifier")
def _classifier(run: _Run, s: _Section) -> None:
    out: dict[str, Any] = {}
    meta = _json(run.dir("classifier") / "classifier.json") if run.ran("classifier") else None
    if meta:
        m = meta.get("metrics", {})
        flat = {k: v for k, v in m.items() if isinstance(v, (int, float))}
        out["metrics"] = flat
        out["label_counts"] = meta.get("label_counts")
        embedder = (meta.get("embedder") or {}).get("name", "?")
        labels = _counts_line(meta.get("label_counts") or {})
        s.add(
            f"<p>Random forest on {_e(embedder)} embeddings; {meta.get('n_train', '?')} "
            f"training and {meta.get('n_test', '?')} held-out documents (labels: {labels}).</p>"
        )
        if flat:
            s.add(_table(["held-out metric", "value"], [[k, _num(v)] for k, v in flat.items()]))
    else:
        s.add(_not_run(run.why_not("classifier")))
    if not run.ran("filter"):
        s.add(_not_run(run.why_not("filter")))
        s.summary = out
        return
    summary = _json(run.dir("filter") / "summary.json") or {}
    threshold = summary.get("threshold")
    by_source: dict[str, list[float]] = defaultdict(list)
    paths = sorted((run.dir("filter") / "scored").glob("*.jsonl"))
    for row in _jsonl(paths, limit=MAX_SCORES):
        q = (row.get("meta") or {}).get("quality") or {}
        if isinstance(q.get("score"), (int, float)):
            by_source[(row.get("meta") or {}).get("source", "?")].append(float(q["score"]))
    n = sum(len(v) for v in by_source.values())
    out.update(threshold=threshold, scored=summary.get("documents"), plotted=n)
    cap = f" (the first {n:,})" if n >= MAX_SCORES else ""
    s.add(f"<p>Classifier scores of the corpus{cap}; documents at or above the threshold "
          f"{_num(threshold)} are kept.</p>")  # fmt: skip
    if by_source:
        s.add(_hist(by_source, "classifier score (probability of 'high')",
                    "Classifier scores by source", bins=[i / 20 for i in range(21)],
                    vline=threshold))  # fmt: skip
    s.summary = out


def _kept_dropped(run: _Run) -> dict[str, dict[str, int]]:
    """Stage -> {"kept": n, reason: n, ...} for every stage that keeps and drops records."""
    rows: dict[str, dict[str, int]] = {}
    f = _json(run.dir("filter") / "summary.json") if run.ran("filter") else None
    if f:
        rows["filter"] = {"kept": f.get("kept", 0), **(f.get("dropped_reasons") or {})}
    d = _json(run.dir("dedup") / "summary.json") if run.ran("dedup") else None
    if d:
        dropped = d.get("dropped") or {}
        if not isinstance(dropped, dict):
            dropped = {k: v for k, v in d.items() if k.endswith("duplicate") and isinstance(v, int)}
        rows["dedup"] = {"kept": d.get("kept", 0), **dropped}
    for name in ("textbooks", "exercises"):
        t = _json(run.dir(name) / "summary.json") if run.ran(name) else None
        if t:
            rows[name] = {"kept": t.get("kept", 0), **(t.get("reasons") or {})}
    r = _json(run.dir("decontam") / "report.json") if run.ran("decontam") else None
    if r:
        tau = _prune_tau(run, r)
        rows[f"decontam (tau {tau})"] = {
            "kept": (r.get("kept") or {}).get(tau, 0),
            "similar to HumanEval": (r.get("removed") or {}).get(tau, 0),
        }
    return rows


def _prune_tau(run: _Run, report: dict) -> str:
    tau = ((run.state.get("config") or {}).get("pipeline") or {}).get("prune_tau", 0.9)
    taus = [str(t) for t in (report.get("settings") or {}).get("taus", [])]
    return str(tau) if str(tau) in taus or not taus else taus[0]


@_section("kept_dropped", "Kept and dropped, by reason")
def _kept_dropped_section(run: _Run, s: _Section) -> None:
    rows = _kept_dropped(run)
    s.summary = rows
    if not rows:
        s.add(_not_run("none of filter, dedup, textbooks, exercises, decontam ran"))
        return
    s.add(_stacked_barh({k: Counter(v) for k, v in rows.items()}, "records",
                        "Kept and dropped by stage and reason", order=["kept"],
                        colors={"kept": KEEP_COLOR}))  # fmt: skip
    table = []
    for stage, counts in rows.items():
        total = sum(counts.values())
        reasons = {k: v for k, v in counts.items() if k != "kept" and v}
        table.append([stage, f"{total:,}", f"{counts.get('kept', 0):,}",
                      _counts_line(reasons) or "-"])  # fmt: skip
    s.add(_table(["stage", "in", "kept", "dropped by reason"], table))
    missing = [n for n in ("filter", "dedup", "textbooks", "exercises", "decontam")
               if not run.ran(n)]  # fmt: skip
    for name in missing:
        s.add(_not_run(run.why_not(name)))


@_section("coverage", "Synthetic data coverage")
def _coverage(run: _Run, s: _Section) -> None:
    out: dict[str, Any] = {}
    if run.ran("textbooks"):
        meta = [r.get("meta") or {} for r in _jsonl([run.dir("textbooks") / "textbooks.jsonl"])]
        topics = Counter(str(m.get("topic", "?")) for m in meta)
        known = _topic_leaves()
        out["textbooks"] = {
            "sections": len(meta),
            "topics": len(topics),
            "topics_known": known,
            "audiences": dict(Counter(str(m.get("audience", "?")) for m in meta)),
            "styles": dict(Counter(str(m.get("style", "?")) for m in meta)),
        }
        of = f" of the {known:,} in the topic tree" if known else ""
        s.add(f"<p>Textbooks: {len(meta):,} sections cover {len(topics):,} topics{of}.</p>")
        if topics:
            s.add(_barh(dict(topics.most_common(25)), "sections", "Textbook sections per topic "
                        "(the 25 most frequent)"))  # fmt: skip
            s.add(
                _table(["audience", "sections"], out["textbooks"]["audiences"].items()),
                _table(["style", "sections"], out["textbooks"]["styles"].items()),
            )
    else:
        s.add(_not_run(run.why_not("textbooks")))
    if run.ran("exercises"):
        meta = [r.get("meta") or {} for r in _jsonl([run.dir("exercises") / "exercises.jsonl"])]
        names = [str(m.get("function") or m.get("name") or m.get("function_name") or "?")
                 for m in meta]  # fmt: skip
        verbs = Counter(n.split("_")[0] for n in names)
        topics = Counter(str(m.get("topic", "?")) for m in meta)
        out["exercises"] = {
            "exercises": len(meta),
            "distinct_names": len(set(names)),
            "topics": len(topics),
            "difficulties": dict(Counter(str(m.get("difficulty", "?")) for m in meta)),
            "name_first_words": dict(verbs.most_common(20)),
        }
        s.add(f"<p>Exercises: {len(meta):,} exercises with {len(set(names)):,} distinct "
              f"function names over {len(topics):,} topics.</p>")  # fmt: skip
        if names:
            s.add(
                _barh(
                    dict(verbs.most_common(20)),
                    "exercises",
                    "First word of the function names (the 20 most frequent)",
                ),
                _table(["difficulty", "exercises"], out["exercises"]["difficulties"].items()),
            )
    else:
        s.add(_not_run(run.why_not("exercises")))
    s.summary = out


def _topic_leaves() -> int | None:
    try:
        from phi1.synth.topics import leaves

        return len(list(leaves()))
    except Exception:  # another topic tree, or none: the count is only context
        return None


@_section("tokens", "Tokens per dataset and source")
def _tokens(run: _Run, s: _Section) -> None:
    if not run.ran("pack"):
        s.add(_not_run(run.why_not("pack")))
        return
    data: dict[str, Counter] = {}
    rows = []
    for index_path in sorted(run.dir("pack").glob("*/index.json")):
        index = read_json(index_path)
        name = index_path.parent.name
        # records without meta.source are counted under their file's path: name them by
        # their dataset instead (a path makes an unreadable legend)
        data[name] = Counter()
        for k, v in index.get("sources", {}).items():
            data[name][name if "/" in k else k] += v.get("tokens", 0)
        rows.append([name, f"{index.get('documents', 0):,}", f"{index.get('tokens', 0):,}",
                     _counts_line(dict(data[name].most_common(6)))])  # fmt: skip
    s.summary = {k: dict(v) for k, v in data.items()}
    s.add(
        _stacked_barh(data, "tokens", "Tokens per dataset, by source"),
        _table(["dataset", "documents", "tokens", "largest sources"], rows),
    )


def _metrics(path: Path) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    train, val = [], []
    for row in _jsonl([path]) if path.exists() else []:
        step = row.get("step")
        if isinstance(row.get("loss"), (int, float)):
            train.append((step, row["loss"]))
        if isinstance(row.get("val_loss"), (int, float)):
            val.append((step, row["val_loss"]))
    return train, val


@_section("training", "Loss curves")
def _training(run: _Run, s: _Section) -> None:
    curves = {}
    for name in ("pretrain", "finetune"):
        if run.ran(name):
            curves[name] = _metrics(run.dir(name) / "metrics.jsonl")
        else:
            s.add(_not_run(run.why_not(name)))
    s.summary = {
        k: {"steps": t[-1][0] if t else 0, "loss": t[-1][1] if t else None,
            "val_loss": v[-1][1] if v else None}
        for k, (t, v) in curves.items()
    }  # fmt: skip
    if not curves:
        return
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(4.6 * len(curves), 3.2), squeeze=False)
    for ax, (name, (train, val)) in zip(axes[0], curves.items(), strict=True):
        if train:
            ax.plot(*zip(*train, strict=True), color=PALETTE[0], lw=1.2, label="train")
        if val:
            ax.plot(*zip(*val, strict=True), "o-", color=PALETTE[1], ms=3, label="validation")
        ax.set(title=name, xlabel="step", ylabel="loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    s.add(_figure(fig, "Training and validation loss"))


@_section("humaneval", "HumanEval")
def _humaneval(run: _Run, s: _Section) -> None:
    if not run.ran("humaneval"):
        s.add(_not_run(run.why_not("humaneval")))
        return
    out: dict[str, Any] = {}
    per_model: dict[str, dict[str, dict]] = {}
    rows = []
    for path in sorted(run.dir("humaneval").glob("*/results.json")):
        r = read_json(path)
        model = path.parent.name
        out[model] = {"pass@k": r.get("pass@k"), "problems": r.get("problems_attempted"),
                      "status_counts": r.get("status_counts")}  # fmt: skip
        per_model[model] = r.get("per_problem") or {}
        passk = r.get("pass@k") or {}
        rows.append([model, str(r.get("problems_attempted", "?")), str(r.get("n_samples", "?")),
                     *[f"{100 * v:.1f}%" for v in passk.values()],
                     _counts_line(r.get("status_counts") or {})])  # fmt: skip
        head = list(passk)
    s.summary = out
    if not rows:
        s.add("<p>No results.json under humaneval/.</p>")
        return
    s.add(_table(["model", "problems", "samples", *head, "sample outcomes"], rows))
    for model, per in per_model.items():
        cells = []
        for task_id, p in per.items():
            c, n = p.get("c", 0), p.get("n", 0)
            frac = c / n if n else 0.0
            cls = "pass" if frac == 1 else "some" if frac > 0 else "fail"
            cells.append(f'<span class="cell {cls}" title="{_e(task_id)}: {c}/{n} passed">'
                         f"{_e(task_id.rsplit('/', 1)[-1])}</span>")  # fmt: skip
        s.add(
            f"<h3>{_e(model)}: every problem</h3>",
            '<div class="grid">' + "".join(cells) + "</div>",
            '<p class="legend"><span class="cell pass">n</span> all samples pass '
            '<span class="cell some">n</span> some <span class="cell fail">n</span> none</p>',
        )


@_section("contamination", "Contamination")
def _contamination(run: _Run, s: _Section) -> None:
    if not run.ran("decontam"):
        s.add(_not_run(run.why_not("decontam")))
        return
    folder = run.dir("decontam")
    r = read_json(folder / "report.json")
    taus = [str(t) for t in (r.get("settings") or {}).get("taus", [])]
    rows = [[t, f"{r['records']:,}", f"{(r.get('removed') or {}).get(t, 0):,}",
             f"{(r.get('kept') or {}).get(t, 0):,}",
             f"{(r.get('similar_problems') or {}).get(t, 0)} of {r['benchmark']['problems']}"]
            for t in taus]  # fmt: skip
    s.add(f"<p>The exercises against {_e(r['benchmark'].get('spec', '?'))}: n-gram overlap, "
          f"embedding distance ({_e((r.get('embedder') or {}).get('name', '?'))}) and AST "
          f"match rate, as in the paper's section 5. The exercises pruned at tau "
          f"{_prune_tau(run, r)} are what finetuning used.</p>",
          _table(["tau", "records", "removed", "kept", "similar problems"], rows))  # fmt: skip
    out: dict[str, Any] = {"removed": r.get("removed"), "similar_problems":
                           r.get("similar_problems"), "records": r.get("records")}  # fmt: skip
    results = sorted(run.dir("humaneval").glob("*/results.jsonl")) if run.ran("humaneval") else []
    if results and taus:
        from phi1.data.decontam.table import similarity_table

        with contextlib.redirect_stdout(io.StringIO()):
            table = similarity_table(str(folder), [str(p) for p in results])
        # one column per evaluated model (results files are all named results.jsonl)
        cols = [p.parent.name for p in results]
        for splits in table["taus"].values():
            for row in splits.values():
                row["solved"] = dict(zip(cols, row["solved"].values(), strict=True))
        trows = []
        for tau, splits in table["taus"].items():
            for split, row in splits.items():
                solved = [_pct(row["solved"].get(c)) for c in cols]
                trows.append([tau if split == "similar" else "", split, str(row["problems"]),
                              *solved])  # fmt: skip
        s.add(
            "<h3>HumanEval solved, split by similarity (the paper's Table 3)</h3>",
            _table(["tau", "split", "problems", *cols], trows),
        )
        out["table3"] = table["taus"]
    pairs = []
    for row in _jsonl([folder / "neighbours.jsonl"]):
        best = max(row.get("nearest") or [{}], key=lambda n: n.get("ast") or -1)
        pairs.append((row.get("max_ast") or 0.0, row["task_id"], best))
    pairs.sort(key=lambda p: -p[0])
    top = [[tid, _num(ast), _e(str(b.get("id", "-"))), _num(b.get("distance"))]
           for ast, tid, b in pairs[:10] if b]  # fmt: skip
    if top:
        s.add(
            "<h3>The closest problem / exercise pairs</h3>",
            _table(["problem", "AST match", "nearest record", "embedding distance"], top),
        )
    s.summary = out


@_section("graded", "Graded understanding")
def _graded(run: _Run, s: _Section) -> None:
    if not run.ran("graded"):
        s.add(_not_run(run.why_not("graded")))
        return
    out: dict[str, Any] = {}
    for judge_dir in sorted(run.dir("graded").glob("judge-*")):
        summ = _json(judge_dir / "summary.json")
        if not summ:
            continue
        judge = judge_dir.name.removeprefix("judge-")
        keys = ("score", "pass@1", "correlation", "graded", "unparsed", "problems")
        out[judge] = {k: summ.get(k) for k in keys}
        s.add(f"<h3>Judge {_e(judge)}</h3>",
              _table(["score (0-100)", "pass@1 (%)", "correlation", "graded", "unparsed"],
                     [[_num(summ.get("score")), _num(summ.get("pass@1")),
                       _num(summ.get("correlation")),
                       f"{summ.get('graded')}/{summ.get('problems')}",
                       str(summ.get("unparsed"))]]))  # fmt: skip
        by = summ.get("by_difficulty") or {}
        if by:
            s.add(_table(["difficulty", "problems", "score", "pass@1 (%)"],
                         [[k, str(v.get("problems")), _num(v.get("score")),
                           _num(v.get("pass@1"))] for k, v in by.items()]))  # fmt: skip
        grades = list(_jsonl([judge_dir / "grades.jsonl"])) if (
            judge_dir / "grades.jsonl").exists() else []  # fmt: skip
        if grades:
            s.add(_grade_plot(grades))
    s.summary = out


def _grade_plot(grades: list[dict]) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4.0, 0.18 * len(grades) + 1.5), 2.8))
    xs = range(len(grades))
    values = [g["grade"] if isinstance(g.get("grade"), (int, float)) else 0 for g in grades]
    colors = [KEEP_COLOR if g.get("passed") else DROP_COLORS[0] for g in grades]
    ax.bar(xs, values, color=colors)
    for x, g in zip(xs, grades, strict=True):
        if not isinstance(g.get("grade"), (int, float)):
            ax.text(x, 0.2, "?", ha="center", fontsize=7, color="#555")
    ax.set(ylim=(0, 10.5), ylabel="grade (0-10)", xlabel="problem (green: tests pass; "
           "?: no grade)")  # fmt: skip
    ax.set_xticks([])
    return _figure(fig, "The judge's grade per problem")


SECTIONS = [
    _stages,
    _annotation,
    _classifier,
    _kept_dropped_section,
    _coverage,
    _tokens,
    _training,
    _humaneval,
    _contamination,
    _graded,
]


# --- plots -----------------------------------------------------------------------------------


def _figure(fig: Any, alt: str) -> str:
    """The figure as an inline SVG ``data:`` image (one file, no external resource)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f'<figure><img class="plot" alt="{_e(alt)}" src="data:image/svg+xml;base64,{data}">'
            f"<figcaption>{_e(alt)}</figcaption></figure>")  # fmt: skip


def _setup_matplotlib() -> None:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update({"svg.hashsalt": "phi1", "font.size": 9})


def _barh(values: dict[str, float], xlabel: str, title: str) -> str:
    _setup_matplotlib()
    import matplotlib.pyplot as plt

    labels = list(values)[::-1]
    fig, ax = plt.subplots(figsize=(6.5, 0.9 + 0.22 * len(labels)))
    ax.barh([_short(k) for k in labels], [values[k] for k in labels], color=PALETTE[0])
    ax.set(xlabel=xlabel)
    ax.grid(axis="x", alpha=0.3)
    return _figure(fig, title)


def _stacked_barh(
    data: dict[str, Counter],
    xlabel: str,
    title: str,
    *,
    order: list[str] | None = None,
    colors: dict[str, str] | None = None,
) -> str:
    """One bar per key of ``data``, split by the keys of its counter."""
    _setup_matplotlib()
    import matplotlib.pyplot as plt

    parts = list(dict.fromkeys([*(order or []), *(k for c in data.values() for k in c)]))
    parts = [p for p in parts if any(c.get(p) for c in data.values())]
    rows = list(data)[::-1]
    fig, ax = plt.subplots(figsize=(6.5, 1.3 + 0.32 * len(rows)))
    left = [0.0] * len(rows)
    others = iter(DROP_COLORS + PALETTE)
    for part in parts:
        widths = [float(data[r].get(part, 0)) for r in rows]
        color = (colors or {}).get(part) or next(others, None)
        ax.barh([_short(r) for r in rows], widths, left=left, label=_short(part), color=color)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.set(xlabel=xlabel)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", ncols=min(3, max(1, len(parts))))
    return _figure(fig, title)


def _hist(
    groups: dict[str, list[float]],
    xlabel: str,
    title: str,
    *,
    bins: list[float] | int,
    vline: float | None = None,
    vlabel: str = "threshold",
    colors: dict[str, str] | None = None,
) -> str:
    _setup_matplotlib()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.0))
    names = list(groups)
    palette = iter(PALETTE * (1 + len(names) // len(PALETTE)))
    color = [(colors or {}).get(k) or next(palette) for k in names]
    ax.hist([groups[k] for k in names], bins=bins, stacked=True, label=[_short(k) for k in names],
            color=color)  # fmt: skip
    if vline is not None and math.isfinite(vline):
        ax.axvline(vline, color="#000", ls="--", lw=1.2, label=f"{vlabel} {vline:.3g}")
    ax.set(xlabel=xlabel, ylabel="documents")
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    return _figure(fig, title)


# --- HTML ------------------------------------------------------------------------------------


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _num(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _pct(v: Any) -> str:
    return "-" if v is None else f"{v:.1f}%"


def _duration(seconds: float | None) -> str:
    if not seconds:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _counts_line(counts: dict, limit: int = 8) -> str:
    """``key n, ...`` for the numbers in ``counts`` (one nested level as ``outer.key``)."""
    parts = []
    for k, v in counts.items():
        if isinstance(v, dict):
            inner = _counts_line(v, limit)
            parts.extend(f"{k}.{p}" for p in inner.split(", ") if p)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            parts.append(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v:.4g}")
    return ", ".join(parts[:limit])


def _not_run(text: str) -> str:
    return f'<p class="not-run">{_e(text)}.</p>'


def _table(head: list[str], rows: Any, *, raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw`` (the caller escaped them)."""
    cell = (lambda c: str(c)) if raw else _e
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return (f"<table><thead><tr>{''.join(f'<th>{_e(h)}</th>' for h in head)}</tr></thead>"
            f"<tbody>{body}</tbody></table>")  # fmt: skip


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


def _page(run: _Run, sections: list[_Section]) -> str:
    nav = " ".join(f'<a href="#{s.key}">{_e(s.title)}</a>' for s in sections)
    body = "\n".join(
        f'<section id="{s.key}"><h2>{_e(s.title)}</h2>\n' + "\n".join(s.body) + "</section>"
        for s in sections
    )
    title = f"phi1 run: {run.root.name}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1><p>{_e(run.root.resolve())}</p><nav>{nav}</nav>\n"
        f"{body}\n</body></html>\n"
    )
