"""The quality classifier: a scikit-learn random forest from document embeddings to the
judge's labels (the paper's recipe), with held-out metrics.

``train_classifier(annotations_dir, out_dir)`` embeds the annotated sample, splits it
(stratified, seeded), fits the forest on the training part, reports precision, recall, F1,
ROC-AUC and the confusion matrix on the held-out part ("high" is the positive class), and
saves ``model.joblib`` with ``classifier.json`` (embedder identity, settings, metrics, the
model file's sha256). :class:`QualityClassifier` loads it, checks the file hash, and refuses
to score with an embedder whose identity differs from the one it was trained on.

``model.joblib`` is a pickle: load only classifiers you made or trust.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from phi1.errors import Phi1Error
from phi1.io import atomic_write_json, read_json, sha256_file
from phi1.llm.embed import Embedder, check_identity, load_embedder

LABELS = ("low", "high")  # class 1 = high = educational
MODEL_FILE, META_FILE = "model.joblib", "classifier.json"


@dataclass(frozen=True)
class ClassifierSettings:
    """How the classifier is trained; ``phi1 classifier train`` takes it as ``classifier:``."""

    embedder: str = "minilm"
    """Embedder spec: minilm, hf:PATH, phi1:DIR, gguf:PATH."""
    max_chunks: int = 4
    """Windows embedded per document."""
    n_estimators: int = 300
    """Trees in the forest."""
    max_depth: int | None = None
    """Tree depth limit (None: grow until pure)."""
    min_samples_leaf: int = 1
    """Smallest leaf."""
    class_weight: str | None = "balanced"
    """"balanced" reweights the rarer label; None weighs every example the same."""
    test_size: float = 0.2
    """Held-out share of the labelled documents."""
    seed: int = 0
    """Seed of the split and of the forest."""
    batch_size: int = 32
    """Documents per embedding batch."""
    label_rule: str = "judge"
    """judge: the judge's labels; top:F: the share F of documents with the judge's highest
    scores are "high", the rest "low" (for weak judges whose labels are nearly all the same
    but whose scores still rank; see annotate.method logprob)."""

    def __post_init__(self) -> None:
        label_top_fraction(self.label_rule)  # validates
        if not 0.0 < self.test_size < 1.0:
            raise Phi1Error(f"test_size must be in (0, 1), got {self.test_size}")
        if self.n_estimators < 1:
            raise Phi1Error(f"n_estimators must be >= 1, got {self.n_estimators}")


def train_classifier(
    annotations_dir: str | Path, out_dir: str | Path, settings: ClassifierSettings | None = None
) -> dict[str, Any]:
    """Train, evaluate and save; returns the report (``text`` holds the printable summary)."""
    from phi1.data.annotate import load_annotations

    s = settings or ClassifierSettings()
    annotations, docs = load_annotations(annotations_dir)
    if not annotations:
        raise Phi1Error(f"{annotations_dir}: no annotations yet (run phi1 annotate first)")
    annotations = sorted(annotations, key=lambda a: a["id"])
    y, cut = apply_label_rule(annotations, s.label_rule, where=str(annotations_dir))
    counts = {lab: int((y == i).sum()) for i, lab in enumerate(LABELS)}
    missing = [lab for lab, c in counts.items() if c == 0]
    if missing:
        raise Phi1Error(
            f"{annotations_dir}: all {len(y)} labels are {LABELS[int(y[0])]!r}; the classifier "
            f"needs examples of both classes (annotate more documents or use another judge)"
        )
    if min(counts.values()) < 2:
        raise Phi1Error(
            f"{annotations_dir}: only {min(counts.values())} {min(counts, key=counts.get)!r} "
            f"label; a held-out split needs at least 2 of each class"
        )
    embedder = load_embedder(s.embedder, max_chunks=s.max_chunks)
    t0 = time.monotonic()
    X = embed_cached(embedder, [docs[a["id"]]["text"] for a in annotations],
                     [a["id"] for a in annotations], Path(out_dir), s.batch_size)  # fmt: skip
    embed_s = time.monotonic() - t0
    forest, metrics, split = _fit_and_evaluate(X, y, s)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    import joblib
    import sklearn

    joblib.dump(forest, out / MODEL_FILE)
    meta = {
        "kind": "phi1-quality-classifier",
        "embedder": embedder.identity(),
        "embedder_spec": s.embedder,
        "labels": list(LABELS),
        "positive": "high",
        "settings": asdict(s),
        "sklearn": sklearn.__version__,
        "annotations": str(annotations_dir),
        "label_counts": counts,
        "label_rule": s.label_rule,
        "label_score_cut": cut,
        "n_train": int(len(split[0])),
        "n_test": int(len(split[1])),
        "test_ids": [annotations[i]["id"] for i in split[1]],
        "metrics": metrics,
        "embed_seconds": round(embed_s, 1),
        "model_sha256": sha256_file(out / MODEL_FILE),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write_json(out / META_FILE, meta)
    return {**meta, "text": format_report(meta)}


def label_top_fraction(rule: str) -> float | None:
    """``None`` for the judge's own labels, else the F of ``top:F``."""
    if rule == "judge":
        return None
    kind, _, value = rule.partition(":")
    try:
        fraction = float(value)
    except ValueError:
        fraction = -1.0
    if kind != "top" or not 0.0 < fraction < 1.0:
        raise Phi1Error(f"label_rule must be 'judge' or 'top:F' with 0 < F < 1, got {rule!r}")
    return fraction


