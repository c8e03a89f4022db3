"""Which embedder and model learn the judge in a way that carries to other code: ROC-AUC
against the judge cross-validated two ways, beside the sanity set.

- **cv**: 5 stratified random folds over the labelled files;
- **grouped cv**: 5 folds grouped by package (source and first path component: ``numpy``,
  ``torch``, ``stdlib:json``...), so no package is on both sides of a fold. Files of one
  package share headers, idioms and layout; a model that learns a package's look scores
  well on random folds and not on a package it has not seen. The default is chosen by this
  column;
- **sanity**: ROC-AUC on tests/assets/quality_sanity (20 educational, 20 boilerplate files
  written for phi1), trained on every label; reported, never used to choose.

Embeddings come from the caches of ``precompute.py`` (``CACHE/<embedder>-forest/
embeddings.npz``); the sanity set's are made once and kept beside them. The logistic
regressions use fixed strengths (C) so that the table is quick; ``phi1 classifier train``
chooses C by cross-validation on its training part.

    PYTHONPATH=src python examples/quality/grouped_cv.py runs/quality/ann15 \
        --cache runs/quality/t1000 --embedders qwen2.5-coder-0.5b-instruct@last \
        qwen2.5-coder-0.5b-instruct hash+code hash code
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from phi1.data.annotate import load_annotations, view_rule
from phi1.data.classifier import ClassifierSettings, apply_view, build_model
from phi1.data.readers import read_source
from phi1.llm.embed import load_embedder

SANITY = Path(__file__).resolve().parents[2] / "tests" / "assets" / "quality_sanity"


def models() -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def logistic(c: float):
        return lambda: make_pipeline(
            StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
        )

    forest = replace(ClassifierSettings(), model="forest")
    out = {"forest": lambda: build_model(forest, 800)}
    out.update({f"logistic C={c:g}": logistic(c) for c in (0.01, 0.1, 1.0)})
    return out


def embeddings(cache: Path, spec: str, ids: list[str], sanity_views: list[str]) -> tuple:
    """(X of ``ids``, X of the sanity set) for one embedder."""
    data = np.load(cache / f"{spec}-forest" / "embeddings.npz")
    row = {str(i): n for n, i in enumerate(data["ids"])}
    missing = [i for i in ids if i not in row]
    if missing:
        raise SystemExit(f"{cache}/{spec}-forest: {len(missing)} labelled files not embedded")
    sanity_file = cache / f"sanity-{spec}.npy"
    if not sanity_file.exists():
        np.save(sanity_file, load_embedder(spec).embed(sanity_views))
    return data["X"][[row[i] for i in ids]], np.load(sanity_file)


def out_of_fold(make, X: np.ndarray, y: np.ndarray, splits) -> np.ndarray:
    scores = np.zeros(len(y))
    for train, test in splits:
        model = make().fit(X[train], y[train])
        scores[test] = model.predict_proba(X[test])[:, 1]
    return scores


def main() -> None:
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("annotations")
    ap.add_argument("--cache", required=True)
    ap.add_argument("--embedders", nargs="+", required=True)
    ap.add_argument("--max-chars", type=int, default=1000, help="the judge's view")
    args = ap.parse_args()
    annotations, _ = load_annotations(args.annotations)
    annotations = sorted(annotations, key=lambda a: a["id"])
    ids = [a["id"] for a in annotations]
    y = np.array([a["label"] == "high" for a in annotations], dtype=int)
    groups = [f"{a['meta']['source']}:{a['meta']['path'].split('/')[0]}" for a in annotations]
    sanity = list(read_source(f"sanity=dir:{SANITY}"))
    edu = np.array([r["meta"]["path"].startswith("educational/") for r in sanity])
    view = view_rule(args.max_chars, True)
    sanity_views = [apply_view(r["text"], view) for r in sanity]
    print(f"{len(y)} labels ({y.sum()} high), {len(set(groups))} packages\n")
    print("| embedder | model | cv ROC-AUC | grouped cv ROC-AUC | sanity ROC-AUC |")
    print("|---|---|---|---|---|")
    random_folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(ids, y))
    package_folds = list(GroupKFold(5).split(ids, y, groups))
    for spec in args.embedders:
        X, S = embeddings(Path(args.cache), spec, ids, sanity_views)
        for name, make in models().items():
            cv = roc_auc_score(y, out_of_fold(make, X, y, random_folds))
            grouped = roc_auc_score(y, out_of_fold(make, X, y, package_folds))
            sanity_auc = roc_auc_score(edu, make().fit(X, y).predict_proba(S)[:, 1])
            print(f"| {spec} | {name} | {cv:.3f} | {grouped:.3f} | {sanity_auc:.3f} |",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
