"""The report's sections about the data, in pipeline order: the run, corpus and annotation,
the quality classifier, kept and dropped by reason, synthetic data coverage, tokens.

Each section builder reads the run (:class:`~phi1.report.run.Run`) and fills a
:class:`Section`; a builder that fails leaves a note in its own section, not a crash.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from phi1.report.markup import counts_line, duration, esc, not_run, num, table
from phi1.report.plots import KEEP_COLOR, LABEL_COLORS, barh, hist, stacked_barh
from phi1.report.run import Run, rows

MAX_SCORES = 200_000  # classifier scores read for the histogram (a sample at scale)


@dataclass
class Section:
    key: str
    title: str
    body: list[str] = field(default_factory=list)
    summary: Any = None
    error: str | None = None

    def add(self, *parts: str) -> None:
        self.body.extend(parts)


def section(key: str, title: str, *, needs: str | None = None) -> Callable:
    """Decorate a section builder: a failure becomes a note in its section, not a crash.
    With ``needs``, a section whose stage did not run is only a line saying why."""

    def wrap(func: Callable[[Run, Section], None]) -> Callable[[Run], Section]:
        def build(run: Run) -> Section:
            s = Section(key, title)
            try:
                if needs is None or run.ran(needs):
                    func(run, s)
                else:
                    s.add(not_run(run.why_not(needs)))
            except Exception as e:  # the rest of the report is still worth writing
                s.error = f"{type(e).__name__}: {e}"
                s.add(f'<p class="error">This section could not be drawn: {esc(s.error)}</p>')
            return s

        return build

    return wrap


def _part(run: Run, s: Section, stage: str, build: Callable[[Run, Section], dict]) -> dict:
    """``build(run, s)`` when ``stage`` ran (its part of the section's summary), else a line
    saying why it did not and ``{}``."""
    if run.ran(stage):
        return build(run, s)
    s.add(not_run(run.why_not(stage)))
    return {}


@section("run", "The run")
def stages(run: Run, s: Section) -> None:
    body = []
    total = 0.0
    for name in run.stage_names:
        st = run.status(name)
        status = st.get("status", "?")
        seconds = st.get("seconds")
        total += seconds or 0
        detail = st.get("reason") or st.get("error") or _headline(name, st.get("counts") or {})
        body.append(
            [name, f'<span class="st-{esc(status.split()[0])}">{esc(status)}</span>',
             duration(seconds), esc(detail)]
        )  # fmt: skip
    recipe = run.state.get("recipe", "?")
    s.add(
        f"<p>Recipe <code>{esc(recipe)}</code>, status <b>{esc(run.state.get('status', '?'))}"
        f"</b>, {duration(total)} of stage time. Each stage's folder holds its manifest "
        f"(<code>stage.json</code>) and log.</p>",
        table(["stage", "status", "time", "counts"], body, raw=True),
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
    return counts_line(picked) if picked else counts_line(counts, limit=4)


@section("corpus", "Corpus and annotation")
def annotation(run: Run, s: Section) -> None:
    s.summary = {**_part(run, s, "corpus", _corpus), **_part(run, s, "annotate", _annotations)}


def _corpus(run: Run, s: Section) -> dict[str, Any]:
    corpus = run.summary("corpus") or {}
    by = corpus.get("by_source", {})
    s.add(f"<p>{corpus.get('documents', 0):,} documents collected from "
          f"{len(by)} source(s).</p>")  # fmt: skip
    return {"documents": corpus.get("documents"), "by_source": by}


def _annotations(run: Run, s: Section) -> dict[str, Any]:
    out: dict[str, Any] = {}
    labels, scores = _labels(run)
    totals = sum((c for c in labels.values()), Counter())
    out["labels"] = dict(totals)
    out["labels_by_source"] = {k: dict(v) for k, v in labels.items()}
    s.add(f"<p>The judge labelled {sum(totals.values()):,} documents: "
          f"{counts_line(dict(totals))}.</p>")  # fmt: skip
    if labels:
        s.add(stacked_barh(labels, "documents", "Judge's labels by source",
                           order=["high", "low"], colors=LABEL_COLORS))  # fmt: skip
    clf = run.summary("classifier")
    cut = (clf or {}).get("label_score_cut")
    if scores:
        every = [v for values in scores.values() for v in values]
        bins = [x - 0.5 for x in range(12)] if all(v == int(v) for v in every) else 20
        s.add(hist({k: scores[k] for k in sorted(scores)}, "judge's score (0-10)",
                   "Judge's scores by label", bins=bins, colors=LABEL_COLORS, vline=cut,
                   vlabel="classifier's label cut"))  # fmt: skip
    if cut is not None:
        out["label_rule"], out["label_score_cut"] = clf.get("label_rule"), cut
        s.add(f"<p>The classifier learns from the judge's scores rather than its labels "
              f"(<code>{esc(clf.get('label_rule'))}</code>): documents scoring at least "
              f"{num(cut)} count as high.</p>")  # fmt: skip
    return out


def _labels(run: Run) -> tuple[dict[str, Counter], dict[str, list[float]]]:
    """The judge's labels per source (rejected calls by reason), and its scores per label."""
    labels: dict[str, Counter] = defaultdict(Counter)
    scores: dict[str, list[float]] = defaultdict(list)
    for row in rows(run.outputs("annotate", "labelled")):
        source = (row.get("meta") or {}).get("source", "?")
        labels[source][row.get("label", "?")] += 1
        if isinstance(row.get("score"), (int, float)):
            scores[row.get("label", "?")].append(float(row["score"]))
    for row in rows(run.outputs("annotate", "rejects")):
        source = ((row.get("record") or {}).get("meta") or {}).get("source", "?")
        labels[source][row.get("reason", "rejected")] += 1
    return labels, scores


@section("classifier", "Quality classifier")
def classifier(run: Run, s: Section) -> None:
    s.summary = {**_part(run, s, "classifier", _held_out), **_part(run, s, "filter", _scores)}


def _held_out(run: Run, s: Section) -> dict[str, Any]:
    meta = run.summary("classifier") or {}
    flat = {k: v for k, v in meta.get("metrics", {}).items() if isinstance(v, (int, float))}
    embedder = (meta.get("embedder") or {}).get("name", "?")
    labels = counts_line(meta.get("label_counts") or {})
    model = {"logistic": "Logistic regression", "boosted": "Gradient boosting"}.get(
        (meta.get("settings") or {}).get("model"), "Random forest"
    )
    s.add(
        f"<p>{model} on {esc(embedder)} embeddings; {meta.get('n_train', '?')} "
        f"training and {meta.get('n_test', '?')} held-out documents (labels: {labels}).</p>"
    )
    if flat:
        s.add(table(["held-out metric", "value"], [[k, num(v)] for k, v in flat.items()]))
    return {"metrics": flat, "label_counts": meta.get("label_counts")}


def _scores(run: Run, s: Section) -> dict[str, Any]:
    """The classifier's scores of the corpus by source, with the filter's threshold."""
    summary = run.summary("filter") or {}
    threshold = summary.get("threshold")
    by_source: dict[str, list[float]] = defaultdict(list)
    for row in rows(run.outputs("filter", "scored"), limit=MAX_SCORES):
        q = (row.get("meta") or {}).get("quality") or {}
        if isinstance(q.get("score"), (int, float)):
            by_source[(row.get("meta") or {}).get("source", "?")].append(float(q["score"]))
    n = sum(len(v) for v in by_source.values())
    cap = f" (the first {n:,})" if n >= MAX_SCORES else ""
    kept = {"bottom": f"documents at or below the threshold {num(threshold)} are kept",
            "random": f"a seeded random {num(summary.get('fraction'))} of the documents is "
                      "kept, whatever the score"}.get(summary.get("rule"),
            f"documents at or above the threshold {num(threshold)} are kept")  # fmt: skip
    s.add(f"<p>Classifier scores of the corpus{cap}; {esc(kept)}.</p>")
    if by_source:
        s.add(hist(by_source, "classifier score (probability of 'high')",
                   "Classifier scores by source", bins=[i / 20 for i in range(21)],
                   vline=threshold))  # fmt: skip
    return {"threshold": threshold, "scored": summary.get("documents"), "plotted": n}


def _kept_dropped(run: Run) -> dict[str, dict[str, int]]:
    """Stage -> {"kept": n, reason: n, ...} for every stage that keeps and drops records."""
    out: dict[str, dict[str, int]] = {}
    f = run.summary("filter")
    if f:
        out["filter"] = {"kept": f.get("kept", 0), **(f.get("dropped_reasons") or {})}
    d = run.summary("dedup")
    if d:
        dropped = d.get("dropped") or {}
        if not isinstance(dropped, dict):
            dropped = {k: v for k, v in d.items() if k.endswith("duplicate") and isinstance(v, int)}
        out["dedup"] = {"kept": d.get("kept", 0), **dropped}
    for name in ("textbooks", "exercises"):
        t = run.summary(name)
        if t:
            out[name] = {"kept": t.get("kept", 0), **(t.get("reasons") or {})}
    r = run.summary("decontam")
    if r:
        tau = prune_tau(run, r)
        out[f"decontam (tau {tau})"] = {
            "kept": (r.get("kept") or {}).get(tau, 0),
            "similar to HumanEval": (r.get("removed") or {}).get(tau, 0),
        }
    return out


def prune_tau(run: Run, report: dict) -> str:
    """The tau whose pruned exercises were packed (``pipeline.prune_tau``)."""
    tau = ((run.state.get("config") or {}).get("pipeline") or {}).get("prune_tau", 0.9)
    taus = [str(t) for t in (report.get("settings") or {}).get("taus", [])]
    return str(tau) if str(tau) in taus or not taus else taus[0]


@section("kept_dropped", "Kept and dropped, by reason")
def kept_dropped(run: Run, s: Section) -> None:
    stages_ = _kept_dropped(run)
    s.summary = stages_
    if not stages_:
        s.add(not_run("none of filter, dedup, textbooks, exercises, decontam ran"))
        return
    s.add(stacked_barh({k: Counter(v) for k, v in stages_.items()}, "records",
                       "Kept and dropped by stage and reason", order=["kept"],
                       colors={"kept": KEEP_COLOR}))  # fmt: skip
    body = []
    for stage, counts in stages_.items():
        total = sum(counts.values())
        reasons = {k: v for k, v in counts.items() if k != "kept" and v}
        body.append([stage, f"{total:,}", f"{counts.get('kept', 0):,}",
                     counts_line(reasons) or "-"])  # fmt: skip
    s.add(table(["stage", "in", "kept", "dropped by reason"], body))
    missing = [n for n in ("filter", "dedup", "textbooks", "exercises", "decontam")
               if not run.ran(n)]  # fmt: skip
    for name in missing:
        s.add(not_run(run.why_not(name)))


@section("coverage", "Synthetic data coverage")
def coverage(run: Run, s: Section) -> None:
    parts = {name: _part(run, s, name, build) for name, build in
             (("textbooks", _textbooks), ("exercises", _exercises))}  # fmt: skip
    s.summary = {name: part for name, part in parts.items() if part}


def _textbooks(run: Run, s: Section) -> dict[str, Any]:
    meta = [r.get("meta") or {} for r in rows(run.outputs("textbooks", "records"))]
    topics = Counter(str(m.get("topic", "?")) for m in meta)
    known = _topic_leaves()
    out = {
        "sections": len(meta),
        "topics": len(topics),
        "topics_known": known,
        "audiences": dict(Counter(str(m.get("audience", "?")) for m in meta)),
        "styles": dict(Counter(str(m.get("style", "?")) for m in meta)),
    }
    of = f" of the {known:,} in the topic tree" if known else ""
    s.add(f"<p>Textbooks: {len(meta):,} sections cover {len(topics):,} topics{of}.</p>")
    if topics:
        s.add(barh(dict(topics.most_common(25)), "sections", "Textbook sections per topic "
                   "(the 25 most frequent)"))  # fmt: skip
        s.add(
            table(["audience", "sections"], out["audiences"].items()),
            table(["style", "sections"], out["styles"].items()),
        )
    return out


def _exercises(run: Run, s: Section) -> dict[str, Any]:
    meta = [r.get("meta") or {} for r in rows(run.outputs("exercises", "records"))]
    names = [str(m.get("function") or m.get("name") or m.get("function_name") or "?")
             for m in meta]  # fmt: skip
    verbs = Counter(n.split("_")[0] for n in names)
    topics = Counter(str(m.get("topic", "?")) for m in meta)
    out = {
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
            barh(
                dict(verbs.most_common(20)),
                "exercises",
                "First word of the function names (the 20 most frequent)",
            ),
            table(["difficulty", "exercises"], out["difficulties"].items()),
        )
    return out


def _topic_leaves() -> int | None:
    try:
        from phi1.synth.topics import leaves

        return len(list(leaves()))
    except Exception:  # another topic tree, or none: the count is only context
        return None


@section("tokens", "Tokens per dataset and source", needs="pack")
def tokens(run: Run, s: Section) -> None:
    data: dict[str, Counter] = {}
    body = []
    for name, index in run.summaries("pack").items():
        # records without meta.source are counted under their file's path: name them by
        # their dataset instead (a path makes an unreadable legend)
        data[name] = Counter()
        for k, v in index.get("sources", {}).items():
            data[name][name if "/" in k else k] += v.get("tokens", 0)
        body.append([name, f"{index.get('documents', 0):,}", f"{index.get('tokens', 0):,}",
                     counts_line(dict(data[name].most_common(6)))])  # fmt: skip
    s.summary = {k: dict(v) for k, v in data.items()}
    s.add(
        stacked_barh(data, "tokens", "Tokens per dataset, by source"),
        table(["dataset", "documents", "tokens", "largest sources"], body),
    )