def apply_label_rule(
    annotations: list[dict], rule: str, *, where: str
) -> tuple[np.ndarray, float | None]:
    """Labels as class indices (1 = high), and the score cut for ``top:F``."""
    fraction = label_top_fraction(rule)
    if fraction is None:
        return np.array([LABELS.index(a["label"]) for a in annotations]), None
    missing = [a["id"] for a in annotations if not isinstance(a.get("score"), (int, float))]
    if missing:
        raise Phi1Error(
            f"{where}: label_rule {rule} needs a score on every annotation; {len(missing)} "
            f"have none (first: {missing[0]!r})"
        )
    order = sorted(range(len(annotations)), key=lambda i: (-annotations[i]["score"],
                                                           annotations[i]["id"]))  # fmt: skip
    k = max(1, int(round(fraction * len(annotations))))
    y = np.zeros(len(annotations), dtype=int)
    y[order[:k]] = 1
    return y, float(annotations[order[k - 1]]["score"])


def embed_cached(
    embedder: Embedder, texts: list[str], ids: list[str], folder: Path, batch_size: int = 32
) -> np.ndarray:
    """Embeddings of ``texts``, reusing ``folder/embeddings.npz`` when the embedder and ids
    match (retraining with other forest settings skips the slow part)."""
    cache = folder / "embeddings.npz"
    ident = embedder.identity()["sha256"]
    if cache.exists():
        try:
            data = np.load(cache, allow_pickle=False)
            if str(data["identity"]) == ident and list(data["ids"]) == ids:
                return data["X"]
        except (OSError, KeyError, ValueError):
            pass  # a damaged or foreign cache is recomputed
    X = embedder.embed(texts, batch_size=batch_size)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".embeddings.tmp.npz"
    np.savez(tmp, X=X, ids=np.array(ids), identity=np.array(ident))
    tmp.replace(cache)
    return X


def _fit_and_evaluate(
    X: np.ndarray, y: np.ndarray, s: ClassifierSettings
) -> tuple[Any, dict, tuple]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    n_test = max(int(round(s.test_size * len(y))), 2)
    if len(y) - n_test < 2:
        raise Phi1Error(f"{len(y)} labelled documents are too few for a held-out split")
    train, test = train_test_split(idx, test_size=n_test, stratify=y, random_state=s.seed)
    forest = RandomForestClassifier(
        n_estimators=s.n_estimators, max_depth=s.max_depth, min_samples_leaf=s.min_samples_leaf,
        class_weight=s.class_weight, random_state=s.seed, n_jobs=1,
    )  # fmt: skip
    forest.fit(X[train], y[train])
    prob = forest.predict_proba(X[test])[:, list(forest.classes_).index(1)]
    pred = (prob >= 0.5).astype(int)
    yt = y[test]
    cm = confusion_matrix(yt, pred, labels=[0, 1])
    metrics = {
        "precision": float(precision_score(yt, pred, zero_division=0)),
        "recall": float(recall_score(yt, pred, zero_division=0)),
        "f1": float(f1_score(yt, pred, zero_division=0)),
        "roc_auc": float(roc_auc_score(yt, prob)) if len(set(yt.tolist())) == 2 else None,
        "accuracy": float(accuracy_score(yt, pred)),
        "majority_baseline": float(max(yt.mean(), 1 - yt.mean())),
        "confusion_matrix": {"labels": list(LABELS), "rows_true_cols_pred": cm.tolist()},
        "threshold": 0.5,
        "test_positive_share": float(yt.mean()),
    }
    return forest, metrics, (train, test)


