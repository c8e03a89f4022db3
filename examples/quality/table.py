"""The choice of the quality classifier: embedder x label set x model, in one table.

For each embedder the labelled files' views are embedded once (cached under OUT; the
caches of ``precompute.py`` are reused), then each label set (a label rule over one
annotation run: ``judge``, the judge's own verdicts; ``top:F``, the share F with the highest
P(high)) and each model is trained by ``phi1 classifier train`` (the same seeded 80/20
split every time) and measured:

- **cv**: 5-fold cross-validated ROC-AUC against the judge on the training part: what the
  default is chosen by;
- **held-out**: ROC-AUC against the judge on the 20% that no model saw, fitted or chosen on;
- **sanity**: ROC-AUC on tests/assets/quality_sanity (20 educational, 20 boilerplate files
  written for phi1): reported, never used to choose;
- **files/s**: view + embedding + model over the first 100 standard-library files (the
  embedding timed once per embedder, each model's scoring added), on the machine as it is.

    PYTHONPATH=src python examples/quality/table.py runs/quality/annotations \
        --out runs/quality/table --embedders hash minilm code qwen2.5-coder-0.5b-instruct \
        --models forest logistic boosted --label-rules judge top:0.5 > examples/quality/table.md
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from phi1.data.classifier import ClassifierSettings, QualityClassifier, train_classifier
from phi1.data.readers import read_source

SANITY = Path(__file__).resolve().parents[2] / "tests" / "assets" / "quality_sanity"


def cv_auc(clf: QualityClassifier, X: np.ndarray, y: np.ndarray, settings) -> float:
    """5-fold ROC-AUC of the classifier's model kind on its own training part."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from phi1.data.classifier import build_model

    folds = StratifiedKFold(5, shuffle=True, random_state=settings.seed)
    model = build_model(settings, int(len(y) * 0.8))
    return float(cross_val_score(model, X, y, cv=folds, scoring="roc_auc").mean())


def labels_of(folder: Path, ids: list[str], rule: str) -> np.ndarray:
    from phi1.data.annotate import load_annotations
    from phi1.data.classifier import apply_label_rule

    annotations, _ = load_annotations(folder)
    annotations = sorted(annotations, key=lambda a: a["id"])
    y, _ = apply_label_rule(annotations, rule, where=str(folder))
    by_id = dict(zip([a["id"] for a in annotations], y, strict=True))
    return np.array([by_id[i] for i in ids])


def embed_seconds(clf: QualityClassifier, texts: list[str]) -> tuple[float, np.ndarray]:
    """Seconds to read and embed ``texts`` through the classifier's view (model loaded)."""
    clf.embed(texts[:1])
    t0 = time.perf_counter()
    X = clf.embed(texts)
    return time.perf_counter() - t0, X


def model_seconds(clf: QualityClassifier, X: np.ndarray) -> float:
    t0 = time.perf_counter()
    clf.score_embeddings(X)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("annotations")
    ap.add_argument("--out", required=True)
    ap.add_argument("--embedders", nargs="+", required=True)
    ap.add_argument("--models", nargs="+", default=["forest", "logistic", "boosted"])
    ap.add_argument("--label-rules", nargs="+", default=[ClassifierSettings.label_rule])
    ap.add_argument("--speed-files", type=int, default=100)
    args = ap.parse_args()
    ann, out = Path(args.annotations), Path(args.out)
    sanity = list(read_source(f"sanity=dir:{SANITY}"))
    edu = np.array([r["meta"]["path"].startswith("educational/") for r in sanity])
    stdlib = [r["text"] for r in itertools.islice(read_source("stdlib"), args.speed_files)]
    print(f"annotations {ann}\n")
    head = ("embedder", "labels", "model", "cv ROC-AUC", "held-out ROC-AUC", "sanity ROC-AUC",
            "files/s")  # fmt: skip
    print("| " + " | ".join(head) + " |\n" + "|---" * len(head) + "|")
    rows = []
    for spec in args.embedders:
        embedded = None
        for rule, model in itertools.product(args.label_rules, args.models):
            row, embedded = measure(ann, out, spec, rule, model, (sanity, edu, stdlib), embedded)
            rows.append(row)
            print(f"| {spec} | {rule} | {model} | {row['cv']:.3f} | {row['held_out']:.3f} | "
                  f"{row['sanity']:.3f} | {row['files_per_s']:.1f} |", flush=True)  # fmt: skip
    best = max(rows, key=lambda r: (round(r["cv"], 3), r["files_per_s"]))
    print(f"\nbest by cv ROC-AUC: {best['embedder']} + {best['label_rule']} + {best['model']}")
    (out / "table.json").write_text(json.dumps(rows, indent=1))


def measure(
    ann: Path, out: Path, spec: str, rule: str, model: str, sets: tuple, embedded: tuple | None
) -> tuple[dict, tuple]:
    """Train one row's classifier and measure it; ``embedded``: the speed set's embedding
    time and rows for this embedder, once measured."""
    from sklearn.metrics import roc_auc_score

    sanity, edu, stdlib = sets
    name = spec.replace(":", "_").replace("/", "_")
    folder = out / f"{name}-{model}-{rule.replace(':', '')}"
    seed = next((f / "embeddings.npz" for f in sorted(out.glob(f"{name}-*"))
                 if (f / "embeddings.npz").exists()), None)  # fmt: skip
    if seed is not None and not (folder / "embeddings.npz").exists():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(seed, folder / "embeddings.npz")  # a superset of the labelled ids is reused
    s = replace(ClassifierSettings(), embedder=spec, model=model, label_rule=rule)
    report = train_classifier(ann, folder, s)
    clf = QualityClassifier.load(folder)
    test = set(report["test_ids"])
    ids = sorted(set(labels_ids(ann)))
    data = np.load(folder / "embeddings.npz")
    row_of = {str(i): n for n, i in enumerate(data["ids"])}
    X = data["X"][[row_of[i] for i in ids]]
    train = np.array([i not in test for i in ids])
    y = labels_of(ann, ids, rule)
    cv = cv_auc(clf, X[train], y[train], s)
    sanity_auc = float(roc_auc_score(edu, clf.score([r["text"] for r in sanity])))
    if embedded is None:  # the embedder's time, once; each model's is added
        embedded = embed_seconds(clf, stdlib)
    rate = len(stdlib) / (embedded[0] + model_seconds(clf, embedded[1]))
    row = {"embedder": spec, "label_rule": rule, "model": model, "cv": cv,
           "held_out": report["metrics"]["roc_auc"], "sanity": sanity_auc, "files_per_s": rate,
           "n_labels": len(ids)}  # fmt: skip
    return row, embedded


def labels_ids(folder: Path) -> list[str]:
    from phi1.data.annotate import load_annotations

    return [a["id"] for a in load_annotations(folder)[0]]


if __name__ == "__main__":
    main()