def format_report(meta: dict[str, Any]) -> str:
    m = meta["metrics"]
    (tn, fp), (fn, tp) = m["confusion_matrix"]["rows_true_cols_pred"]
    auc = "n/a" if m["roc_auc"] is None else f"{m['roc_auc']:.3f}"
    lines = [
        f"quality classifier: random forest ({meta['settings']['n_estimators']} trees) on "
        f"{meta['embedder']['name']} embeddings (dim {meta['embedder']['dim']})",
        f"labels: {meta['label_counts']['high']} high, {meta['label_counts']['low']} low; "
        f"train {meta['n_train']}, held out {meta['n_test']}",
        f"held-out metrics (positive = high, threshold 0.5): precision {m['precision']:.3f}  "
        f"recall {m['recall']:.3f}  F1 {m['f1']:.3f}  ROC-AUC {auc}  accuracy "
        f"{m['accuracy']:.3f} (majority baseline {m['majority_baseline']:.3f})",
        "confusion matrix (rows = true, columns = predicted):",
        "              pred low  pred high",
        f"  true low   {tn:>8}  {fp:>9}",
        f"  true high  {fn:>8}  {tp:>9}",
    ]
    return "\n".join(lines)


class QualityClassifier:
    """A trained classifier: ``score(texts)`` -> probability of "high" per text."""

    def __init__(self, folder: str | Path, meta: dict[str, Any], model: Any) -> None:
        self.folder, self.meta, self.model = Path(folder), meta, model
        self._embedder: Embedder | None = None

    @classmethod
    def load(cls, folder: str | Path) -> QualityClassifier:
        folder = Path(folder)
        meta_path, model_path = folder / META_FILE, folder / MODEL_FILE
        if not meta_path.exists() or not model_path.exists():
            raise Phi1Error(
                f"{folder}: not a classifier directory (needs {META_FILE} and {MODEL_FILE}; "
                f"run phi1 classifier train)"
            )
        meta = read_json(meta_path)
        if meta.get("kind") != "phi1-quality-classifier":
            raise Phi1Error(f"{meta_path}: not a phi1 quality classifier")
        if sha256_file(model_path) != meta.get("model_sha256"):
            raise Phi1Error(f"{model_path}: sha256 differs from {META_FILE}; retrain or restore it")
        import joblib

        return cls(folder, meta, joblib.load(model_path))

    @property
    def sha256(self) -> str:
        return self.meta["model_sha256"]

    def embedder(self, spec: str | None = None) -> Embedder:
        """The embedder this classifier was trained with (checked), loaded lazily."""
        if self._embedder is None:
            settings = self.meta["settings"]
            emb = load_embedder(spec or self.meta["embedder_spec"],
                                max_chunks=settings["max_chunks"])  # fmt: skip
            self.check_embedder(emb)
            self._embedder = emb
        return self._embedder

    def check_embedder(self, embedder: Embedder) -> None:
        check_identity(self.meta["embedder"], embedder, what=f"classifier {self.folder}")

    def score_embeddings(self, X: np.ndarray) -> np.ndarray:
        expected = self.meta["embedder"]["dim"]
        if X.ndim != 2 or X.shape[1] != expected:
            raise Phi1Error(f"classifier {self.folder}: expects {expected}-dim embeddings, "
                            f"got shape {X.shape}")  # fmt: skip
        if len(X) == 0:
            return np.zeros(0, dtype=np.float32)
        classes = list(self.model.classes_)
        return self.model.predict_proba(X)[:, classes.index(1)].astype(np.float32)

    def score(
        self, texts: list[str], *, embedder: Embedder | None = None, batch_size: int = 32
    ) -> np.ndarray:
        """Probability that each text is "high" (educational)."""
        emb = embedder if embedder is not None else self.embedder()
        if embedder is not None:
            self.check_embedder(embedder)
        return self.score_embeddings(emb.embed(texts, batch_size=batch_size))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_embedder"] = None
        return state
